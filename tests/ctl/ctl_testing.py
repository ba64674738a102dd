"""Helpers of the adamasync-ctl multi-process tests: start real
adamasync-server processes on loopback (free ports, --plaintext), run
adamasync-worker and adamasync-ctl, read safetensors files and worker final
lines. Standard library only.

Every test script takes the build directory as its first argument (or
ADAMASYNC_BIN_DIR), works in a fresh temporary directory and stops every
process it started, also when it fails.
"""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time


class TestFailure(Exception):
    """A check of the test failed; the message says which."""


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def build_dir():
    if len(sys.argv) > 1:
        return os.path.abspath(sys.argv[1])
    return os.environ.get("ADAMASYNC_BIN_DIR", "build")


class Server:
    """One adamasync-server shard, started in __init__ and stopped by stop()
    or kill()."""

    def __init__(self, env, shard, num_shards, checkpoint_dir=None, port=0, flags=()):
        self.env = env
        self.shard = shard
        self.num_shards = num_shards
        self.checkpoint_dir = checkpoint_dir
        self.flags = list(flags)
        self.log_path = os.path.join(env.work, f"server{shard}-{len(env.processes)}.log")
        port_file = os.path.join(env.work, f"port{shard}-{len(env.processes)}")
        cmd = [env.binary("server/adamasync-server"), f"--listen=127.0.0.1:{port}",
               f"--port_file={port_file}", "--plaintext", f"--shard_index={shard}",
               f"--num_shards={num_shards}"]
        if checkpoint_dir:
            cmd.append(f"--checkpoint_dir={checkpoint_dir}")
        cmd += self.flags
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        env.processes.append(self.process)
        deadline = time.time() + 60
        while not os.path.exists(port_file):
            if self.process.poll() is not None:
                raise TestFailure(f"server {shard} exited {self.process.returncode} at start:\n"
                                  + self.log_text())
            check(time.time() < deadline, f"server {shard} did not start in 60 s")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())
        self.address = f"127.0.0.1:{self.port}"

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=30):
        """SIGTERM (drain, final checkpoint when configured); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout)
        return self.process.returncode

    def kill(self):
        """SIGKILL: no draining, no final checkpoint."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def restart(self, flags=()):
        """A new process for the same shard, port and directory."""
        return Server(self.env, self.shard, self.num_shards, self.checkpoint_dir,
                      port=self.port, flags=list(self.flags) + list(flags))


class Env:
    """The binaries, a scratch directory and every process started."""

    def __init__(self, name):
        self.build = build_dir()
        self.work = tempfile.mkdtemp(prefix=f"adamasync-{name}-")
        self.processes = []

    def binary(self, relative):
        path = os.path.join(self.build, relative)
        check(os.access(path, os.X_OK), f"missing binary {path}")
        return path

    def path(self, name):
        return os.path.join(self.work, name)

    def cleanup(self, keep):
        for p in self.processes:
            if p.poll() is None:
                p.kill()
                p.wait()
        if not keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def ctl(self, *args, servers=None, expect_ok=True, timeout=120):
        cmd = [self.binary("ctl/adamasync-ctl")] + list(args)
        if servers is not None:
            cmd += [f"--servers={','.join(s.address for s in servers)}", "--plaintext"]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=timeout)
        print(f"$ adamasync-ctl {' '.join(args)} -> {result.returncode}", flush=True)
        if expect_ok and result.returncode != 0:
            raise TestFailure(f"adamasync-ctl {' '.join(args)} exited {result.returncode}:\n"
                              f"{result.stdout}\n{result.stderr}")
        return result

    def status(self, servers):
        return json.loads(self.ctl("status", "--json", servers=servers).stdout)

    def start_worker(self, servers, index=0, num_workers=1, flags=()):
        """Starts a worker; returns the Popen (stdout piped)."""
        cmd = [self.binary("worker/adamasync-worker"),
               f"--servers={','.join(s.address for s in servers)}", "--plaintext",
               f"--worker_index={index}", f"--num_workers={num_workers}",
               "--log_interval_s=1000"] + list(flags)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.processes.append(p)
        return p

    def run_worker(self, servers, index=0, num_workers=1, flags=(), timeout=300):
        return finish_worker(self.start_worker(servers, index, num_workers, flags), timeout)


def finish_worker(process, timeout=300):
    """Waits for a worker; returns its final line's fields as a dict."""
    out, _ = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise TestFailure(f"worker exited {process.returncode}:\n{out}")
    match = re.search(r"^final (.*)$", out, re.M)
    check(match is not None, f"worker printed no final line:\n{out}")
    fields = dict(kv.split("=", 1) for kv in match.group(1).split())
    return {"test_accuracy": float(fields["test_accuracy"]), "steps": int(fields["steps"]),
            # Workers start together, so the longest run finished last.
            "finished_at": float(fields.get("seconds", "0")), "output": out}


