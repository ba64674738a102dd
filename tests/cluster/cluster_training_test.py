#!/usr/bin/env python3
"""Multi-process test: real adamasync-server and adamasync-worker processes
on loopback, started by scripts/local_cluster.py, train softmax regression on
Fashion-MNIST. Every worker must exit 0 with a final line
`final test_accuracy=X` where X >= the required accuracy, and every server
must stop cleanly (exit 0) on SIGTERM.

  cluster_training_test.py BUILD_DIR [--shards=2 --workers=2 --min_accuracy=0.80]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build_dir")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min_accuracy", type=float, default=0.80)
    argv = sys.argv[1:]
    worker_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)

    log_dir = tempfile.mkdtemp(prefix="adamasync-cluster-test-")
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "local_cluster.py"),
           f"--shards={args.shards}", f"--workers={args.workers}",
           f"--build_dir={args.build_dir}", f"--log_dir={log_dir}", "--"] + worker_args
    print("running:", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=900)
    print(result.stdout)
    failures = []
    if result.returncode != 0:
        failures.append(f"launcher exited {result.returncode}")
    finals = re.findall(r"^cluster: worker (\d+) exit=(\d+): final test_accuracy=([0-9.]+)",
                        result.stdout, re.M)
    if len(finals) != args.workers:
        failures.append(f"expected {args.workers} final lines, found {len(finals)}")
    for worker, code, accuracy in finals:
        if int(code) != 0:
            failures.append(f"worker {worker} exited {code}")
        if float(accuracy) < args.min_accuracy:
            failures.append(f"worker {worker} test_accuracy {accuracy} < {args.min_accuracy}")
    for shard in range(args.shards):
        if f"cluster: server {shard} exit=0" not in result.stdout:
            failures.append(f"server {shard} did not exit 0 on SIGTERM")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"PASSED: {len(finals)} workers, accuracies {[a for _, _, a in finals]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
