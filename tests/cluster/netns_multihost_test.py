#!/usr/bin/env python3
"""Multi-host test: 2 shard servers and 2 workers, each on a host of its own
made of a Linux network namespace, train the MLP while one server host's link
is cut and restored and the other server is killed (SIGKILL) and restarted
from its checkpoint.

    namespace hub: bridge br0, no address
      port s0  -- veth --  s0   10.77.0.1  adamasync-server shard 0 of 2, :7000
      port s1  -- veth --  s1   10.77.0.2  adamasync-server shard 1 of 2, :7000
      port w0  -- veth --  w0   10.77.0.3  adamasync-worker 0
      port w1  -- veth --  w1   10.77.0.4  adamasync-worker 1
      port ops -- veth --  ops  10.77.0.5  adamasync-ctl status

Each veth is created inside its host's namespace with its peer in hub's, so
no interface, address or route ever appears in the namespace the test runs
in; the namespaces' names carry the start time and this process's id, so
concurrent runs and leftovers never clash. Every process runs under
`ip netns exec` and dies with the test (PR_SET_PDEATHSIG); the namespaces
are deleted, after their processes are killed, when the test ends, fails or
is interrupted (SIGINT, SIGTERM, SIGHUP, its own --timeout_s); ones a killed
run (SIGKILL) left behind are deleted by the next run after 10 minutes.

Run: the servers write periodic checkpoints every 0.2 s; the workers (ids 1
and 2, so their pushes are exactly-once) train STEPS steps each with
--deadline_s=60, so an operation on a shard that cannot be reached is retried
until it is back.

1. Once shard 1 has applied a quarter of the pushes, s1's port on the bridge
   goes down for --cut_s seconds (its cable is pulled): the ops host must see
   shard 1 unreachable and shard 0's versions stand still (the workers wait
   for shard 1; at most SLACK pushes in flight land); then the port comes up
   and training must resume.
2. Once shard 0 has applied half of the pushes and written a checkpoint, it
   is killed, its checkpoint directory copied (the newest file is what it
   will restore), and it is restarted a second later with the same address
   and directory.

Checks, the accounting of tests/ctl/ctl_fault_recovery_test.py with the
shards' roles swapped (both call ctl_testing.check_restart_accounting):
* both workers exit 0 after STEPS steps; the final model (evaluated by the
  worker that finished last) reaches --min_accuracy;
* shard 1 (link cut, never restarted) ends at exactly 2 * STEPS for every
  table: the outage neither lost a push nor applied one twice;
* shard 0 restored the newest complete file (GetStats restored_from, its log
  line's highest version) and ends at a version V of each table with
  R <= V <= 2 * STEPS, R being the restored version; the L = 2 * STEPS - V
  pushes it lost are those it applied between that checkpoint and the kill:
  K - R - SLACK <= L <= K - R + SLACK, with K shard 1's version right after
  the kill (a push applied twice makes L too small);
* traffic stays inside the namespaces: each server listens on its own
  address only; the workers' connections run from their addresses to the
  servers'; the bridge's server ports carried the training traffic; the
  test's own namespace has the same links, addresses and routes as before,
  none in 10.77.0.0/24, and adamasync-ctl run there gets no answer from a
  server (its connection attempts are the only packets the test sends out
  of that namespace, through its default route if it has one);
* both servers stop with exit 0 on SIGTERM.

Skipped (exit 77, with the reason) where namespaces cannot be made: not
Linux, not root, no iproute2 (`ip`, `ss`), `ip netns add` or veth/bridge
creation refused, or 10.77.0.0/24 already in use.

  netns_multihost_test.py BUILD_DIR [--steps=938] [--cut_s=4]
      [--min_accuracy=0.80] [--timeout_s=240]
"""

import argparse
import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "ctl"))
import ctl_testing as t  # noqa: E402  (the helpers of the single-host fault tests)

