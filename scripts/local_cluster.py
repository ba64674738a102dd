#!/usr/bin/env python3
"""Runs an AdamAsync cluster on loopback: S shard servers and W workers.

Each server listens on a free port (it picks one and writes it to a port
file); workers get the resulting --servers list, --worker_index and
--num_workers. Every line a process prints is shown with a [server i] /
[worker i] prefix and also kept in LOG_DIR/<name>.log; the PID of every
process started is appended to LOG_DIR/pids.txt ("<pid> <name>") as soon as
it starts.

The launcher waits for the workers and prints each one's final line, then
stops the servers (SIGTERM, SIGKILL after --stop_timeout_s). If a worker
fails (exits non-zero) or a server exits while workers still run, it stops
everything else at once and exits 1 naming the culprit. On Ctrl-C or SIGTERM
it stops everything and exits 130. No process it started outlives it.

  scripts/local_cluster.py --shards=2 --workers=4 -- --epochs=2
  scripts/local_cluster.py --workers=2 --worker_flags=1:--data_dir=/nope -- --epochs=1

Servers and workers get --transport_flags (default --plaintext: loopback
needs no TLS). Arguments after "--" go to every worker; --worker_flags=I:FLAGS
adds FLAGS (space-separated) to worker I only, after the common ones (the
last value of a flag wins). Exit status: 0 when every worker exited 0, 1
when one failed or the cluster could not start, 130 when interrupted.
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--log_dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--server_args", default="", help="extra flags for every server")
    parser.add_argument("--transport_flags", default="--plaintext",
                        help="flags for every server and worker choosing the transport "
                             "(default: --plaintext, unencrypted loopback; see "
                             "docs/security.md for TLS)")
    parser.add_argument("--worker_flags", action="append", default=[], metavar="I:FLAGS",
                        help="extra flags for worker I only (repeatable)")
    parser.add_argument("--start_timeout_s", type=float, default=30)
    parser.add_argument("--stop_timeout_s", type=float, default=15,
                        help="seconds a process gets to exit after SIGTERM before SIGKILL")
    parser.add_argument("--timeout_s", type=float, default=0,
                        help="stop everything and fail when the workers run longer (0: never)")
    parser.add_argument("worker_args", nargs="*", help="flags for every worker (after --)")
    args = parser.parse_args(argv)
    if args.shards < 1 or args.workers < 1:
        parser.error("--shards and --workers must be >= 1")
    per_worker = {}
    for spec in args.worker_flags:
        index, sep, flags = spec.partition(":")
        if not sep or not index.isdigit() or int(index) >= args.workers:
            parser.error(f"--worker_flags={spec}: expected I:FLAGS with 0 <= I < {args.workers}")
        per_worker.setdefault(int(index), []).extend(flags.split())
    args.per_worker = per_worker
    return args


class Failure(Exception):
    """A process of the cluster failed; the message says which and how."""


class Cluster:
    def __init__(self, args):
        self.args = args
        self.log_dir = args.log_dir or tempfile.mkdtemp(prefix="adamasync-cluster-")
        os.makedirs(self.log_dir, exist_ok=True)
        self.pids_path = os.path.join(self.log_dir, "pids.txt")
        open(self.pids_path, "w").close()
        self.processes = []  # (name, Popen, pump thread, [last line])
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
        # Ctrl-C is held back until the child is on record, so that it is
        # stopped with the others however early the interrupt comes.
        with _interrupts_deferred():
            # A new session (and process group) per child: Ctrl-C in the
            # terminal reaches only the launcher, which stops the children.
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            last_line = [""]
            pump = threading.Thread(target=self._pump,
                                    args=(name, proc, os.path.join(self.log_dir, name + ".log"),
                                          last_line), daemon=True)
            self.processes.append((name, proc, pump, last_line))
            with open(self.pids_path, "a") as f:
                f.write(f"{proc.pid} {name}\n")
            pump.start()
        return proc

    def start_servers(self):
        server_bin = os.path.join(self.args.build_dir, "server", "adamasync-server")
        port_files = []
        for i in range(self.args.shards):
            port_file = os.path.join(self.log_dir, f"server{i}.port")
            if os.path.exists(port_file):  # from an earlier run in this log dir
                os.remove(port_file)
            port_files.append(port_file)
            argv = [server_bin, "--listen=127.0.0.1:0", f"--shard_index={i}",
                    f"--num_shards={self.args.shards}", f"--port_file={port_file}"]
            argv += self.args.transport_flags.split() + self.args.server_args.split()
            self.start(f"server {i}", argv)
        deadline = time.time() + self.args.start_timeout_s
        addresses = []
        for i, port_file in enumerate(port_files):
            while not os.path.exists(port_file):
                proc = self.processes[i][1]
                if proc.poll() is not None:
                    raise Failure(f"server {i} exited with {proc.returncode} before serving "
                                  f"(log: {self.log_dir}/server {i}.log)")
                if time.time() > deadline:
                    raise Failure(f"server {i} did not start within "
                                  f"{self.args.start_timeout_s} s")
                time.sleep(0.05)
            with open(port_file) as f:
                addresses.append(f"127.0.0.1:{f.read().strip()}")
        return addresses

    def run_workers(self, addresses):
        """Starts the workers and waits for all of them; raises Failure as soon
        as one fails, a server dies, or --timeout_s passes."""
        worker_bin = os.path.join(self.args.build_dir, "worker", "adamasync-worker")
        servers = [(name, proc) for name, proc, _, _ in self.processes]
        workers = []
        for i in range(self.args.workers):
            argv = [worker_bin, f"--servers={','.join(addresses)}", f"--worker_index={i}",
                    f"--num_workers={self.args.workers}"]
            argv += self.args.transport_flags.split() + self.args.worker_args
            argv += self.args.per_worker.get(i, [])
            proc = self.start(f"worker {i}", argv)
            workers.append((i, proc, self.processes[-1][2], self.processes[-1][3]))
        deadline = time.time() + self.args.timeout_s if self.args.timeout_s > 0 else None
        running = list(workers)
        finals = {}
        while running:
            for entry in list(running):
                i, proc, pump, last_line = entry
                code = proc.poll()
                if code is None:
                    continue
                running.remove(entry)
                pump.join(timeout=5)
                finals[i] = (code, last_line[0])
                if code != 0:
                    raise Failure(f"worker {i} failed (exit {code}): {last_line[0]!r}; "
                                  f"stopping the other processes")
            for name, proc in servers:
                if running and proc.poll() is not None:
                    raise Failure(f"{name} exited with {proc.returncode} while workers were "
                                  f"running; stopping the other processes")
            if deadline is not None and time.time() > deadline:
                raise Failure(f"workers still running after --timeout_s={self.args.timeout_s}; "
                              f"stopping everything")
            time.sleep(0.05)
        return [(i, *finals[i]) for i in sorted(finals)]

    def stop_all(self):
        """SIGTERM to every process still running (workers first), SIGKILL to
        any that has not exited after --stop_timeout_s; reaps them all."""
        for _, proc, _, _ in reversed(self.processes):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.time() + self.args.stop_timeout_s
        for name, proc, pump, _ in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                print(f"cluster: {name} did not stop on SIGTERM; killing it", flush=True)
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            pump.join(timeout=2)
            if name.startswith("server"):
                print(f"cluster: {name} exit={proc.returncode}", flush=True)


def _signal_group(proc, sig):
    if proc.poll() is not None:  # exited and reaped: its pid may be reused
        return
    try:
        os.killpg(proc.pid, sig)  # the child leads its own group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


_deferral = {"active": False, "pending": None}


def _interrupt(signum, _frame):
    if _deferral["active"]:
        _deferral["pending"] = signum
        return
    raise KeyboardInterrupt(signal.Signals(signum).name)


class _interrupts_deferred:
    """Within this block SIGINT/SIGTERM/SIGHUP are recorded, then raised as
    KeyboardInterrupt when it ends."""

    def __enter__(self):
        _deferral["active"] = True

    def __exit__(self, *exc):
        _deferral["active"] = False
        pending, _deferral["pending"] = _deferral["pending"], None
        if pending is not None and exc[0] is None:
            raise KeyboardInterrupt(signal.Signals(pending).name)
        return False


def main(argv=None):
    args = parse_args(argv)
    # SIGINT (Ctrl-C), SIGTERM and SIGHUP: stop everything, exit 130.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    cluster = Cluster(args)
    started = time.time()
    try:
        try:
            addresses = cluster.start_servers()
            print(f"cluster: {args.shards} shards at {','.join(addresses)}; "
                  f"{args.workers} workers; logs in {cluster.log_dir}", flush=True)
            finals = cluster.run_workers(addresses)
        except Failure as e:
            print(f"cluster: error: {e}", file=sys.stderr, flush=True)
            return 1
        except OSError as e:  # e.g. a binary that is not built
            print(f"cluster: error: {e}", file=sys.stderr, flush=True)
            return 1
        print(f"cluster: workers done in {time.time() - started:.1f} s", flush=True)
        for i, code, line in finals:
            print(f"cluster: worker {i} exit={code}: {line}", flush=True)
        return 0
    except KeyboardInterrupt:
        print("cluster: interrupted, stopping everything", flush=True)
        return 130
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cluster.stop_all()


if __name__ == "__main__":
    sys.exit(main())
