#!/usr/bin/env bash
# Configures and builds AdamAsync into build/ (or $BUILD_DIR) with Ninja.
# Extra arguments go to CMake's configure step, e.g. -DADAMASYNC_ENABLE_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} \
  -DADAMASYNC_BUILD_TESTS=ON -U ADAMASYNC_TEST_DIRS "$@"
cmake --build "$BUILD_DIR" -j "$(nproc)"