SKIP = 77  # SKIP_RETURN_CODE in CMakeLists.txt
ARGS = None
SUBNET = "10.77.0"
HOSTS = {"s0": 1, "s1": 2, "w0": 3, "w1": 4, "ops": 5}  # host: last byte of its address
PORT = 7000
SERVERS = ",".join(f"{SUBNET}.{HOSTS[h]}:{PORT}" for h in ("s0", "s1"))
NS_PREFIX = "adamasync-test-"
STALE_S = 600  # a namespace of ours older than this is a killed run's leftover
TABLE = "mlp/layer1/weight"  # the largest table: one part per shard
SLACK = 4  # pushes: 2 workers x (1 in flight + 1 for tables pushed in turn)

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: kept across `ip netns exec`'s exec


def ip(*args, check=True):
    """Runs `ip ARGS`; returns stdout. A failure raises CalledProcessError."""
    result = subprocess.run(["ip", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, timeout=30)
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, ["ip", *args], result.stdout,
                                            result.stderr)
    return result.stdout


def root_network():
    """This namespace's link names, IPv4 addresses and routes."""
    links = sorted(re.findall(r"^\d+: ([^:@]+)", ip("-o", "link", "show"), re.M))
    addresses = sorted(line.split()[1] + " " + line.split()[3]
                       for line in ip("-o", "-4", "addr", "show").splitlines())
    routes = sorted(ip("-4", "route", "show").splitlines())
    return {"links": links, "addresses": addresses, "routes": routes}


