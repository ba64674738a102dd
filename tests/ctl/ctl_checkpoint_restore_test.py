#!/usr/bin/env python3
"""adamasync-ctl checkpoint (a consistent cut) and restoring it.

1. 2 shards sharing a checkpoint directory (no periodic checkpoints); a
   worker trains 50 steps; `checkpoint --id=ID` cuts; `status` gives the
   versions at the cut and `export` the parameters (E_cut). `inspect` of the
   manifest verifies both files; `inspect` of a file shows the cut's id.
2. The worker trains 20 more steps and a second cut (ID + 1) writes newer
   files; both servers are killed (SIGKILL); restarted with
   --restore_checkpoint_id=ID they must report exactly the first cut's
   versions (not the newer files'), restored_from naming its manifest, and
   export E_cut byte for byte.
3. `export --from_checkpoint_dir --checkpoint_id=ID` reads the cut's files
   directly: same tensors as E_cut, plus m and v with --with_moments and the
   step counts in the metadata.
4. That export (it records the initializers) warm-starts 2 fresh shards, on
   which a worker then trains: its CreateTable accepts the warm-started
   tables as the same specs.

  ctl_checkpoint_restore_test.py BUILD_DIR
"""

import sys

import ctl_testing as t

CUT_ID = 4242


def body(env):
    ckpt = env.path("ckpt")
    flags = ["--checkpoint_interval_s=0", "--checkpoint_on_shutdown=false"]
    servers = [t.Server(env, i, 2, ckpt, flags=flags) for i in range(2)]
    env.run_worker(servers, flags=["--max_steps=50"])
    out = env.ctl("checkpoint", f"--id={CUT_ID}", servers=servers).stdout
    t.check(f"checkpoint {CUT_ID}: consistent cut of 2 shard(s)" in out, out)
    cut_versions = t.versions(env.status(servers))
    t.check(all(v == [50] * len(v) for v in cut_versions.values()),
            f"versions at the cut: {cut_versions}")
    e_cut = env.path("cut.safetensors")
    env.ctl("export", f"--out={e_cut}", servers=servers)
    manifest = f"{ckpt}/manifest-{CUT_ID:020d}.txt"
    out = env.ctl("inspect", manifest).stdout
    t.check(out.count(" OK\n") == 2, f"manifest verification:\n{out}")
    shard1_file = t.checkpoint_files(ckpt, 1, 2)[-1]
    out = env.ctl("inspect", f"{ckpt}/{shard1_file}").stdout
    t.check(f"checkpoint id  {CUT_ID} (consistent cut)" in out and "shard          1 of 2" in out,
            out)

    env.run_worker(servers, flags=["--max_steps=20"])
    moved = t.versions(env.status(servers))
    t.check(all(v == [70] * len(v) for v in moved.values()), f"versions after more: {moved}")
    env.ctl("checkpoint", f"--id={CUT_ID + 1}", servers=servers)
    for s in servers:
        s.kill()

    servers = [s.restart([f"--restore_checkpoint_id={CUT_ID}"]) for s in servers]
    status = env.status(servers)
    t.check(t.versions(status) == cut_versions,
            f"restored versions {t.versions(status)} != the cut's {cut_versions}")
    for shard in status["shards"]:
        t.check(f"manifest-{CUT_ID:020d}.txt" in shard["restored_from"],
                f"restored_from: {shard['restored_from']!r}")
    e_restored = env.path("restored.safetensors")
    env.ctl("export", f"--out={e_restored}", servers=servers)
    with open(e_cut, "rb") as a, open(e_restored, "rb") as b:
        t.check(a.read() == b.read(), "restored parameters differ from those at the cut")
    print("restored the cut: same versions, same parameters", flush=True)

    e_files = env.path("files.safetensors")
    env.ctl("export", f"--out={e_files}", f"--from_checkpoint_dir={ckpt}",
            f"--checkpoint_id={CUT_ID}", "--with_moments")
    metadata, tensors = t.read_safetensors(e_files)
    _, cut_tensors = t.read_safetensors(e_cut)
    for name, raw in cut_tensors.items():
        t.check(tensors.get(name) == raw, f"{name}: checkpoint export differs from the live one")
        t.check(len(tensors.get(name + ".exp_avg", b"")) == len(raw) and
                len(tensors.get(name + ".exp_avg_sq", b"")) == len(raw), f"{name}: moments")
        t.check(metadata.get(f"adamasync.steps.{name}") == "min=50 max=50",
                f"{name}: steps {metadata.get(f'adamasync.steps.{name}')!r}")
        t.check("init=uniform" in metadata[f"adamasync.spec.{name}"], f"{name}: init recorded")
    t.check(metadata.get("adamasync.source") == f"checkpoint cut {CUT_ID}", str(metadata))

    fresh = [t.Server(env, i, 2) for i in range(2)]
    env.ctl("warm-start", f"--in={e_files}", servers=fresh)
    e_warm = env.path("warm.safetensors")
    env.ctl("export", f"--out={e_warm}", servers=fresh)
    _, warm = t.read_safetensors(e_warm)
    t.check(warm == cut_tensors, "warm-started parameters differ from the cut's")
    result = env.run_worker(fresh, flags=["--max_steps=5"])
    t.check(result["steps"] == 5, "a worker trains on the warm-started tables")
    t.check(all(v == [5] * len(v) for v in t.versions(env.status(fresh)).values()),
            "the worker's pushes continue from the warm-started tables")
    for s in servers + fresh:
        t.check(s.stop() == 0, f"server {s.shard} did not stop cleanly")


if __name__ == "__main__":
    sys.exit(t.main("ctl_checkpoint_restore", body))
