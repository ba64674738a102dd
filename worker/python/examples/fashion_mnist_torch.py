#!/usr/bin/env python3
"""Fashion-MNIST with PyTorch, trained by asynchronous Adam on AdamAsync.

By default it runs a whole local cluster: 2 adamasync-server shards on free
loopback ports and 2 worker processes (this script with --worker_index),
each training a small MLP on its half of the training set and pushing its
gradients to the servers, then reports each worker's test accuracy and
stops the servers:

    pip install ./worker/python torch       # once (see docs/python.md)
    python worker/python/examples/fashion_mnist_torch.py --epochs=2

Against servers that are already running, start the workers yourself:

    build/server/adamasync-server --listen=0.0.0.0:7000 --shard_index=0 --num_shards=2 --plaintext &
    build/server/adamasync-server --listen=0.0.0.0:7001 --shard_index=1 --num_shards=2 --plaintext &
    python fashion_mnist_torch.py --servers=localhost:7000,localhost:7001 --worker_index=0 --workers=2 &
    python fashion_mnist_torch.py --servers=localhost:7000,localhost:7001 --worker_index=1 --workers=2

The data are the gzipped IDX files of Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist), read with gzip and numpy.
"""

import argparse
import gzip
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="",
                        help="host:port of every shard, comma-separated; empty: start "
                             "--shards local servers")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker_index", type=int, default=-1,
                        help="run one worker (0 .. workers-1) instead of the launcher")
    parser.add_argument("--server_bin",
                        default=os.path.join(ROOT, "build", "server", "adamasync-server"))
    parser.add_argument("--data_dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max_steps", type=int, default=0,
                        help="stop each worker after this many steps (0: no limit)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight_decay", type=float, default=1e-4)
    parser.add_argument("--overlap", action="store_true",
                        help="overlap each step's push/pull with the next batch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--prefix", default="fmnist/",
                        help="table name prefix (use a new one to start afresh)")
    parser.add_argument("--min_accuracy", type=float, default=0.0,
                        help="launcher: exit 1 unless every worker reaches this test accuracy")
    return parser.parse_args()


# -- data ----------------------------------------------------------------------

