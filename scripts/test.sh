#!/usr/bin/env bash
# Installs dependencies, builds everything and runs every test (ctest).
# Also builds the server and kernel tests without CUDA, so that
# configuration keeps working.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh

echo "== CPU-only build (-DADAMASYNC_ENABLE_CUDA=OFF) =="
cmake -S . -B build-nocuda -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DADAMASYNC_ENABLE_CUDA=OFF -DADAMASYNC_BUILD_TESTS=ON -U ADAMASYNC_TEST_DIRS >/dev/null
cmake --build build-nocuda -j "$(nproc)" --target adamasync-server adam_cpu_test adam_cuda_test
ctest --test-dir build-nocuda -R '^adam_c(pu|uda)_test$' --output-on-failure

# --- Python SDK (worker/python, tests/python; see docs/python.md) ---------
# Its result is reported after ctest, so that ctest's summary stays last.
echo "== Python tests (scripts/test_python.sh) =="
python_status=0
./scripts/test_python.sh || python_status=$?
# -------------------------------------------------------------------------

# --- Security: fuzzing and sanitizers (docs/security.md) ----------------
# Reported after ctest too, so that ctest's summary stays last.
security_status=0
echo "== Fuzzing, ${FUZZ_SECONDS:-30} s per target (scripts/fuzz.sh) =="
FUZZ_SECONDS=${FUZZ_SECONDS:-30} ./scripts/fuzz.sh || security_status=$?
echo "== Sanitizers: ASan+UBSan, TSan (scripts/sanitize.sh) =="
./scripts/sanitize.sh || security_status=$?
# -------------------------------------------------------------------------

echo "== Tests =="
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600
if [ "$security_status" -ne 0 ]; then
  echo "Fuzzing or sanitizer tests FAILED (scripts/fuzz.sh, scripts/sanitize.sh; see above)"
  exit 1
fi
if [ "$python_status" -ne 0 ]; then
  echo "Python tests FAILED (scripts/test_python.sh exit $python_status)"
  exit 1
fi
