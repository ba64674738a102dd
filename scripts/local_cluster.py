#!/usr/bin/env python3
"""Runs an AdamAsync cluster on loopback: S shard servers and W workers.

Each server listens on a free port (it picks one and writes it to a port
file); workers get the resulting --servers list. Every line a process prints
is shown with a [server i] / [worker i] prefix and also kept in
LOG_DIR/<name>.log. The launcher waits for the workers, prints each one's
final line, then stops the servers. On exit, error or Ctrl-C it stops
everything it started.

  scripts/local_cluster.py --shards=2 --workers=2 -- --epochs=2

Arguments after "--" go to every worker. Exit status: 0 when every worker
exited 0, else 1.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--log_dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--server_args", default="", help="extra flags for every server")
    parser.add_argument("--start_timeout_s", type=float, default=30)
    parser.add_argument("worker_args", nargs="*", help="flags for every worker (after --)")
    return parser.parse_args()


class Cluster:
    def __init__(self, args):
        self.args = args
        self.log_dir = args.log_dir or tempfile.mkdtemp(prefix="adamasync-cluster-")
        os.makedirs(self.log_dir, exist_ok=True)
        self.processes = []  # (name, Popen, pump thread)
        self.print_lock = threading.Lock()

    def _pump(self, name, proc, log_path, last_line):
        with open(log_path, "w") as log:
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                last_line[0] = line
                with self.print_lock:
                    print(f"[{name}] {line}", flush=True)

    def start(self, name, argv):
        # A new session per child, so Ctrl-C in the terminal reaches only the
        # launcher, which then stops the children in order.
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        last_line = [""]
        pump = threading.Thread(target=self._pump,
                                args=(name, proc, os.path.join(self.log_dir, name + ".log"),
                                      last_line), daemon=True)
        pump.start()
        self.processes.append((name, proc, pump, last_line))
        return proc

    def start_servers(self):
        server_bin = os.path.join(self.args.build_dir, "server", "adamasync-server")
        port_files = []
        for i in range(self.args.shards):
            port_file = os.path.join(self.log_dir, f"server{i}.port")
            port_files.append(port_file)
            argv = [server_bin, "--listen=127.0.0.1:0", f"--shard_index={i}",
                    f"--num_shards={self.args.shards}", f"--port_file={port_file}"]
            argv += self.args.server_args.split()
            self.start(f"server {i}", argv)
        deadline = time.time() + self.args.start_timeout_s
        addresses = []
        for i, port_file in enumerate(port_files):
            while not os.path.exists(port_file):
                proc = self.processes[i][1]
                if proc.poll() is not None:
                    raise RuntimeError(f"server {i} exited with {proc.returncode} before serving")
                if time.time() > deadline:
                    raise RuntimeError(f"server {i} did not start within "
                                       f"{self.args.start_timeout_s} s")
                time.sleep(0.05)
            with open(port_file) as f:
                addresses.append(f"127.0.0.1:{f.read().strip()}")
        return addresses

    def run_workers(self, addresses):
        worker_bin = os.path.join(self.args.build_dir, "worker", "adamasync-worker")
        workers = []
        for i in range(self.args.workers):
            argv = [worker_bin, f"--servers={','.join(addresses)}", f"--worker_index={i}",
                    f"--num_workers={self.args.workers}"] + self.args.worker_args
            workers.append((i, self.start(f"worker {i}", argv), self.processes[-1]))
        ok = True
        finals = []
        for i, proc, (_, _, pump, last_line) in workers:
            code = proc.wait()
            pump.join(timeout=5)
            finals.append((i, code, last_line[0]))
            ok = ok and code == 0
        return ok, finals

    def stop_all(self):
        for name, proc, _, _ in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc, pump, _ in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            pump.join(timeout=2)
            if name.startswith("server"):
                print(f"cluster: {name} exit={proc.returncode}", flush=True)


def main():
    args = parse_args()
    cluster = Cluster(args)
    # SIGTERM behaves like Ctrl-C: stop everything, exit non-zero.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.time()
    try:
        addresses = cluster.start_servers()
        print(f"cluster: {args.shards} shards at {','.join(addresses)}; "
              f"{args.workers} workers; logs in {cluster.log_dir}", flush=True)
        ok, finals = cluster.run_workers(addresses)
        print(f"cluster: workers done in {time.time() - started:.1f} s", flush=True)
        for i, code, line in finals:
            print(f"cluster: worker {i} exit={code}: {line}", flush=True)
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("cluster: interrupted, stopping everything", flush=True)
        return 130
    except Exception as e:  # noqa: BLE001 - report any launcher failure plainly
        print(f"cluster: error: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        cluster.stop_all()


if __name__ == "__main__":
    sys.exit(main())
