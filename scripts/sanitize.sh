#!/usr/bin/env bash
# Builds the C++ tests with sanitizers and runs them (docs/security.md):
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer: the unit,
#                kernel, server, security tests and the fuzz corpus replays;
#   build-tsan/  ThreadSanitizer: the concurrency tests (ctest -L service,
#                the consistency tests, the CUDA backend's lanes on the fake
#                runtime, the worker's metrics).
# CPU-only (-DADAMASYNC_ENABLE_CUDA=OFF), and only the test targets needed,
# to stay within CI's time. Times are printed per phase.
#
#   scripts/sanitize.sh            # both
#   scripts/sanitize.sh asan       # one
set -euo pipefail
cd "$(dirname "$0")/.."
KINDS=("$@")
[ ${#KINDS[@]} -gt 0 ] || KINDS=(asan tsan)
JOBS=$(nproc)

# configure DIR FLAGS TEST_DIRS [EXTRA_LINK_FLAGS]
configure() {
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DADAMASYNC_ENABLE_CUDA=OFF \
    -DADAMASYNC_BUILD_TESTS=ON -DADAMASYNC_TEST_DIRS="$3" \
    -DCMAKE_C_FLAGS="$2" -DCMAKE_CXX_FLAGS="$2" -DCMAKE_EXE_LINKER_FLAGS="$2 ${4:-}" >/dev/null
}

# The executables of the tests `ctest -R INCLUDE -E EXCLUDE` would run in
# DIR: a test is named after its executable, except the fuzz corpus replays
# (fuzz_<target>_corpus_test runs <target>_replay).
targets_matching() {
  ctest --test-dir "$1" -N -R "$2" -E "$3" | sed -n 's/^ *Test *#[0-9]*: *//p' |
    sed -E 's/^fuzz_(.*)_corpus_test$/\1_replay/'
}

for kind in "${KINDS[@]}"; do
  start=$(date +%s)
  case "$kind" in
    asan)
      dir=build-asan
      configure "$dir" "-fsanitize=address,undefined -fno-sanitize-recover=undefined \
-fno-omit-frame-pointer" "common;kernels;server;security"
      # Python and GPU tests are not C++ under test here.
      include='.'
      exclude='daemon_security_test|adam_cuda_test|deploy_'
      export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
      export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
      ;;
    tsan)
      dir=build-tsan
      # Debian's abseil is not built with TSan: every test links, ahead of
      # libabsl, annotations of its Mutex/CondVar/Notification
      # (tests/sanitizers/absl_tsan_shim.cc), or every absl::Mutex-guarded
      # access would be reported as a race.
      mkdir -p "$dir"
      shim="$PWD/$dir/libabsl_tsan_shim.so"
      g++ -std=c++17 -shared -fPIC -O1 -fsanitize=thread tests/sanitizers/absl_tsan_shim.cc \
        -o "$shim" -ldl $(pkg-config --libs absl_synchronization)
      configure "$dir" "-fsanitize=thread -fno-omit-frame-pointer" "server;security;worker" \
        "-Wl,--no-as-needed $shim -Wl,--as-needed"
      # The server's concurrency tests, the CUDA backend's lane pool (on the
      # fake runtime), a failing device under load, and the worker's metrics
      # fed from gRPC callback threads.
      include='service_test|service_consistency_test|consistency_test|table_part_test|worker_registry_test|metrics_test|service_security_test|auth_test|cuda_part_state_fake_test|device_test|worker_metrics_test'
      exclude='daemon_security_test'
      # gRPC and protobuf are not instrumented either: their memcpy/free calls
      # (intercepted) would race with accesses TSan cannot order.
      export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1 suppressions=$PWD/tests/sanitizers/tsan_suppressions.txt"
      ;;
    *)
      echo "sanitize: unknown kind '$kind' (asan or tsan)" >&2
      exit 2
      ;;
  esac
  mapfile -t targets < <(targets_matching "$dir" "$include" "$exclude")
  echo "== sanitize $kind: building ${#targets[@]} test targets in $dir =="
  cmake --build "$dir" -j "$JOBS" --target "${targets[@]}"
  built=$(date +%s)
  echo "== sanitize $kind: running =="
  ctest --test-dir "$dir" -R "$include" -E "$exclude" --output-on-failure -j "$JOBS" \
    --timeout 900
  echo "sanitize $kind: build $((built - start)) s, tests $(($(date +%s) - built)) s"
done
