#!/usr/bin/env bash
# The main job: installs dependencies, builds the server and worker, then
# trains the MLP (784-256-128-10) on Fashion-MNIST with 2 shard servers and
# 4 asynchronous workers on loopback, printing progress (worker 0 also
# evaluates on the test set every 5 s) and each worker's final test accuracy.
# About a minute of training on 2 cores; expect 88-89% test accuracy
# (docs/benchmarks.md, "Training on Fashion-MNIST"). Ctrl-C stops everything
# it started. Extra arguments go to every worker and override the defaults
# below (e.g. ./scripts/demo.sh --epochs=5, or --sync, or --model=softmax).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target adamasync-server adamasync-worker
exec python3 scripts/local_cluster.py --shards=2 --workers=4 --build_dir=build \
  --worker_flags="0:--eval_interval_s=5" -- \
  --model=mlp --hidden=256,128 --epochs=15 --batch_size=64 --lr=0.001 "$@"
