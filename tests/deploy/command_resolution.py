"""Turns a container's command into the daemon command lines it would run.

A container either runs a daemon directly (Compose `command:` lists, the
Dockerfiles' CMD) or through a small `sh -c` wrapper that computes flags
from the environment (the Kubernetes manifests). Wrappers are run for real,
with the container's environment (downward-API values replaced by what the
kubelet would put there) and with stand-ins for adamasync-server and
adamasync-worker first on PATH, which record their argv and exit: so shell
expansions, arithmetic and loops are evaluated by a real shell rather than
guessed, and `set -u` catches a variable the manifest never defines.
"""

import math
import os
import re
import shlex
import subprocess
import tempfile

from flag_check import BINARY_NAMES

SHELLS = ("sh", "bash", "dash")

_STAND_IN = """#!/bin/sh
# Stand-in for the real daemon: records its argv, NUL-separated, and exits.
f=$(mktemp "$ADAMASYNC_STAND_IN_OUT/call.XXXXXX")
printf '%s\\0' "${0##*/}" "$@" > "$f"
"""


def strip_init(argv):
    """Drops a leading init wrapper (`tini --`) from argv."""
    if argv and os.path.basename(argv[0]) == "tini":
        argv = argv[1:]
        if argv and argv[0] == "--":
            argv = argv[1:]
    return argv


def resolve(argv, env):
    """The daemon command lines argv runs: ([[program, arg, ...], ...], error).

    argv: the container's argv (entrypoint included); env: its environment.
    """
    argv = strip_init(list(argv))
    if not argv:
        return [], "empty command"
    prog = os.path.basename(argv[0])
    if prog in BINARY_NAMES:
        return [[prog] + argv[1:]], None
    if prog in SHELLS and "-c" in argv:
        return run_with_stand_ins(argv, env)
    return [], f"runs {argv[0]!r}, neither a daemon ({', '.join(BINARY_NAMES)}) nor sh -c"


def run_with_stand_ins(argv, env):
    """Runs a shell wrapper with stand-in daemons; returns (calls, error)."""
    with tempfile.TemporaryDirectory(prefix="adamasync-stand-in-") as tmp:
        bin_dir, out_dir = os.path.join(tmp, "bin"), os.path.join(tmp, "out")
        os.mkdir(bin_dir)
        os.mkdir(out_dir)
        for name in BINARY_NAMES:
            path = os.path.join(bin_dir, name)
            with open(path, "w") as f:
                f.write(_STAND_IN)
            os.chmod(path, 0o755)
        full_env = dict(env)
        full_env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
        full_env["ADAMASYNC_STAND_IN_OUT"] = out_dir
        shell = argv[0] if os.path.isabs(argv[0]) else "/bin/" + argv[0]
        try:
            r = subprocess.run([shell] + argv[1:], env=full_env, capture_output=True,
                               text=True, timeout=30, cwd=tmp)
        except subprocess.TimeoutExpired:
            return [], "the wrapper script did not finish in 30 s"
        if r.returncode != 0:
            return [], f"the wrapper script failed (exit {r.returncode}): {r.stderr.strip()}"
        calls = []
        for name in sorted(os.listdir(out_dir)):
            with open(os.path.join(out_dir, name), "rb") as f:
                parts = f.read().split(b"\0")[:-1]
            calls.append([p.decode() for p in parts])
    if not calls:
        return [], "the wrapper script never runs a daemon"
    return calls, None


def compose_argv(service):
    """A Compose service's argv, or None where it keeps the image's CMD."""
    def as_list(v):
        return shlex.split(v) if isinstance(v, str) else list(v or [])
    command = as_list(service.get("command"))
    entrypoint = as_list(service.get("entrypoint"))
    if not command and not entrypoint:
        return None
    return entrypoint + command


