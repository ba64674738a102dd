#!/usr/bin/env python3
"""A server killed (SIGKILL) while it writes a checkpoint restarts from the
previous good checkpoint; the interrupted one is ignored.

1. One shard with a checkpoint directory and a big table (BIG_ELEMENTS
   floats, warm-started, so its checkpoint takes a while to write) plus the
   MLP's tables (a worker trains 20 steps). `checkpoint --id=1` writes the
   first file; `export` records the parameters (E1).
2. The worker trains 20 more steps; `checkpoint --id=2` starts, and as soon
   as the new file's temp file has grown past a few MiB the server is
   killed. The ctl must fail (non-zero, the cut aborted) and no manifest of
   cut 2 may exist; `inspect` of the partial temp file fails.
3. Restarted, the server must restore the first file (restored_from, the
   MLP tables back at version 20, the log naming the removed temp file) and
   export E1 byte for byte.

Unit-level coverage of every crash stage of a write is in
tests/common/checkpoint_files_test.cc; this is the process-level case.

  ctl_crash_during_checkpoint_test.py BUILD_DIR
"""

import os
import struct
import subprocess
import sys
import time

import ctl_testing as t

BIG_ELEMENTS = 24 << 20  # 96 MiB of parameters, a 288 MiB checkpoint file


def body(env):
    ckpt = env.path("ckpt")
    server = t.Server(env, 0, 1, ckpt, flags=["--checkpoint_interval_s=0",
                                               "--checkpoint_on_shutdown=false"])
    big = env.path("big.safetensors")
    pattern = struct.pack("<8f", 0.5, -1.25, 3.0, 0.125, -7.5, 1e-3, 42.0, -0.0)
    t.write_safetensors(big, {"big/w": ([BIG_ELEMENTS], pattern * (BIG_ELEMENTS // 8))})
    env.ctl("warm-start", f"--in={big}", servers=[server])
    os.remove(big)
    env.run_worker([server], flags=["--max_steps=20"])
    env.ctl("checkpoint", "--id=1", servers=[server])
    first = t.checkpoint_files(ckpt)
    t.check(len(first) == 1, f"files after the first cut: {first}")
    e1 = env.path("e1.safetensors")
    env.ctl("export", f"--out={e1}", servers=[server])
    env.run_worker([server], flags=["--max_steps=20"])

    cut = subprocess.Popen([env.binary("ctl/adamasync-ctl"), "checkpoint", "--id=2",
                            f"--servers={server.address}", "--plaintext", "--deadline_s=2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    env.processes.append(cut)
    deadline = time.time() + 60
    killed_at = None
    while killed_at is None:
        for name in os.listdir(ckpt):
            if name.endswith(".ckpt.tmp"):
                try:
                    size = os.path.getsize(os.path.join(ckpt, name))
                except FileNotFoundError:
                    continue
                if size > (4 << 20):
                    server.kill()
                    killed_at = size
        t.check(time.time() < deadline and cut.poll() is None,
                "the second checkpoint finished (or failed) before it could be interrupted")
        time.sleep(0.001)
    out, err = cut.communicate(timeout=60)
    print(f"killed the server with {killed_at} bytes of the new file written; ctl said: "
          f"{err.strip()}", flush=True)
    t.check(cut.returncode == 1 and "checkpoint 2" in err,
            f"the interrupted cut must fail: {cut.returncode} {out} {err}")
    files = os.listdir(ckpt)
    t.check(t.checkpoint_files(ckpt) == first, f"files after the crash: {sorted(files)}")
    t.check(f"manifest-{2:020d}.txt" not in files, "cut 2 has a manifest")
    temp = [f for f in files if f.endswith(".tmp")]
    t.check(len(temp) == 1, f"expected the interrupted temp file: {sorted(files)}")
    r = env.ctl("inspect", os.path.join(ckpt, temp[0]), expect_ok=False)
    t.check(r.returncode == 1 and "DATA_LOSS" in r.stderr,
            f"inspect of the partial file: {r.stderr}")

    server = server.restart()
    status = env.status([server])
    t.check(status["shards"][0]["restored_from"] == first[0],
            f"restored {status['shards'][0]['restored_from']!r}, not {first[0]}")
    for name, vs in t.versions(status).items():
        expected = 0 if name == "big/w" else 20
        t.check(vs == [expected], f"table {name} restored at {vs}, expected {expected}")
    t.check("left by an interrupted checkpoint write" in server.log_text(),
            "the server did not report the interrupted write's temp file")
    t.check(not [f for f in os.listdir(ckpt) if f.endswith(".tmp")], "the temp file is still there")
    e2 = env.path("e2.safetensors")
    env.ctl("export", f"--out={e2}", servers=[server])
    with open(e1, "rb") as a, open(e2, "rb") as b:
        t.check(a.read() == b.read(), "restored parameters differ from the first checkpoint's")
    t.check(server.stop() == 0, "the server did not stop cleanly")


if __name__ == "__main__":
    sys.exit(t.main("ctl_crash_during_checkpoint", body))
