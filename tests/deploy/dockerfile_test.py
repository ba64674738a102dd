#!/usr/bin/env python3
"""Checks the Dockerfiles as far as possible without a Docker engine.

usage: dockerfile_test.py --server=PATH/adamasync-server --worker=PATH/adamasync-worker
                          [--ctl=PATH/adamasync-ctl]

For deploy/docker/Dockerfile (Debian 12, like this machine):
  * build stage: its `cmake` configure options configure this checkout
    (into a scratch directory), and `cmake --build --target ...` names
    targets that exist;
  * the runtime stage copies files the build produces (its COPY --from=build
    paths, relative to the build directory, are build outputs);
  * the runtime stage's apt packages provide every shared library the built
    binaries link: ldd of the binaries, `dpkg -S` for the owning package,
    and that package must be in the runtime package list or its Depends
    closure (or in debian:bookworm-slim itself);
  * every runtime package exists in Debian 12's archive (apt-cache).
For Dockerfile.cuda (Ubuntu-based, never built here) only the COPY paths are
checked; its package names cannot be checked on Debian.
"""

import argparse
import os
import re
import shlex
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_testing as dt  # noqa: E402

# Packages every debian:bookworm-slim container already has (Essential,
# plus apt's own dependencies).
SLIM_BASE = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def instructions(path):
    """[(INSTRUCTION, rest)] with continuation lines joined, comments dropped."""
    with open(path) as f:
        lines = [ln for ln in f.read().splitlines() if not ln.lstrip().startswith("#")]
    text = "\n".join(lines).replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Z]+)\s+(.*)$", line)
        if m:
            out.append((m.group(1), m.group(2).strip()))
    return out


def stages(path):
    """{stage name: [(INSTRUCTION, rest)]}; the last stage is also 'final'."""
    result, current = {}, None
    for ins, rest in instructions(path):
        if ins == "FROM":
            m = re.search(r"\bAS\s+(\S+)", rest, re.IGNORECASE)
            current = m.group(1) if m else f"stage{len(result)}"
            result[current] = []
            result["final"] = result[current]
        elif current:
            result[current].append((ins, rest))
    return result


def commands(run_text):
    """The `&&`-separated commands of a RUN, each as a token list."""
    tokens = shlex.split(run_text)
    out, cur = [], []
    for t in tokens:
        if t in ("&&", ";", "||"):
            out.append(cur)
            cur = []
        else:
            cur.append(t)
    out.append(cur)
    return [c for c in out if c]


def apt_packages(stage):
    pkgs = []
    for ins, rest in stage:
        if ins != "RUN":
            continue
        for cmd in commands(rest):
            if cmd[:2] == ["apt-get", "install"]:
                pkgs += [t for t in cmd[2:] if not t.startswith("-")]
    return pkgs


def copied_build_outputs(stage, build_dir):
    """Paths, relative to build_dir, that COPY --from=build takes."""
    out = []
    for ins, rest in stage:
        if ins == "COPY" and "--from=build" in rest:
            srcs = [t for t in shlex.split(rest) if not t.startswith("--")][:-1]
            out += [os.path.relpath(s, build_dir) for s in srcs]
    return out


def check_build_stage(name, stage, errors):
    """Configures this checkout with the stage's cmake options."""
    configure = build = None
    for ins, rest in stage:
        if ins != "RUN":
            continue
        for cmd in commands(rest):
            if cmd[:1] == ["cmake"] and "-S" in cmd:
                configure = cmd
            elif cmd[:2] == ["cmake", "--build"]:
                build = cmd
    if not configure or not build:
        errors.append(f"{name}: no `cmake -S ... -B ...` and `cmake --build` in the build stage")
        return None, []
    build_dir = configure[configure.index("-B") + 1]
    options = []
    for i, t in enumerate(configure):
        if t.startswith("-D"):
            options.append(t)
        elif t == "-G":
            options += configure[i:i + 2]
    targets = build[build.index("--target") + 1:] if "--target" in build else []
    return build_dir, (options, targets)