def compose_env(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


# ---------------------------------------------------------------- Kubernetes


def k8s_expand(text, env):
    """Kubernetes' $(VAR) expansion of command, args and env values:
    $(VAR) becomes VAR's value when VAR is defined, $$ becomes $, and
    anything else (shell's ${VAR}, $((...))) is left alone."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env[name] if name in env else text[i:end + 1])
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


_QUANTITY = re.compile(r"^([0-9.]+)([A-Za-z]*)$")
_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}


def quantity(text):
    """A Kubernetes resource quantity ("2Gi", "500m", "1") as a float."""
    m = _QUANTITY.match(str(text))
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"not a quantity: {text!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


# What a resourceFieldRef reads when the container sets no limit: the node's
# allocatable amount. Any plausible node will do for a flag check.
_NODE_ALLOCATABLE = {"cpu": "16", "memory": "64Gi", "ephemeral-storage": "100Gi"}


class Pod:
    """One pod instance of a template, as the kubelet would see it."""

    def __init__(self, name, labels, configmaps):
        self.name = name
        self.labels = labels
        self.configmaps = configmaps  # {name: data dict} of the rendering

    def field(self, path):
        m = re.match(r"^metadata\.(labels|annotations)\['(.+)'\]$", path)
        if m:
            return self.labels.get(m.group(2), "") if m.group(1) == "labels" else ""
        return {"metadata.name": self.name, "metadata.namespace": "default",
                "metadata.uid": "00000000-0000-0000-0000-000000000000",
                "spec.nodeName": "node-0", "spec.serviceAccountName": "default",
                "status.hostIP": "10.0.0.1", "status.podIP": "10.0.1.1",
                "status.podIPs": "10.0.1.1"}.get(path)


def container_env(pod, container, base_env):
    """The container's environment: (dict, errors). base_env holds what
    Kubernetes itself sets (HOSTNAME, JOB_COMPLETION_INDEX)."""
    env, errors = dict(base_env), []
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref and ref.get("name") in pod.configmaps:
            prefix = source.get("prefix", "")
            env.update({prefix + k: v for k, v in pod.configmaps[ref["name"]].items()})
        elif ref and not ref.get("optional"):
            errors.append(f"envFrom names ConfigMap {ref.get('name')!r}, not in the rendering")
    for e in container.get("env", []):
        name = e["name"]
        if "value" in e:
            env[name] = k8s_expand(str(e["value"]), env)
            continue
        vf = e.get("valueFrom", {})
        if "fieldRef" in vf:
            value = pod.field(vf["fieldRef"]["fieldPath"])
            if value is None:
                errors.append(f"env {name}: unknown fieldPath {vf['fieldRef']['fieldPath']}")
                continue
        elif "resourceFieldRef" in vf:
            ref = vf["resourceFieldRef"]
            kind, _, res = ref["resource"].partition(".")
            amount = container.get("resources", {}).get(kind, {}).get(res)
            if amount is None:
                amount = _NODE_ALLOCATABLE.get(res, "1")
            value = str(math.ceil(quantity(amount) / quantity(ref.get("divisor", "1"))))
        elif "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            data = pod.configmaps.get(ref["name"], {})
            if ref["key"] not in data:
                if not ref.get("optional"):
                    errors.append(f"env {name}: ConfigMap {ref['name']!r} has no key "
                                  f"{ref['key']!r}")
                continue
            value = data[ref["key"]]
        elif "secretKeyRef" in vf:
            value = "secret-placeholder"
        else:
            errors.append(f"env {name}: unsupported valueFrom {sorted(vf)}")
            continue
        env[name] = value
    return env, errors


def mounted_files(pod_spec, container, configmaps):
    """{path: text} of every file the container sees from a ConfigMap volume."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    files = {}
    for mount in container.get("volumeMounts", []):
        cm = volumes.get(mount["name"], {}).get("configMap")
        if not cm or cm.get("name") not in configmaps:
            continue
        data = configmaps[cm["name"]]
        items = cm.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] in data:
                path = os.path.join(mount["mountPath"], item["path"])
                if "subPath" in mount:
                    if mount["subPath"] != item["path"]:
                        continue
                    path = mount["mountPath"]
                files[path] = data[item["key"]]
    return files