def read_safetensors(path):
    """(metadata dict, {tensor name: raw bytes}) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {name: body[e["data_offsets"][0]:e["data_offsets"][1]]
               for name, e in header.items()}
    return metadata, tensors


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (shape list, raw little-endian f32 bytes)}."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, (shape, raw) in tensors.items():
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, raw in tensors.values():
            f.write(raw)


def versions(status):
    """{table: [version of each shard holding a part]} from `status --json`."""
    out = {}
    for t in status["tables"]:
        out[t["name"]] = [v for v, empty in zip(t["versions"], t["part_empty"]) if not empty]
    return out


def checkpoint_files(directory, shard=0, num_shards=1):
    """This shard's checkpoint file names in `directory`, oldest first."""
    prefix = f"shard-{shard}-of-{num_shards}-"
    return sorted(f for f in os.listdir(directory)
                  if f.startswith(prefix) and f.endswith(".ckpt"))


def check_restart_accounting(report, killed, survivor, survivor_role, total, restored_file,
                             restored, k, killed_log, slack):
    """Checks, once the workers have finished, the push accounting of a run
    where shard `killed` was killed (SIGKILL) and restarted from its newest
    checkpoint while shard `survivor` stayed up; prints the accounting.

    report: `adamasync-ctl status --json` now. survivor_role: how the
    messages describe the survivor ("never down", "link cut"). total: pushes
    the workers made. restored_file, restored: the newest complete file in
    the killed shard's directory at the kill, and its {table: version} (from
    `adamasync-ctl inspect`). k: the survivor's version of a table right
    after the kill. killed_log: the restarted server's log text. slack:
    pushes in flight at the kill that may land on either side.

    The survivor ends at `total` for every table (no push lost or applied
    twice); the killed shard restored restored_file (restored_from and its
    log line's highest version) and ends at V with R <= V <= total, and the
    L = total - V pushes it lost are those applied between the checkpoint
    and the kill: k - R - slack <= L <= k - R + slack (a push applied twice
    makes L too small, one lost beyond the checkpoint window too large).
    Returns {table: L}."""
    got = report["shards"][killed]["restored_from"]
    check(got == restored_file,
          f"shard {killed} restored {got!r}, newest complete file was {restored_file}")
    highest = re.search(r"restored .* \(highest version (\d+)\)", killed_log)
    check(highest and int(highest.group(1)) == max(restored.values()),
          f"shard {killed}'s restore log line vs the file's versions {restored}: "
          f"{highest.group(0) if highest else 'no such line'}")
    lost = {}
    for table in report["tables"]:
        name = table["name"]
        vs = [None if e else v for v, e in zip(table["versions"], table["part_empty"])]
        check(vs[survivor] in (None, total),
              f"shard {survivor} ({survivor_role}): table {name} at {vs[survivor]}, "
              f"{total} pushes were made")
        if vs[killed] is None:
            continue
        check(restored[name] <= vs[killed] <= total,
              f"shard {killed}: table {name} at {vs[killed]}, restored {restored[name]}, "
              f"{total} pushes")
        lost[name] = total - vs[killed]
        check(k - restored[name] - slack <= lost[name] <= k - restored[name] + slack,
              f"shard {killed}: table {name} lost {lost[name]} pushes; shard {survivor} was at "
              f"{k} when shard {killed} died, {restored[name]} were restored: expected "
              f"{k - restored[name]} +- {slack}")
    duplicates = sum(tb["duplicates"] for tb in report["tables"])
    print(f"shard {killed} restored {restored_file} (versions {restored}); shard {survivor} at "
          f"{k} when shard {killed} died; pushes lost since that checkpoint, per table: {lost}; "
          f"duplicate chunks answered: {duplicates}", flush=True)
    return lost


def main(name, body):
    """Runs body(env); prints PASSED or FAILED; returns the exit code.
    The scratch directory is kept when the test fails."""
    env = Env(name)
    print(f"{name}: working in {env.work}", flush=True)
    ok = False
    try:
        body(env)
        ok = True
    except (TestFailure, subprocess.TimeoutExpired) as e:
        print(f"FAILED: {e}", flush=True)
    finally:
        env.cleanup(keep=not ok)
    if ok:
        print(f"PASSED: {name}", flush=True)
        return 0
    print(f"(logs kept in {env.work})", flush=True)
    return 1
