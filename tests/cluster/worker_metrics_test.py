#!/usr/bin/env python3
"""Multi-process test of the worker's Prometheus endpoint: one real
adamasync-server and two adamasync-worker processes on loopback (started by
scripts/local_cluster.py), each worker with --metrics_listen=127.0.0.1:0.

Each worker logs the port it bound ("metrics on port N"); the test scrapes
GET /metrics while the workers train, and once more right after each one's
final line (--metrics_linger_s keeps the endpoint up), then checks:
  * counters never go down between scrapes, and training was seen under way;
  * the final values match the run exactly: steps, examples (as the final
    line reports them), one pull per
    step plus the final one, one push per step, bytes = transfers x model
    size, the planned steps, the epoch, and the test accuracy of the final
    line; every series carries worker="<index>".
Worker 1 also runs with --log_json: every line it writes must be a JSON
object (time, level, msg), its final line included.

  worker_metrics_test.py BUILD_DIR
"""

import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKERS = 2
MAX_STEPS = 600
BATCH = 64
LINGER_S = 10
COUNTERS = ["adamasync_worker_steps_total", "adamasync_worker_examples_total",
            "adamasync_worker_pulls_total", "adamasync_worker_pushes_total",
            "adamasync_worker_pull_bytes_total", "adamasync_worker_push_bytes_total"]


def scrape(port):
    """The endpoint's series as {name: value}, labels checked and dropped;
    None when it cannot be reached."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        series[name_labels] = float(value)
    return series


def value(series, worker, name):
    return series.get(f'{name}{{worker="{worker}"}}')


def reader(stream, lines):
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def check_json_log(path, failures):
    finals = 0
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                failures.append(f"worker 1 (--log_json) wrote a line that is not JSON: {line!r}")
                return
            if not {"time", "level", "msg"} <= record.keys():
                failures.append(f"worker 1 JSON line lacks time/level/msg: {line!r}")
                return
            finals += record["msg"].startswith("final test_accuracy=")
    if finals != 1:
        failures.append(f"worker 1 (--log_json) wrote {finals} final lines, expected 1")


def main():
    build_dir = sys.argv[1]
    log_dir = tempfile.mkdtemp(prefix="adamasync-worker-metrics-test-")
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "local_cluster.py"), "--shards=1",
           f"--workers={WORKERS}", f"--build_dir={build_dir}", f"--log_dir={log_dir}",
           "--timeout_s=240", "--worker_flags=1:--log_json", "--",
           f"--max_steps={MAX_STEPS}", f"--batch_size={BATCH}", "--log_interval_s=1",
           "--eval_interval_s=1", "--metrics_listen=127.0.0.1:0",
           f"--metrics_linger_s={LINGER_S}"]
    print("running:", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = queue.Queue()
    threading.Thread(target=reader, args=(proc.stdout, lines), daemon=True).start()

    ports, params, finals, examples = {}, {}, {}, {}
    during = {i: [] for i in range(WORKERS)}  # scrapes before the final line
    final_scrape = {}
    deadline = time.time() + 280
    done = False
    while not done and time.time() < deadline:
        try:
            line = lines.get(timeout=0.05)
        except queue.Empty:
            line = ""
        if line is None:
            done = True
            continue
        if line:
            print(line, flush=True)
        m = re.match(r"^\[worker (\d+)\] (.*)", line or "")
        if m:
            worker, text = int(m.group(1)), m.group(2)
            if (p := re.search(r"metrics on port (\d+)", text)):
                ports[worker] = int(p.group(1))
            if (p := re.search(r"tables \((\d+) parameters", text)):
                params[worker] = int(p.group(1))
            if (p := re.search(r"final test_accuracy=([0-9.]+).* examples=(\d+)", text)):
                finals[worker] = float(p.group(1))
                examples[worker] = int(p.group(2))
                final_scrape[worker] = scrape(ports.get(worker, 0))
        for worker, port in ports.items():
            if worker not in finals:
                series = scrape(port)
                if series is not None:
                    during[worker].append(series)
    if not done:
        proc.terminate()  # the launcher stops everything it started
        proc.wait(timeout=60)
        print("FAILED: the cluster did not finish in time")
        return 1
    proc.wait()

    failures = []
    if proc.returncode != 0:
        failures.append(f"launcher exited {proc.returncode}")
    steps_per_epoch = -(-(60000 // WORKERS) // BATCH)
    for w in range(WORKERS):
        if w not in ports:
            failures.append(f"worker {w} never logged its metrics port")
            continue
        if w not in finals or final_scrape.get(w) is None:
            failures.append(f"worker {w}: no final line, or its endpoint was gone right after it")
            continue
        scrapes = during[w] + [final_scrape[w]]
        for name in COUNTERS:
            values = [value(s, w, name) for s in scrapes]
            if None in values:
                failures.append(f"worker {w}: {name}{{worker=\"{w}\"}} missing from a scrape")
            elif values != sorted(values):
                failures.append(f"worker {w}: {name} went down: {values}")
        if not any((value(s, w, "adamasync_worker_steps_total") or 0) > 0 for s in during[w]):
            failures.append(f"worker {w}: no scrape during training saw a step "
                            f"({len(during[w])} scrapes)")
        model_bytes = 4 * params.get(w, 0)
        last = final_scrape[w]
        expected = {
            "adamasync_worker_steps_total": MAX_STEPS,
            "adamasync_worker_planned_steps": MAX_STEPS,
            # The epoch's last batch is smaller: the final line's count.
            "adamasync_worker_examples_total": examples[w],
            "adamasync_worker_pulls_total": MAX_STEPS + 1,
            "adamasync_worker_pull_seconds_count": MAX_STEPS + 1,
            "adamasync_worker_pull_bytes_total": (MAX_STEPS + 1) * model_bytes,
            "adamasync_worker_pushes_total": MAX_STEPS,
            "adamasync_worker_push_seconds_count": MAX_STEPS,
            "adamasync_worker_push_bytes_total": MAX_STEPS * model_bytes,
            "adamasync_worker_compute_seconds_count": MAX_STEPS,
            "adamasync_worker_epoch": MAX_STEPS / steps_per_epoch,
            "adamasync_worker_test_accuracy": finals[w],
        }
        for name, want in expected.items():
            got = value(last, w, name)
            if got is None or abs(got - want) > 6e-5 * max(1.0, abs(want)):
                failures.append(f"worker {w}: {name} = {got}, expected {want}")
        applied = value(last, w, "adamasync_worker_push_staleness_count") or 0
        dropped = value(last, w, "adamasync_worker_stale_dropped_pushes_total") or 0
        if applied + dropped != MAX_STEPS:
            failures.append(f"worker {w}: {applied} staleness observations + {dropped} dropped "
                            f"!= {MAX_STEPS} pushes")
        if (value(last, w, "adamasync_worker_evaluations_total") or 0) < 1:
            failures.append(f"worker {w}: no evaluation counted")
    check_json_log(os.path.join(log_dir, "worker 1.log"), failures)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"PASSED: {WORKERS} workers, {sum(len(d) for d in during.values())} scrapes during "
          f"training")
    return 0


if __name__ == "__main__":
    sys.exit(main())
