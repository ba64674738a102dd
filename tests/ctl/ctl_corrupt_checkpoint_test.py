#!/usr/bin/env python3
"""Corrupt checkpoint files on disk: detected, refused, the previous one
restored; `adamasync-ctl inspect` reports the corruption with a non-zero
exit.

One shard, checkpoints written by `checkpoint` cuts and at shutdown:
1. A worker trains 20 steps; `checkpoint --id=1` writes file 1 (version 20)
   and its manifest; `export` records the parameters (E1). 20 more steps;
   SIGTERM writes file 2 (version 40).
2. One byte in the middle of file 2 is flipped. `inspect` fails naming a
   checksum mismatch. Restarted, the server logs file 2 as rejected and
   restores file 1: restored_from, version 20, parameters = E1.
3. SIGTERM writes file 3 (the restored state); it is truncated to half.
   `inspect` fails; restarted, the server rejects files 3 and 2 and
   restores file 1 again.
4. A byte of file 1 is flipped: `inspect` of the cut's manifest fails (the
   file no longer matches the size and XXH64 the manifest records), and a
   restart refuses to start empty: every file is rejected (DATA_LOSS,
   exit 1).

  ctl_corrupt_checkpoint_test.py BUILD_DIR
"""

import os
import sys

import ctl_testing as t


def flip_byte(path, where=0.5):
    with open(path, "r+b") as f:
        size = os.path.getsize(path)
        f.seek(int(size * where))
        b = f.read(1)
        f.seek(int(size * where))
        f.write(bytes([b[0] ^ 0x5A]))


def check_restored_first(env, server, first):
    status = env.status([server])
    t.check(status["shards"][0]["restored_from"] == first,
            f"restored {status['shards'][0]['restored_from']!r}, expected {first}")
    for name, vs in t.versions(status).items():
        t.check(vs == [20], f"table {name} restored at {vs}, expected 20")


def body(env):
    ckpt = env.path("ckpt")
    server = t.Server(env, 0, 1, ckpt, flags=["--checkpoint_interval_s=0"])
    env.run_worker([server], flags=["--max_steps=20"])
    env.ctl("checkpoint", "--id=1", servers=[server])
    e1 = env.path("e1.safetensors")
    env.ctl("export", f"--out={e1}", servers=[server])
    env.run_worker([server], flags=["--max_steps=20"])
    t.check(server.stop() == 0, "stop")
    files = t.checkpoint_files(ckpt)
    t.check(len(files) == 2, f"expected the cut's file and the shutdown one: {files}")
    first, second = files

    # A flipped byte.
    flip_byte(os.path.join(ckpt, second))
    r = env.ctl("inspect", os.path.join(ckpt, second), expect_ok=False)
    t.check(r.returncode == 1 and "DATA_LOSS" in r.stderr and "checksum mismatch" in r.stderr,
            f"inspect of the flipped file: {r.stderr}")
    server = server.restart()
    check_restored_first(env, server, first)
    log = server.log_text()
    t.check(f"checkpoint {second} rejected" in log and "checksum mismatch" in log,
            f"the server did not log the rejected file:\n{log}")
    e2 = env.path("e2.safetensors")
    env.ctl("export", f"--out={e2}", servers=[server])
    with open(e1, "rb") as a, open(e2, "rb") as b:
        t.check(a.read() == b.read(), "parameters differ from the previous good checkpoint's")
    print(f"flipped byte in {second}: detected, previous {first} restored", flush=True)

    # A truncated file.
    t.check(server.stop() == 0, "stop")
    third = t.checkpoint_files(ckpt)[-1]
    t.check(third not in (first, second),
            f"no file written at shutdown: {t.checkpoint_files(ckpt)}")
    path = os.path.join(ckpt, third)
    os.truncate(path, os.path.getsize(path) // 2)
    r = env.ctl("inspect", path, expect_ok=False)
    t.check(r.returncode == 1 and "DATA_LOSS" in r.stderr,
            f"inspect of the truncated file: {r.stderr}")
    server = server.restart(["--checkpoint_on_shutdown=false"])
    check_restored_first(env, server, first)
    log = server.log_text()
    t.check(f"checkpoint {third} rejected" in log and f"checkpoint {second} rejected" in log,
            f"the server did not log both rejected files:\n{log}")
    print(f"truncated {third}: detected, previous {first} restored", flush=True)

    # The cut's own file corrupted: the manifest check fails; nothing loads.
    t.check(server.stop() == 0, "stop")
    manifest = os.path.join(ckpt, f"manifest-{1:020d}.txt")
    env.ctl("inspect", manifest)
    flip_byte(os.path.join(ckpt, first), 0.9)
    r = env.ctl("inspect", manifest, expect_ok=False)
    t.check(r.returncode == 1 and "FAILED" in r.stdout and "DATA_LOSS" in r.stderr,
            f"inspect of the manifest: {r.stdout} {r.stderr}")
    try:
        server.restart()
        raise t.TestFailure("a server whose every checkpoint is corrupt started")
    except t.TestFailure as e:
        t.check("exited 1 at start" in str(e) and "DATA_LOSS" in str(e), str(e))


if __name__ == "__main__":
    sys.exit(t.main("ctl_corrupt_checkpoint", body))