def remove_stale_namespaces():
    """Deletes namespaces that a run killed by SIGKILL (ctest's timeout) left."""
    for line in ip("netns", "list", check=False).splitlines():
        match = re.match(rf"{NS_PREFIX}(\d+)-\d+-\S+", line)
        if match and time.time() - int(match.group(1)) > STALE_S:
            name = line.split()[0]
            for pid in ip("netns", "pids", name, check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            ip("netns", "del", name, check=False)
            print(f"removed the leftover namespace {name}", flush=True)


def skip_reason():
    """Why this machine cannot run the test, or None."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)"
    for tool in ("ip", "ss"):
        if shutil.which(tool) is None:
            return f"'{tool}' (iproute2) is not installed"
    network = root_network()
    if any(f" {SUBNET}." in a for a in network["addresses"]) or \
            any(r.startswith(f"{SUBNET}.") for r in network["routes"]):
        return f"this host already uses {SUBNET}.0/24"
    remove_stale_namespaces()
    probe = f"{NS_PREFIX}{int(time.time())}-{os.getpid()}-probe"
    try:
        ip("netns", "add", probe)
        ip("-n", probe, "link", "add", "br0", "type", "bridge")
        ip("-n", probe, "link", "add", "name", "veth0", "type", "veth", "peer", "name", "veth1")
        ip("-n", probe, "link", "set", "veth1", "master", "br0")
    except subprocess.CalledProcessError as e:
        return f"`{' '.join(e.cmd)}` failed: {e.stderr.strip()}"
    finally:
        ip("netns", "del", probe, check=False)
    return None


class Network:
    """The namespaces of the topology above; delete() is idempotent."""

    def __init__(self):
        tag = f"{NS_PREFIX}{int(time.time())}-{os.getpid()}-"
        self.names = {host: tag + host for host in ["hub", *HOSTS]}
        self.created = []

    def create(self):
        hub = self.names["hub"]
        self._add(hub)
        ip("-n", hub, "link", "add", "br0", "type", "bridge")
        ip("-n", hub, "link", "set", "br0", "up")
        for host, last in HOSTS.items():
            ns = self.names[host]
            self._add(ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "add", "name", "eth0", "type", "veth", "peer", "name", host,
               "netns", hub)
            ip("-n", ns, "addr", "add", f"{SUBNET}.{last}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", hub, "link", "set", host, "master", "br0", "up")
        print(f"network: namespaces {', '.join(self.created)}", flush=True)

    def _add(self, name):
        ip("netns", "add", name)
        self.created.append(name)

    def delete(self):
        """Deletes the namespaces (and with them the veths). Kill the
        processes in them first, or a namespace outlives its name."""
        while self.created:
            ip("netns", "del", self.created.pop(), check=False)

    def argv(self, host, argv):
        return ["ip", "netns", "exec", self.names[host], *argv]

    def run(self, host, *argv):
        """Runs a short command on a host; returns stdout."""
        return subprocess.run(self.argv(host, list(argv)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=30, check=True).stdout

    def set_port(self, host, up):
        """Plugs (up) or pulls (down) the host's cable at the bridge."""
        ip("-n", self.names["hub"], "link", "set", host, "up" if up else "down")

    def port_bytes(self, host):
        stats = json.loads(ip("-n", self.names["hub"], "-s", "-j", "link", "show", "dev",
                              host))[0]["stats64"]
        return stats["rx"]["bytes"] + stats["tx"]["bytes"]


class Server:
    """adamasync-server shard `shard` of 2 on host s<shard>."""

    def __init__(self, env, net, shard):
        self.shard = shard
        self.host = f"s{shard}"
        self.address = f"{SUBNET}.{HOSTS[self.host]}:{PORT}"
        self.checkpoint_dir = env.path(f"ckpt{shard}")
        self.log_path = env.path(f"server{shard}-{len(env.processes)}.log")
        port_file = env.path(f"port{shard}-{len(env.processes)}")
        cmd = [env.binary("server/adamasync-server"),
               f"--listen={self.address}", f"--port_file={port_file}",
               "--plaintext", f"--shard_index={shard}", "--num_shards=2",
               f"--checkpoint_dir={self.checkpoint_dir}", "--checkpoint_interval_s=0.2",
               "--keep_checkpoints=3"]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(net.argv(self.host, cmd), stdout=log,
                                            stderr=subprocess.STDOUT,
                                            preexec_fn=_die_with_parent)
        env.processes.append(self.process)
        deadline = time.time() + 60
        while not os.path.exists(port_file):
            if self.process.poll() is not None:
                raise t.TestFailure(f"server {shard} exited {self.process.returncode} at "
                                    f"start:\n{self.log_text()}")
            t.check(time.time() < deadline, f"server {shard} did not start in 60 s")
            time.sleep(0.02)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM (drain, final checkpoint); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        return self.process.returncode

    def kill(self):
        """SIGKILL: no draining, no final checkpoint."""
        self.process.kill()
        self.process.wait(30)


def start_worker(env, net, index):
    cmd = [env.binary("worker/adamasync-worker"), f"--servers={SERVERS}", "--plaintext",
           f"--worker_index={index}", "--num_workers=2", "--model=mlp",
           f"--max_steps={ARGS.steps}", "--deadline_s=60", "--eval_interval_s=0",
           "--log_interval_s=5"]
    p = subprocess.Popen(net.argv(f"w{index}", cmd), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent)
    env.processes.append(p)
    return p


def status(env, net, expect_ok=True):
    """`adamasync-ctl status --json` from the ops host: (exit code, report).
    With expect_ok=False a shard may be unreachable (1 s per call)."""
    cmd = [env.binary("ctl/adamasync-ctl"), "status", "--json", f"--servers={SERVERS}",
           "--plaintext"] + ([] if expect_ok else ["--deadline_s=1"])
    result = subprocess.run(net.argv("ops", cmd), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=120)
    if expect_ok and result.returncode != 0:
        raise t.TestFailure(f"adamasync-ctl status exited {result.returncode}:\n"
                            f"{result.stdout}\n{result.stderr}")
    return result.returncode, json.loads(result.stdout)


def table_versions(report):
    """{table: [version per shard, None for an empty part or a shard down]}."""
    return {tb["name"]: [None if e else v for v, e in zip(tb["versions"], tb["part_empty"])]
            for tb in report["tables"]}


def wait_for(env, net, workers, what, condition):
    """Polls status until condition(versions of TABLE per shard) holds."""
    deadline = time.time() + 120
    while True:
        # None until the workers have created the table on that shard.
        vs = [v or 0 for v in table_versions(status(env, net)[1]).get(TABLE, [0, 0])]
        if condition(vs):
            return vs
        t.check(time.time() < deadline, f"training did not reach {what} (at {vs})")
        t.check(all(w.poll() is None for w in workers), f"a worker ended before {what}")
        time.sleep(0.05)


def ipv4(endpoint):
    """`ss`'s "[::ffff:10.77.0.1]:7000" (gRPC's dual-stack sockets) as "10.77.0.1:7000"."""
    return re.sub(r"^\[::ffff:([0-9.]+)\]", r"\1", endpoint)


def check_listeners_and_connections(net):
    """Each server listens on its own address only; each worker talks to both
    servers from its own address, and to nothing else."""
    for host in ("s0", "s1"):
        listening = {ipv4(line.split()[3])
                     for line in net.run(host, "ss", "-Hltn").splitlines()}
        t.check(listening == {f"{SUBNET}.{HOSTS[host]}:{PORT}"},
                f"{host} listens on {sorted(listening)}")
    for host in ("w0", "w1"):
        pairs = {tuple(map(ipv4, line.split()[2:4]))
                 for line in net.run(host, "ss", "-Htn", "state", "established").splitlines()}
        t.check({peer for _, peer in pairs} == set(SERVERS.split(",")),
                f"{host}'s connections: {sorted(pairs)}")
        t.check(all(local.startswith(f"{SUBNET}.{HOSTS[host]}:") for local, _ in pairs),
                f"{host}'s connections: {sorted(pairs)}")


def check_root_untouched(env, servers, before):
    """The namespace the test runs in got no link, address or route, and
    cannot reach a server. (A bare TCP connect is no proof: a sandbox's
    egress proxy may accept connections to any address, so adamasync-ctl
    must fail to get an answer.)"""
    after = root_network()
    t.check(after == before, f"the test's namespace changed: {before} -> {after}")
    t.check(not any(SUBNET + "." in line for line in after["addresses"] + after["routes"]),
            f"the test's namespace has an address or route in {SUBNET}.0/24: {after}")
    result = env.ctl("status", "--json", "--deadline_s=1", servers=servers, expect_ok=False)
    t.check(result.returncode == 1 and
            not any(s["ok"] for s in json.loads(result.stdout)["shards"]),
            f"a server answered outside its namespaces:\n{result.stdout}{result.stderr}")


def cut_link(env, net, workers):
    """Pulls s1's cable for --cut_s seconds; checks that training stalled and
    then resumed."""
    at_cut = wait_for(env, net, workers, "a quarter of the pushes on shard 1",
                      lambda vs: vs[1] >= ARGS.steps // 2)
    check_listeners_and_connections(net)
    net.set_port("s1", False)
    cut_at = time.time()
    print(f"cut s1's link when shard 1 had applied about {at_cut[1]} pushes of {TABLE}",
          flush=True)
    # Shard 0's version once the pushes in flight at the cut have landed, and
    # again before the link comes back (each call waits 1 s for shard 1).
    frozen = []
    for at in (1, ARGS.cut_s - 1):
        time.sleep(max(0.0, cut_at + at - time.time()))
        code, report = status(env, net, expect_ok=False)
        t.check(code == 1 and report["shards"][0]["ok"] and not report["shards"][1]["ok"],
                f"with s1's link down the ops host sees shards ok = "
                f"{[s['ok'] for s in report['shards']]}")
        frozen.append(table_versions(report)[TABLE][0])
    t.check(frozen[1] - frozen[0] <= SLACK,
            f"shard 0 went from {frozen[0]} to {frozen[1]} while shard 1 was cut off")
    time.sleep(max(0.0, cut_at + ARGS.cut_s - time.time()))
    net.set_port("s1", True)
    restored_at = time.time()
    wait_for(env, net, workers, "progress after the link came back",
             lambda vs: vs[0] > frozen[1] + 2 * SLACK)
    print(f"s1's link was down {restored_at - cut_at:.1f} s (shard 0 stood at {frozen[1]}); "
          f"training resumed within {time.time() - restored_at:.1f} s", flush=True)


def kill_and_restart(env, net, workers, servers):
    """Kills shard 0 once it has a checkpoint and half of the pushes, restarts
    it; returns (restored file, its versions per table, K)."""
    wait_for(env, net, workers, "half of the pushes on shard 0",
             lambda vs: vs[0] >= ARGS.steps and os.path.isdir(servers[0].checkpoint_dir)
             and t.checkpoint_files(servers[0].checkpoint_dir, 0, 2))
    servers[0].kill()
    snapshot = env.path("shard0-at-kill")
    shutil.copytree(servers[0].checkpoint_dir, snapshot)
    files = t.checkpoint_files(snapshot, 0, 2)
    t.check(files, "shard 0 wrote no checkpoint before the kill")
    inspected = json.loads(env.ctl("inspect", "--json", os.path.join(snapshot, files[-1])).stdout)
    restored = {tb["name"]: tb["max_version"] for tb in inspected["tables"]
                if tb["part_end"] > tb["part_begin"]}
    time.sleep(0.3)  # let the pushes in flight at the kill reach shard 1
    code, report = status(env, net, expect_ok=False)
    t.check(code == 1 and not report["shards"][0]["ok"], "shard 0 should be down")
    k = table_versions(report)[TABLE][1]
    print(f"killed shard 0 when shard 1 had applied {k} pushes of {TABLE}", flush=True)
    time.sleep(1)
    servers[0] = Server(env, net, 0)
    return files[-1], restored, k


def train(env, net, root_before):
    servers = [Server(env, net, i) for i in range(2)]
    workers = [start_worker(env, net, i) for i in range(2)]
    cut_link(env, net, workers)
    restored_file, restored, k = kill_and_restart(env, net, workers, servers)
    results = [t.finish_worker(w, timeout=ARGS.timeout_s) for w in workers]
    total = sum(r["steps"] for r in results)
    t.check(total == 2 * ARGS.steps, f"workers ran {total} steps")
    t.check_restart_accounting(status(env, net)[1], killed=0, survivor=1,
                               survivor_role="link cut", total=total,
                               restored_file=restored_file, restored=restored, k=k,
                               killed_log=servers[0].log_text(), slack=SLACK)
    accuracy = max(results, key=lambda r: r["finished_at"])["test_accuracy"]
    print(f"final model accuracy {accuracy:.4f}", flush=True)
    t.check(accuracy >= ARGS.min_accuracy,
            f"final model accuracy {accuracy:.4f} < {ARGS.min_accuracy}")
    traffic = {h: net.port_bytes(h) for h in ("s0", "s1")}
    t.check(all(b > 10 << 20 for b in traffic.values()),
            f"bytes through the servers' bridge ports: {traffic}")
    print(f"bytes through the servers' bridge ports: {traffic}", flush=True)
    check_root_untouched(env, servers, root_before)
    for s in servers:
        code = s.stop()
        t.check(code == 0, f"server {s.shard} exited {code} on SIGTERM")


def body(env):
    before = root_network()
    net = Network()
    atexit.register(net.delete)
    started = time.time()
    try:
        net.create()
        train(env, net, before)
    except subprocess.CalledProcessError as e:
        raise t.TestFailure(f"`{' '.join(e.cmd)}` exited {e.returncode}: {e.stderr}")
    finally:
        # Interrupts now would only cut the cleanup short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        signal.alarm(0)
        for p in env.processes:
            if p.poll() is None:
                p.kill()
                p.wait()
        net.delete()
    print(f"netns_multihost: {time.time() - started:.1f} s", flush=True)


def _interrupted(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _timed_out(_signum, _frame):
    raise t.TestFailure(f"the test ran longer than --timeout_s={ARGS.timeout_s}")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("build_dir", nargs="?")
    parser.add_argument("--steps", type=int, default=938, help="steps per worker (2 epochs)")
    parser.add_argument("--cut_s", type=float, default=4,
                        help="seconds s1's link is down (>= 3; below --deadline_s=60)")
    parser.add_argument("--min_accuracy", type=float, default=0.80)
    parser.add_argument("--timeout_s", type=int, default=240,
                        help="fail and clean up after this long (below ctest's TIMEOUT, "
                             "which kills without cleanup)")
    ARGS = parser.parse_args()
    if ARGS.cut_s < 3:
        parser.error("--cut_s must be >= 3: shard 0 is read twice during the cut, at 1 s and "
                     "at cut_s - 1 s, each read taking 1 s")
    sys.argv = sys.argv[:1] + ([ARGS.build_dir] if ARGS.build_dir else [])
    reason = skip_reason()
    if reason:
        print(f"SKIPPED: netns_multihost_test: {reason}", flush=True)
        return SKIP
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(ARGS.timeout_s)
    try:
        return t.main("netns_multihost", body)
    except KeyboardInterrupt as e:
        print(f"INTERRUPTED ({e}): processes stopped, namespaces deleted", flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
