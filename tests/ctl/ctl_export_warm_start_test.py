#!/usr/bin/env python3
"""adamasync-ctl export / warm-start, with real processes on loopback.

1. 2 shards; a worker trains the MLP for 50 steps; `export` from the live
   servers writes E1.
2. 2 fresh shards; `warm-start --in=E1` creates every table and writes its
   parameters; `export` again writes E2, which must equal E1 byte for byte
   (the tensors and the metadata: specs survive the round trip), and every
   table must still be at version 0 (a warm start is not a push).
3. Refusals, each with a non-zero exit and the reason: a warm start into the
   trained cluster (FAILED_PRECONDITION, nothing written: its export is still
   E1), a spec that differs from the existing table's (ALREADY_EXISTS),
   safetensors files with overlapping tensors or an F16 tensor
   (INVALID_ARGUMENT), and --with_moments from live servers (usage).

  ctl_export_warm_start_test.py BUILD_DIR
"""

import struct
import sys

import ctl_testing as t


def body(env):
    trained = [t.Server(env, i, 2) for i in range(2)]
    result = env.run_worker(trained, flags=["--max_steps=50"])
    t.check(result["steps"] == 50, f"worker ran {result['steps']} steps")
    e1 = env.path("e1.safetensors")
    env.ctl("export", f"--out={e1}", servers=trained)
    metadata, tensors = t.read_safetensors(e1)
    t.check(len(tensors) == 6, f"expected the MLP's 6 tables, got {sorted(tensors)}")
    t.check(all(f"adamasync.spec.{name}" in metadata for name in tensors),
            f"a table's spec is missing from the metadata: {metadata}")

    fresh = [t.Server(env, i, 2) for i in range(2)]
    out = env.ctl("warm-start", f"--in={e1}", servers=fresh).stdout
    t.check("warm start done: 6 table(s)" in out, out)
    e2 = env.path("e2.safetensors")
    env.ctl("export", f"--out={e2}", servers=fresh)
    with open(e1, "rb") as a, open(e2, "rb") as b:
        t.check(a.read() == b.read(), "the re-exported file differs from the exported one")
    for name, vs in t.versions(env.status(fresh)).items():
        t.check(all(v == 0 for v in vs), f"table {name} at versions {vs} after a warm start")
    print("export -> warm-start -> export: identical bytes", flush=True)

    # Refused: the trained cluster's tables have updates.
    r = env.ctl("warm-start", f"--in={e1}", servers=trained, expect_ok=False)
    t.check(r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr and
            "already been trained" in r.stderr, f"warm start into trained tables: {r.stderr}")
    e3 = env.path("e3.safetensors")
    env.ctl("export", f"--out={e3}", servers=trained)
    with open(e1, "rb") as a, open(e3, "rb") as b:
        t.check(a.read() == b.read(), "a refused warm start changed parameters")

    # Refused: another spec for an existing table.
    r = env.ctl("warm-start", f"--in={e1}", "--tables=mlp/layer3/bias", "--lr=0.01",
                servers=fresh, expect_ok=False)
    t.check(r.returncode == 1 and "ALREADY_EXISTS" in r.stderr, f"other spec: {r.stderr}")

    # Refused: malformed files, before anything is sent.
    one = struct.pack("<2f", 1.0, 2.0)
    overlap = env.path("overlap.safetensors")
    t.write_safetensors(overlap, {"a": ([2], one), "b": ([2], one)})
    with open(overlap, "r+b") as f:  # point b at a's bytes
        data = f.read().replace(b'"data_offsets": [8, 16]', b'"data_offsets": [4, 12]')
        f.seek(0)
        f.write(data)
    r = env.ctl("warm-start", f"--in={overlap}", servers=fresh, expect_ok=False)
    t.check(r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr and "overlap" in r.stderr,
            f"overlapping tensors: {r.stderr}")
    f16 = env.path("f16.safetensors")
    t.write_safetensors(f16, {"h": ([2], one)})
    with open(f16, "r+b") as f:
        data = f.read().replace(b'"F32"', b'"F16"')
        f.seek(0)
        f.write(data)
    r = env.ctl("warm-start", f"--in={f16}", servers=fresh, expect_ok=False)
    t.check(r.returncode == 1 and "only F32" in r.stderr, f"F16 tensor: {r.stderr}")
    r = env.ctl("export", f"--out={e3}", "--with_moments", servers=trained, expect_ok=False)
    t.check(r.returncode == 2 and "--from_checkpoint_dir" in r.stderr, f"moments: {r.stderr}")

    for s in trained + fresh:
        t.check(s.stop() == 0, f"server {s.shard} did not stop cleanly")


if __name__ == "__main__":
    sys.exit(t.main("ctl_export_warm_start", body))
