#!/usr/bin/env python3
"""Training study: how the number of workers and the consistency mode change
time-to-accuracy on Fashion-MNIST (the MLP, 784-256-128-10).

Runs, with the same hyper-parameters and the same number of epochs each:
  async  with 1, 2 and 4 workers (no staleness bound);
  reject with 2 and 4 workers (pushes staler than --reject_bound dropped);
  scale  with 2 and 4 workers (lr / staleness past --scale_bound);
  sync   with 2 and 4 workers (one mean-gradient step per round).
Each run is scripts/local_cluster.py with --shards servers; worker 0
evaluates on the test set every --eval_interval_s and writes its curve with
--metrics_csv. From the curves: time (seconds since worker 0's training loop
started) and epochs to reach 87% and 88% test accuracy, and the final
accuracy. Then plots the curves (matplotlib, installed into .venv on first
use) and writes a Markdown table.

  scripts/study.py                          # all runs, then plot + table
  scripts/study.py --runs=async-1,async-4 --epochs=5 --repeats=1
  scripts/study.py --plot_only --results=build/study/20261123-1200

Outputs: RESULTS/runs.json (one record per run), RESULTS/<run>/ (logs,
metrics0.csv), RESULTS/summary.md, and PNGs in --images_dir.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THRESHOLDS = (0.87, 0.88)


def run_configs(args):
    """name -> (workers, extra worker flags, label)."""
    configs = {
        "async-1": (1, [], "async, 1 worker"),
        "async-2": (2, [], "async, 2 workers"),
        "async-4": (4, [], "async, 4 workers"),
        "reject-2": (2, ["--staleness_policy=reject", f"--max_staleness={args.reject_bound}"],
                     f"reject >{args.reject_bound}, 2 workers"),
        "reject-4": (4, ["--staleness_policy=reject", f"--max_staleness={args.reject_bound}"],
                     f"reject >{args.reject_bound}, 4 workers"),
        "scale-2": (2, ["--staleness_policy=scale", f"--max_staleness={args.scale_bound}"],
                    f"scale >{args.scale_bound}, 2 workers"),
        "scale-4": (4, ["--staleness_policy=scale", f"--max_staleness={args.scale_bound}"],
                    f"scale >{args.scale_bound}, 4 workers"),
        "sync-2": (2, ["--sync"], "sync, 2 workers"),
        "sync-4": (4, ["--sync"], "sync, 4 workers"),
    }
    return configs


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--results", default=None,
                        help="results directory (default BUILD_DIR/study/<date-time>)")
    parser.add_argument("--images_dir", default=os.path.join(ROOT, "docs", "images"))
    parser.add_argument("--runs", default="all", help="comma-separated run names, or all")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each configuration")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--reject_bound", type=int, default=4)
    parser.add_argument("--scale_bound", type=int, default=2)
    parser.add_argument("--eval_interval_s", type=float, default=2)
    parser.add_argument("--transport_flags", default="--plaintext",
                        help="local_cluster.py --transport_flags")
    parser.add_argument("--plot_only", action="store_true",
                        help="only plot and tabulate the runs in --results")
    return parser.parse_args()


# ---------------------------------------------------------------- running


def read_curve(path):
    """Worker 0's evaluations: [(time_s, epoch, test_acc)]."""
    points = []
    if not os.path.exists(path):
        return points
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["test_acc"]:
                points.append((float(row["time_s"]), float(row["epoch"]), float(row["test_acc"])))
    return points


def first_reaching(points, threshold):
    for t, epoch, acc in points:
        if acc >= threshold:
            return t, epoch
    return None, None


def run_one(args, name, repeat, workers, flags, results):
    run_dir = os.path.join(results, f"{name}-r{repeat}")
    os.makedirs(run_dir, exist_ok=True)
    metrics = os.path.join(run_dir, "metrics0.csv")
    common = ["--model=mlp", f"--epochs={args.epochs}", f"--batch_size={args.batch_size}",
              f"--lr={args.lr}", f"--seed={repeat + 1}", "--log_interval_s=10"] + flags
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "local_cluster.py"),
           f"--shards={args.shards}", f"--workers={workers}", f"--build_dir={args.build_dir}",
           f"--log_dir={run_dir}", "--timeout_s=1800",
           f"--transport_flags={args.transport_flags}",
           f"--worker_flags=0:--eval_interval_s={args.eval_interval_s} --metrics_csv={metrics}",
           "--"] + common
    load_before = os.getloadavg()[0]
    started = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.time() - started
    with open(os.path.join(run_dir, "launcher.log"), "w") as f:
        f.write(proc.stdout)
    finals = {}
    for m in re.finditer(r"^cluster: worker (\d+) exit=0: final (.*)$", proc.stdout, re.M):
        finals[int(m.group(1))] = dict(kv.split("=", 1) for kv in m.group(2).split())
    done = re.search(r"^cluster: workers done in ([0-9.]+) s", proc.stdout, re.M)
    record = {
        "name": name, "repeat": repeat, "workers": workers, "flags": flags,
        "exit": proc.returncode, "wall_s": wall,
        "workers_done_s": float(done.group(1)) if done else None,
        "load_before": load_before, "load_after": os.getloadavg()[0],
        "finals": {str(k): v for k, v in finals.items()}, "metrics": metrics,
    }
    print(f"study: {name} repeat {repeat}: exit {proc.returncode}, {wall:.0f} s, "
          f"worker 0 final {finals.get(0, {}).get('test_accuracy')}, load "
          f"{load_before:.1f}->{record['load_after']:.1f}", flush=True)
    return record


