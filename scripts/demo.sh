#!/usr/bin/env bash
# The main job: installs dependencies, builds the server and worker, then
# trains softmax regression on Fashion-MNIST with 2 shard servers and 2
# asynchronous workers on loopback, printing progress and the final test
# accuracy. Ctrl-C stops everything it started. Extra arguments go to the
# workers (e.g. ./scripts/demo.sh --epochs=5).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target adamasync-server adamasync-worker
exec python3 scripts/local_cluster.py --shards=2 --workers=2 --build_dir=build -- "$@"