def ldd_packages(binaries, errors):
    """{package: {library}} owning each shared library the binaries link."""
    libs = set()
    for binary in binaries:
        r = dt.run(["ldd", binary])
        if r.returncode != 0:
            errors.append(f"ldd {binary} failed: {r.stderr.strip()}")
        libs |= set(re.findall(r"=>\s+(\S+)", r.stdout))
    # dpkg knows a file by the path its package ships it under: with merged
    # /usr, /lib/x/libz.so.1 and /usr/lib/x/libz.so.1 are one file.
    aliases = {}
    for lib in sorted(libs):
        if "/cuda" in lib:
            print(f"note: {os.path.basename(lib)} comes from the CUDA toolkit; the CPU "
                  f"image builds without CUDA")
            continue
        for p in {lib, os.path.realpath(lib)}:
            for alias in (p, p[len("/usr"):] if p.startswith("/usr/lib/") else "/usr" + p):
                aliases[alias] = lib
    # One dpkg -S for all (it exits 1 when some alias is unknown, as most are).
    r = dt.run(["dpkg", "-S"] + sorted(aliases))
    owners, owned = {}, set()
    for line in r.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        if path in aliases:
            for pkg in pkgs.split(", "):
                owners.setdefault(pkg.split(":")[0], set()).add(os.path.basename(aliases[path]))
            owned.add(aliases[path])
    for lib in sorted(set(aliases.values()) - owned):
        errors.append(f"no Debian package owns {lib}")
    return owners


def depends_closure(packages):
    """packages plus everything they depend on, per dpkg's status file."""
    r = dt.run(["dpkg-query", "-W", "-f=${Package}\t${Pre-Depends}, ${Depends}\n"])
    deps = {}
    for line in r.stdout.splitlines():
        name, _, rest = line.partition("\t")
        names = (re.sub(r"\(.*?\)|:\S+", "", alt).strip() for alt in re.split(r"[,|]", rest))
        deps[name] = [n for n in names if n]
    seen, todo = set(), list(packages)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += deps.get(p, [])
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--worker", required=True)
    parser.add_argument("--ctl", default=None)
    args = parser.parse_args()
    for tool in ("cmake", "ldd", "dpkg", "dpkg-query"):
        if not shutil.which(tool):
            dt.skip(f"{tool} is not installed")
    errors = []
    with tempfile.TemporaryDirectory(prefix="adamasync-docker-configure-") as scratch:
        # The CPU image's build stage, configured for real.
        cpu = stages(os.path.join(dt.DOCKER_DIR, "Dockerfile"))
        build_dir, plan = check_build_stage("Dockerfile", cpu.get("build", []), errors)
        outputs = set()
        if plan:
            options, targets = plan
            r = dt.run(["cmake", "-S", dt.REPO_ROOT, "-B", scratch] + options)
            if r.returncode != 0:
                errors.append(f"Dockerfile: cmake {' '.join(options)} fails:\n"
                              f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
            else:
                print(f"ok: Dockerfile build stage configures: cmake {' '.join(options)}")
                # A dry run (-n): the targets exist and their build graph is complete.
                r = dt.run(["cmake", "--build", scratch, "--target"] + targets + ["--", "-n"])
                if r.returncode != 0:
                    errors.append(f"Dockerfile: cmake --build --target {' '.join(targets)} "
                                  f"fails:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
                r = dt.run(["ninja", "-C", scratch, "-t", "targets", "all"])
                outputs = {ln.split(":")[0] for ln in r.stdout.splitlines()}
        for name in ("Dockerfile", "Dockerfile.cuda"):
            st = stages(os.path.join(dt.DOCKER_DIR, name))
            bdir = check_build_stage(name, st.get("build", []), errors)[0] or build_dir
            copied = copied_build_outputs(st["final"], bdir)
            if not copied:
                errors.append(f"{name}: the runtime stage copies nothing from the build stage")
            for rel in copied:
                if outputs and rel not in outputs:
                    errors.append(f"{name}: COPY --from=build takes {bdir}/{rel}, which the "
                                  f"build does not produce")
            print(f"ok: {name} copies {', '.join(copied)} from {bdir}")

    # Runtime packages of the CPU image against what the binaries link.
    listed = apt_packages(cpu["final"])
    closure = depends_closure(listed) | SLIM_BASE
    owners = ldd_packages([args.server, args.worker] + ([args.ctl] if args.ctl else []), errors)
    print(f"ok: the binaries link libraries from {' '.join(sorted(owners))}")
    for pkg, libs in sorted(owners.items()):
        if pkg not in closure:
            errors.append(f"Dockerfile: the binaries link {', '.join(sorted(libs))} from {pkg}, "
                          f"which the runtime stage does not install")
    have_lists = "Candidate: (none)" not in dt.run(["apt-cache", "policy", "bash"]).stdout
    for pkg in listed:
        if not have_lists:
            break
        r = dt.run(["apt-cache", "policy", pkg])
        if "Candidate:" not in r.stdout or "Candidate: (none)" in r.stdout:
            errors.append(f"Dockerfile: runtime package {pkg} is not in Debian 12's archive")
    if not have_lists:
        print("note: no apt lists here (apt-get update not run): package names not looked up")
    print(f"ok: runtime packages: {' '.join(listed)}")
    dt.fail(errors)


if __name__ == "__main__":
    main()