def read_idx(path):
    """An IDX file (optionally gzipped) as a numpy uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic >> 8 != 0x08:  # unsigned bytes
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return (x - 0.2860) / 0.3530, labels.astype(np.int64)  # the training set's mean and std


# -- one worker ------------------------------------------------------------------

def run_worker(args):
    import torch

    import adamasync.torch

    torch.set_num_threads(args.threads)
    x_train, y_train = load_split(args.data_dir, "train")
    x_test, y_test = load_split(args.data_dir, "test")
    # This worker's share of the training set.
    x_train = torch.from_numpy(np.ascontiguousarray(x_train[args.worker_index::args.workers]))
    y_train = torch.from_numpy(np.ascontiguousarray(y_train[args.worker_index::args.workers]))
    x_test, y_test = torch.from_numpy(x_test), torch.from_numpy(y_test)

    torch.manual_seed(0)  # every worker builds the same model, hence the same table specs
    model = torch.nn.Sequential(torch.nn.Linear(784, args.hidden), torch.nn.ReLU(),
                                torch.nn.Linear(args.hidden, 10))
    # Worker 0 creates the tables; the others wait for them and attach. The
    # model is then loaded with the tables' values.
    optimizer = adamasync.torch.RemoteAdamW(
        model.named_parameters(), servers=args.servers, lr=args.lr,
        weight_decay=args.weight_decay, prefix=args.prefix, create=args.worker_index == 0,
        worker_id=args.worker_index + 1, overlap=args.overlap)
    if args.overlap:
        optimizer.install_pull_hook(model)  # wait for the pulls before each forward pass

    name = f"worker {args.worker_index}"
    generator = torch.Generator().manual_seed(1000 + args.worker_index)
    steps, started = 0, time.monotonic()
    for epoch in range(args.epochs):
        order = torch.randperm(len(x_train), generator=generator)
        total, count = 0.0, 0
        for begin in range(0, len(order), args.batch_size):
            batch = order[begin:begin + args.batch_size]
            loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count, steps = total + loss.item(), count + 1, steps + 1
            if args.max_steps and steps >= args.max_steps:
                break
        print(f"{name}: epoch {epoch + 1} mean loss {total / max(count, 1):.4f} "
              f"({steps} steps, {time.monotonic() - started:.1f} s)", flush=True)
        if args.max_steps and steps >= args.max_steps:
            break

    optimizer.pull()  # the latest weights, with every worker's updates so far
    with torch.no_grad():
        accuracy = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
    stats = optimizer.client.get_stats()
    pushes = sum(t.pushes for shard in stats for t in shard.tables)
    print(f"{name}: test accuracy {accuracy:.4f} after {steps} steps "
          f"({pushes} push chunks on the servers)", flush=True)
    optimizer.close()
    return accuracy


# -- launcher --------------------------------------------------------------------

def server_transport_flags(server_bin):
    """--plaintext for servers that support TLS (they refuse to start
    without TLS files or this flag), nothing for older ones."""
    help_text = subprocess.run([server_bin, "--helpfull"], capture_output=True, text=True)
    return ["--plaintext"] if "-plaintext" in help_text.stdout + help_text.stderr else []


def start_servers(args, work_dir):
    if not os.access(args.server_bin, os.X_OK):
        sys.exit(f"no server binary at {args.server_bin} (run scripts/build.sh, or pass "
                 f"--server_bin or --servers)")
    transport = server_transport_flags(args.server_bin)
    processes, port_files = [], []
    for i in range(args.shards):
        port_file = os.path.join(work_dir, f"shard{i}.port")
        log = open(os.path.join(work_dir, f"shard{i}.log"), "w")
        processes.append(subprocess.Popen(
            [args.server_bin, "--listen=127.0.0.1:0", f"--port_file={port_file}",
             f"--shard_index={i}", f"--num_shards={args.shards}", *transport],
            stdout=log, stderr=subprocess.STDOUT))
        port_files.append(port_file)
    addresses = []
    deadline = time.monotonic() + 30
    for proc, port_file in zip(processes, port_files):
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(processes)
                sys.exit(f"a server did not start; see its log in {work_dir}")
            time.sleep(0.02)
        addresses.append(f"127.0.0.1:{open(port_file).read().strip()}")
    return processes, addresses


def stop(processes):
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_launcher(args):
    work_dir = tempfile.mkdtemp(prefix="adamasync-fmnist-")
    servers, addresses = [], args.servers
    if not addresses:
        servers, started = start_servers(args, work_dir)
        addresses = ",".join(started)
        print(f"launcher: {args.shards} servers at {addresses} (logs in {work_dir})", flush=True)
    workers = []
    try:
        for i in range(args.workers):
            argv = [sys.executable, os.path.abspath(__file__), f"--servers={addresses}",
                    f"--worker_index={i}"]
            argv += [a for a in sys.argv[1:] if not a.startswith(("--servers", "--worker_index"))]
            workers.append(subprocess.Popen(argv, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True))
        finals, ok = [], True
        for i, proc in enumerate(workers):
            last = ""
            for line in proc.stdout:
                print(line, end="", flush=True)
                last = line.strip() or last
            ok = proc.wait() == 0 and ok
            finals.append(last)
        for line in finals:
            if "test accuracy" not in line:
                ok = False
                continue
            accuracy = float(line.split("test accuracy ")[1].split()[0])
            ok = ok and accuracy >= args.min_accuracy
        print(f"launcher: {'OK' if ok else 'FAILED'}", flush=True)
        return 0 if ok else 1
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
        stop(servers)


def main():
    args = parse_args()
    if args.worker_index >= 0:
        if not args.servers:
            sys.exit("a worker needs --servers")
        run_worker(args)
        return 0
    return run_launcher(args)


if __name__ == "__main__":
    sys.exit(main())
