#!/usr/bin/env python3
"""The daemons' security settings, end to end with real processes.

  daemon_security_test.py --server=PATH/adamasync-server --worker=PATH/adamasync-worker

Checks: both daemons refuse to start with neither TLS flags nor --plaintext
(exit 2); a mutual-TLS server with a token table serves a worker holding the
admin token (which creates the tables) and then one holding a worker token
(which may not create tables and uses the existing ones); an unknown token
and a plaintext worker are refused; SIGHUP reloads the token table so a
removed token stops working at once; the server stops with exit 0 on
SIGTERM. Certificates are made with the openssl CLI in a temporary
directory. Exit 77 (skipped) when openssl or the Fashion-MNIST data is
missing.
"""

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_pki(d):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-days", "2", "-subj", "/CN=test-ca", "-keyout",
         "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE"], d)
    for name, ext in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                 "extendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        run(["openssl", "req", *ec, "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out",
             f"{name}.csr"], d)
        run(["openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext"], d)


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Failures:
    def __init__(self):
        self.items = []

    def check(self, ok, what):
        print(("ok:   " if ok else "FAIL: ") + what, flush=True)
        if not ok:
            self.items.append(what)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--worker", required=True)
    args = parser.parse_args()
    if shutil.which("openssl") is None or not os.path.isdir(DATA_DIR):
        print("skipped: needs the openssl CLI and", DATA_DIR)
        return 77
    f = Failures()

    # 1. No transport chosen: both daemons refuse, saying what to add.
    r = subprocess.run([args.server, "--listen=127.0.0.1:0"], capture_output=True, text=True,
                       timeout=30)
    f.check(r.returncode == 2 and "--plaintext" in r.stderr,
            f"server without TLS or --plaintext exits 2 (got {r.returncode})")
    r = subprocess.run([args.worker, "--servers=127.0.0.1:1"], capture_output=True, text=True,
                       timeout=30)
    f.check(r.returncode == 2 and "--plaintext" in r.stderr,
            f"worker without TLS or --plaintext exits 2 (got {r.returncode})")

    d = tempfile.mkdtemp(prefix="adamasync-daemon-sec-")
    server = None
    try:
        make_pki(d)
        admin, worker = secrets.token_hex(32), secrets.token_hex(32)
        table = os.path.join(d, "tokens")
        write(table, f"admin ops {admin}\nworker trainer {worker}\n")
        for name, token in (("admin.token", admin), ("worker.token", worker),
                            ("bogus.token", secrets.token_hex(32))):
            write(os.path.join(d, name), token + "\n")
        port_file = os.path.join(d, "port")
        log_path = os.path.join(d, "server.log")
        log = open(log_path, "w")
        server = subprocess.Popen(
            [args.server, "--listen=127.0.0.1:0", f"--port_file={port_file}",
             f"--tls_cert={d}/server.pem", f"--tls_key={d}/server.key",
             f"--tls_client_ca={d}/ca.pem", f"--token_file={table}", "--token_reload_s=0"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not os.path.exists(port_file) and server.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        if not os.path.exists(port_file):
            print(open(log_path).read())
            f.check(False, "the TLS server starts")
            return 1
        port = open(port_file).read().strip()

        def worker_run(token_file, *extra, tls=True, deadline_s=20):
            cmd = [args.worker, f"--servers=127.0.0.1:{port}", "--model=softmax",
                   "--max_steps=3", "--epochs=1", "--table_prefix=sec", f"--data_dir={DATA_DIR}",
                   f"--deadline_s={deadline_s}", f"--token_file={token_file}"]
            if tls:
                cmd += [f"--tls_ca={d}/ca.pem", f"--tls_cert={d}/client.pem",
                        f"--tls_key={d}/client.key"]
            else:
                cmd += ["--plaintext"]
            return subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=120)

        r = worker_run(os.path.join(d, "admin.token"))
        f.check(r.returncode == 0 and "final test_accuracy=" in r.stdout,
                f"a worker with the admin token trains over mutual TLS (exit {r.returncode}) "
                + r.stderr[-500:])
        r = worker_run(os.path.join(d, "worker.token"), "--worker_index=0")
        f.check(r.returncode == 0 and "final test_accuracy=" in r.stdout,
                f"a worker with a worker token uses the existing tables (exit {r.returncode}) "
                + r.stderr[-500:])
        r = worker_run(os.path.join(d, "worker.token"), "--table_prefix=other")
        f.check(r.returncode == 1 and "PERMISSION_DENIED" in r.stderr,
                f"a worker token may not create a new table (exit {r.returncode})")
        r = worker_run(os.path.join(d, "bogus.token"))
        f.check(r.returncode == 1 and "UNAUTHENTICATED" in r.stderr,
                f"an unknown token is refused (exit {r.returncode})")
        r = worker_run(os.path.join(d, "admin.token"), tls=False, deadline_s=3)
        f.check(r.returncode == 1, f"a plaintext worker cannot talk to the TLS server "
                                   f"(exit {r.returncode})")

        # Rotation: drop the worker token, SIGHUP, and it stops working.
        write(table, f"admin ops {admin}\n")
        server.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "SIGHUP: token file reloaded" not in open(log_path).read() and \
                time.time() < deadline:
            time.sleep(0.05)
        r = worker_run(os.path.join(d, "worker.token"))
        f.check(r.returncode == 1 and "UNAUTHENTICATED" in r.stderr,
                f"after SIGHUP the removed token is refused (exit {r.returncode})")
        server_log = open(log_path).read()
        f.check(admin not in server_log and worker not in server_log,
                "no token appears in the server's log")
        server.send_signal(signal.SIGTERM)
        f.check(server.wait(timeout=30) == 0, "the server stops with exit 0 on SIGTERM")
        server = None
    finally:
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(d, ignore_errors=True)
    if f.items:
        print("FAILED:\n  " + "\n  ".join(f.items))
        return 1
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
