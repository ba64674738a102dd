#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer into build-fuzz/, and runs each for a fixed
# time starting from its seed corpus (fuzz/corpus/<target>/).
#
#   scripts/fuzz.sh                     # every target, FUZZ_SECONDS (30) each
#   FUZZ_SECONDS=3600 scripts/fuzz.sh request   # a long run of one target
#
# New interesting inputs go to build-fuzz/corpus/<target>/ (not the
# repository). A crash stops the script with exit 1 and leaves the input in
# build-fuzz/artifacts/; fix the bug, then copy the input into
# fuzz/corpus/<target>/ so the corpus replay test (ctest -L fuzz) keeps it
# fixed. See docs/security.md.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(request checkpoint)

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS="$SAN" -DCMAKE_CXX_FLAGS="$SAN -fno-omit-frame-pointer" \
  -DADAMASYNC_ENABLE_CUDA=OFF -DADAMASYNC_BUILD_TESTS=OFF -DADAMASYNC_FUZZING=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${TARGETS[@]/%/_fuzzer}"

mkdir -p "$BUILD_DIR/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for target in "${TARGETS[@]}"; do
  corpus="$BUILD_DIR/corpus/$target"
  mkdir -p "$corpus"
  echo "== fuzz: $target for ${FUZZ_SECONDS}s =="
  # -max_len: records of the request target reach a few KB; checkpoints of
  # small tables too. -rss_limit_mb bounds what any input may allocate.
  if ! "$BUILD_DIR/fuzz/${target}_fuzzer" -max_total_time="$FUZZ_SECONDS" -max_len=16384 \
      -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
      -artifact_prefix="$BUILD_DIR/artifacts/$target-" "$corpus" "fuzz/corpus/$target" \
      > "$BUILD_DIR/$target.log" 2>&1; then
    tail -60 "$BUILD_DIR/$target.log"
    echo "fuzz: $target FAILED; the input is in $BUILD_DIR/artifacts/ (see docs/security.md)" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+ *DONE" \
    "$BUILD_DIR/$target.log" || true
  echo "fuzz: $target ok ($(ls "$corpus" | wc -l) inputs in its working corpus)"
done
