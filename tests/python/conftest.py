"""Fixtures for the Python SDK tests: real adamasync-server processes.

The server binary is $ADAMASYNC_SERVER, else build/server/adamasync-server
in this checkout (scripts/build.sh makes it). Each cluster's servers listen
on free loopback ports (--listen=127.0.0.1:0 --port_file=...) and are
stopped with SIGTERM at the end of the session. Tests share clusters and
keep apart by giving every table a fresh name (the `table_name` fixture).
"""

import itertools
import os
import signal
import subprocess
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.environ.get("ADAMASYNC_SERVER",
                        os.path.join(ROOT, "build", "server", "adamasync-server"))


def _transport_flags():
    """--plaintext where the server has that flag (servers that support TLS
    refuse to start without TLS files or it); nothing for older servers."""
    result = subprocess.run([SERVER, "--helpfull"], capture_output=True, text=True, timeout=30)
    return ["--plaintext"] if "-plaintext" in result.stdout + result.stderr else []


class Cluster:
    """`num_shards` adamasync-server processes on loopback."""

    def __init__(self, num_shards, work_dir):
        transport = _transport_flags()
        self.processes = []
        self.addresses = []
        port_files = []
        for i in range(num_shards):
            port_file = os.path.join(work_dir, f"shard{i}.port")
            log = open(os.path.join(work_dir, f"shard{i}.log"), "w")
            self.processes.append(subprocess.Popen(
                [SERVER, "--listen=127.0.0.1:0", f"--port_file={port_file}",
                 f"--shard_index={i}", f"--num_shards={num_shards}", "--log_level=warn",
                 "--shutdown_grace_s=2", *transport],
                stdout=log, stderr=subprocess.STDOUT))
            port_files.append(port_file)
        deadline = time.monotonic() + 30
        for proc, port_file in zip(self.processes, port_files):
            while not os.path.exists(port_file) or not open(port_file).read().strip():
                if proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"adamasync-server exited with {proc.returncode}; "
                                       f"see {work_dir}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("adamasync-server did not start within 30 s")
                time.sleep(0.02)
            self.addresses.append(f"127.0.0.1:{open(port_file).read().strip()}")

    def stop(self):
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _start(num_shards, tmp_path_factory):
    if not os.access(SERVER, os.X_OK):
        pytest.fail(f"no adamasync-server at {SERVER}: run scripts/build.sh or set "
                    f"ADAMASYNC_SERVER", pytrace=False)
    return Cluster(num_shards, str(tmp_path_factory.mktemp(f"cluster{num_shards}")))


@pytest.fixture(scope="session")
def one_shard(tmp_path_factory):
    """Addresses of a 1-shard cluster."""
    cluster = _start(1, tmp_path_factory)
    yield cluster.addresses
    cluster.stop()


@pytest.fixture(scope="session")
def two_shards(tmp_path_factory):
    """Addresses of a 2-shard cluster."""
    cluster = _start(2, tmp_path_factory)
    yield cluster.addresses
    cluster.stop()


_names = itertools.count()
_run = uuid.uuid4().hex[:8]


@pytest.fixture
def table_name(request):
    """A table name no other test uses: name_of_the_test/run/N."""
    base = request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:80]
    return f"{base}/{_run}/{next(_names)}"