def run_all(args, results):
    configs = run_configs(args)
    names = list(configs) if args.runs == "all" else args.runs.split(",")
    for name in names:
        if name not in configs:
            sys.exit(f"study: unknown run {name}; known: {', '.join(configs)}")
    runs_path = os.path.join(results, "runs.json")
    records = []
    if os.path.exists(runs_path):
        with open(runs_path) as f:
            records = json.load(f)
    info = machine_info()
    info.update({"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                 "shards": args.shards, "eval_interval_s": args.eval_interval_s})
    with open(os.path.join(results, "setup.json"), "w") as f:
        json.dump(info, f, indent=1)
    # Repeats outermost, so that a change in the machine's background load
    # spreads over all configurations rather than hitting one.
    for repeat in range(args.repeats):
        for name in names:
            workers, flags, _ = configs[name]
            records.append(run_one(args, name, repeat, workers, flags, results))
            with open(runs_path, "w") as f:
                json.dump(records, f, indent=1)
    return records


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"date": datetime.datetime.now().isoformat(timespec="minutes"),
            "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release()}


# ------------------------------------------------------- summary and plots


def summarize(args, results):
    with open(os.path.join(results, "runs.json")) as f:
        records = json.load(f)
    with open(os.path.join(results, "setup.json")) as f:
        setup = json.load(f)
    configs = run_configs(args)
    by_name = {}
    for r in records:
        by_name.setdefault(r["name"], []).append(r)

    def fmt_mean(values, digits, scale=1.0):
        values = [v for v in values if v is not None]
        if not values:
            return "–"
        mean = statistics.mean(values) * scale
        if len(values) == 1:
            return f"{mean:.{digits}f}"
        return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"

    lines = [
        f"Setup: {setup['date']}, {setup['nproc']} cores ({setup['cpu']}), MLP 784-256-128-10, "
        f"{setup['shards']} shards, batch {setup['batch_size']}, Adam lr {setup['lr']}, "
        f"{setup['epochs']} epochs, worker 0 evaluates every {setup['eval_interval_s']} s. "
        "Mean ± standard deviation over the repeats (n per row). Times: seconds since "
        "worker 0's training loop started, from its evaluations (a dash: never reached). "
        "Final acc: the final evaluation of the worker that finished last (it pulled after "
        "every push of the run). Wall: until the last worker exited. Examples/s: all "
        "workers' examples over that wall time. Staleness: per applied push (see "
        "worker/training_loop.h), mean over workers.",
        "",
        "| run | n | time to 87% (s) | time to 88% (s) | epochs to 88% | final acc (%) "
        "| final acc, worker 0 (%) | wall (s) | examples/s | mean staleness | pushes dropped |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (workers, _, label) in configs.items():
        runs = [r for r in by_name.get(name, []) if r["exit"] == 0]
        failed = len(by_name.get(name, [])) - len(runs)
        if not runs and not failed:
            continue
        t87, t88, e88, final0, final_last, wall, rate, stale, dropped = ([] for _ in range(9))
        for r in runs:
            curve = read_curve(r["metrics"])
            t87.append(first_reaching(curve, 0.87)[0])
            t, e = first_reaching(curve, 0.88)
            t88.append(t)
            e88.append(e)
            finals = r["finals"]
            final0.append(float(finals["0"]["test_accuracy"]))
            # The worker that finished last pulled after every push of the
            # run: its final accuracy is the trained model's.
            last = max(finals.values(), key=lambda v: float(v["seconds"]))
            final_last.append(float(last["test_accuracy"]))
            examples = sum(int(v["examples"]) for v in finals.values())
            steps = sum(int(v["steps"]) for v in finals.values())
            dropped.append(sum(int(v["stale_dropped"]) for v in finals.values()) / steps)
            wall.append(r["workers_done_s"])
            rate.append(examples / r["workers_done_s"])
            stale.append(statistics.mean(float(v["mean_staleness"]) for v in finals.values()))
        n = f"{len(runs)}" + (f" ({failed} failed)" if failed else "")
        missing87 = sum(v is None for v in t87)
        missing88 = sum(v is None for v in t88)
        lines.append(
            f"| {label} | {n} | {fmt_mean(t87, 1)}{_missing(missing87)} | "
            f"{fmt_mean(t88, 1)}{_missing(missing88)} | {fmt_mean(e88, 1)} | "
            f"{fmt_mean(final_last, 2, 100)} | {fmt_mean(final0, 2, 100)} | {fmt_mean(wall, 0)} | "
            f"{fmt_mean(rate, 0)} | {fmt_mean(stale, 2)} | {fmt_mean(dropped, 1, 100)}% |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(results, "summary.md"), "w") as f:
        f.write(table)
    print(table)
    return records


def _missing(count):
    return f" ({count} never)" if count else ""


def ensure_matplotlib():
    """Re-runs this script's plotting step inside .venv (created, with
    matplotlib from PyPI, on first use) when matplotlib is not importable."""
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        pass
    venv = os.path.join(ROOT, ".venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"study: creating {venv} for matplotlib", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    if subprocess.run([python, "-c", "import matplotlib"], capture_output=True).returncode:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "matplotlib"], check=True)
    return False


def plot(args, results, records):
    if not ensure_matplotlib():
        venv_python = os.path.join(ROOT, ".venv", "bin", "python")
        subprocess.run([venv_python, os.path.abspath(__file__), "--plot_only", "--no_summary",
                        f"--results={results}", f"--images_dir={args.images_dir}",
                        f"--reject_bound={args.reject_bound}",
                        f"--scale_bound={args.scale_bound}"], check=True)
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = run_configs(args)
    os.makedirs(args.images_dir, exist_ok=True)
    colors = {"async-1": "black", "async-2": "tab:blue", "async-4": "tab:orange",
              "reject-2": "tab:cyan", "reject-4": "tab:red", "scale-2": "tab:olive",
              "scale-4": "tab:purple", "sync-2": "tab:green", "sync-4": "tab:brown"}
    styles = {"async": "-", "reject": "--", "scale": ":", "sync": "-."}
    panels = (("workers and synchronous rounds",
               ["async-1", "async-2", "async-4", "sync-2", "sync-4"]),
              ("staleness bounds, 4 workers (2 workers: table)",
               ["async-1", "async-4", "reject-4", "scale-4"]))
    for axis, xlabel, filename in ((0, "seconds since worker 0 started training",
                                    "training_accuracy_vs_time.png"),
                                   (1, "epochs (worker 0's steps / steps per epoch)",
                                    "training_accuracy_vs_epoch.png")):
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), dpi=100, sharey=True)
        for ax, (title, names) in zip(axes, panels):
            labelled = set()
            for r in records:
                name = r["name"]
                if r["exit"] != 0 or name not in names:
                    continue
                curve = read_curve(r["metrics"])
                if not curve:
                    continue
                label = configs[name][2] if name not in labelled else None
                labelled.add(name)
                ax.plot([p[axis] for p in curve], [100 * p[2] for p in curve],
                        styles[name.split("-")[0]], color=colors.get(name, "gray"), label=label,
                        linewidth=1.4 if r["repeat"] == 0 else 0.9,
                        alpha=1.0 if r["repeat"] == 0 else 0.35)
            for threshold in THRESHOLDS:
                ax.axhline(100 * threshold, color="gray", linewidth=0.6)
            ax.set_ylim(84, 90)
            ax.set_xlabel(xlabel)
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(loc="lower right", fontsize=8)
        axes[0].set_ylabel("test accuracy (%), worker 0's evaluations")
        fig.suptitle("Fashion-MNIST, MLP 784-256-128-10, Adam on AdamAsync, 2 shards, 2 cores "
                     "(bold: first run, light: repeats)", fontsize=11)
        fig.tight_layout()
        path = os.path.join(args.images_dir, filename)
        fig.savefig(path)
        plt.close(fig)
        print(f"study: wrote {path}", flush=True)


def main():
    if "--no_summary" in sys.argv:  # the plotting step, re-run inside .venv
        sys.argv.remove("--no_summary")
        args = parse_args()
        with open(os.path.join(args.results, "runs.json")) as f:
            plot(args, args.results, json.load(f))
        return 0
    args = parse_args()
    if args.plot_only:
        if not args.results:
            sys.exit("study: --plot_only needs --results=DIR")
    else:
        results = args.results or os.path.join(
            args.build_dir, "study", datetime.datetime.now().strftime("%Y%m%d-%H%M"))
        args.results = results
        os.makedirs(results, exist_ok=True)
        print(f"study: results in {results}", flush=True)
        run_all(args, results)
    records = summarize(args, args.results)
    plot(args, args.results, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
