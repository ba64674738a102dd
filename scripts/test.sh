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

echo "== Tests =="
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600
