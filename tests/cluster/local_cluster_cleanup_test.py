#!/usr/bin/env python3
"""Tests that scripts/local_cluster.py never leaves a process behind:

1. A worker that fails early (worker 1 gets a --data_dir that does not
   exist) makes the launcher stop the servers and the other worker (which
   would otherwise train for minutes), say which worker failed, and exit 1.
2. SIGINT (Ctrl-C) while the workers train makes it stop everything and
   exit 130.
3. A bad worker flag (every worker exits 2) also ends in exit 1.

After each, no PID the launcher listed in LOG_DIR/pids.txt may still be
running.

  local_cluster_cleanup_test.py BUILD_DIR
"""

import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(ROOT, "scripts", "local_cluster.py")
# Enough work that worker 0 would run for minutes if nobody stopped it.
LONG_RUN = ["--epochs=200", "--log_interval_s=1"]


def read_pids(log_dir):
    path = os.path.join(log_dir, "pids.txt")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(int(line.split(" ", 1)[0]), line.split(" ", 1)[1].strip())
                for line in f if line.strip()]


def alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def launcher(build_dir, log_dir, *extra):
    return [sys.executable, LAUNCHER, "--shards=2", "--workers=2", f"--build_dir={build_dir}",
            f"--log_dir={log_dir}", "--stop_timeout_s=10", *extra]


def check_no_survivors(log_dir, expected, failures, what):
    pids = read_pids(log_dir)
    names = sorted(name for _, name in pids)
    if names != sorted(expected):
        failures.append(f"{what}: pids.txt lists {names}, expected {sorted(expected)}")
    deadline = time.time() + 5  # the launcher has reaped them; allow for /proc lag
    survivors = [(pid, name) for pid, name in pids if alive(pid)]
    while survivors and time.time() < deadline:
        time.sleep(0.1)
        survivors = [(pid, name) for pid, name in pids if alive(pid)]
    if survivors:
        failures.append(f"{what}: still running after the launcher exited: {survivors}")
        for pid, _ in survivors:  # do not leak them into the rest of the suite
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_failing_worker(build_dir, failures):
    log_dir = tempfile.mkdtemp(prefix="adamasync-cleanup-fail-")
    started = time.time()
    result = subprocess.run(
        launcher(build_dir, log_dir, "--worker_flags=1:--data_dir=/nonexistent/fashion-mnist",
                 "--", *LONG_RUN),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    elapsed = time.time() - started
    print(result.stdout[-3000:])
    if result.returncode != 1:
        failures.append(f"failing worker: launcher exited {result.returncode}, expected 1")
    if "cluster: error: worker 1 failed (exit 1)" not in result.stdout:
        failures.append("failing worker: no 'worker 1 failed' message")
    if elapsed > 60:
        failures.append(f"failing worker: the launcher took {elapsed:.0f} s to give up")
    check_no_survivors(log_dir, ["server 0", "server 1", "worker 0", "worker 1"], failures,
                       "failing worker")


def test_interrupt(build_dir, failures):
    log_dir = tempfile.mkdtemp(prefix="adamasync-cleanup-int-")
    proc = subprocess.Popen(launcher(build_dir, log_dir, "--", *LONG_RUN),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Wait until worker 0 is training (it logs a progress line every second).
    deadline = time.time() + 60
    log = os.path.join(log_dir, "worker 0.log")
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(log) and "step=" in open(log).read():
            break
        time.sleep(0.2)
    else:
        failures.append("interrupt: worker 0 never started training")
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        failures.append("interrupt: the launcher did not exit within 60 s of SIGINT")
    print(out[-2000:])
    if proc.returncode != 130:
        failures.append(f"interrupt: launcher exited {proc.returncode}, expected 130")
    if "cluster: interrupted, stopping everything" not in out:
        failures.append("interrupt: no 'interrupted' message")
    check_no_survivors(log_dir, ["server 0", "server 1", "worker 0", "worker 1"], failures,
                       "interrupt")


def test_bad_flag(build_dir, failures):
    log_dir = tempfile.mkdtemp(prefix="adamasync-cleanup-flag-")
    result = subprocess.run(launcher(build_dir, log_dir, "--", "--no_such_flag=1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=120)
    print(result.stdout[-2000:])
    if result.returncode != 1:
        failures.append(f"bad flag: launcher exited {result.returncode}, expected 1")
    if "failed (exit" not in result.stdout:
        failures.append("bad flag: no 'failed (exit ...)' message")
    check_no_survivors(log_dir, ["server 0", "server 1", "worker 0", "worker 1"], failures,
                       "bad flag")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    build_dir = sys.argv[1]
    failures = []
    for test in (test_failing_worker, test_interrupt, test_bad_flag):
        print(f"== {test.__name__}", flush=True)
        test(build_dir, failures)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("PASSED: no process outlived the launcher")
    return 0


if __name__ == "__main__":
    sys.exit(main())
