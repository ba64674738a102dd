#!/usr/bin/env python3
"""Every flag the deploy files pass to the daemons is one they accept.

usage: manifest_flags_test.py --server=PATH/adamasync-server --worker=PATH/adamasync-worker

Collects each command line that deploy/ would run:
  * the Dockerfiles' default CMD;
  * every Compose service, per file set as deployed (deploy_testing.py);
  * every container of the rendered Kubernetes base and overlays (raw base
    files where no kustomize v5 is installed), once per pod: each shard
    ordinal of the StatefulSet, each completion index of the Indexed Job.
Shell wrappers are evaluated (command_resolution.py); each resulting command
line, flag files from ConfigMaps included, then goes through the binary's
own parser (flag_check.py), so the accepted flags and their types come from
the binaries, never from this test.

Then, per deployment, the command lines must form one cluster: shard indices
0..S-1 each once, with the same --num_shards; worker indices 0..W-1 each
once, with the same --num_workers and otherwise identical flags (table
options must match across workers); each worker's --servers naming shard i's
address (host and --listen port) at position i; a Compose health check
probing the port the server listens on.
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import command_resolution as cr  # noqa: E402
import deploy_testing as dt  # noqa: E402
from flag_check import Binary, check_call  # noqa: E402

# Pods checked per workload; enough to see every ordinal of the manifests
# here without running hundreds of shells for a large overlay.
MAX_PODS_PER_WORKLOAD = 16

# Flags whose HOST:PORT value opens a port, which the container must declare
# (Kubernetes containerPort, Compose expose/ports).
LISTEN_FLAGS = ("listen", "metrics_listen")


class Checker:
    def __init__(self, binaries):
        self.binaries = binaries
        self.errors = []
        self.checked = 0

    def calls(self, where, argv, env, files, host, ports=None):
        """Checks what argv runs; returns [{program, args, flags, host, where}].

        ports: the container ports the deployment declares, or None to skip
        checking that each LISTEN_FLAGS port is among them.
        """
        calls, err = cr.resolve(argv, env)
        if err:
            self.errors.append(f"{where}: {err}")
            return []
        out = []
        for call in calls:
            binary = self.binaries[call[0]]
            flags, errors = check_call(binary, call[1:], files, where)
            for name in LISTEN_FLAGS:
                value = flags.get(name)
                port = value.rsplit(":", 1)[1] if value and ":" in value else None
                if ports is not None and port and port not in ports:
                    errors.append(f"{where}: --{name}={value}, but port {port} is not "
                                  f"declared (declared: {sorted(ports)})")
            self.errors += errors
            self.checked += 1
            if not errors:
                print(f"ok: {where}: {' '.join(call)}")
            out.append({"program": call[0], "args": call[1:], "flags": flags, "host": host,
                        "where": where})
        for name in env:
            if name.startswith("FLAGS_"):
                self.errors.append(f"{where}: env {name}: the daemons read flags from the "
                                   f"command line, not FLAGS_* variables")
        return out

    # ------------------------------------------------------------ Dockerfiles

    def dockerfiles(self):
        for name in sorted(os.listdir(dt.DOCKER_DIR)):
            if not name.startswith("Dockerfile"):
                continue
            with open(os.path.join(dt.DOCKER_DIR, name)) as f:
                text = f.read().replace("\\\n", " ")
            cmds = re.findall(r"^CMD\s+(.*)$", text, re.MULTILINE)
            where = f"deploy/docker/{name} CMD"
            if not cmds:
                self.errors.append(f"{where}: none")
                continue
            try:
                argv = json.loads(cmds[-1])
            except json.JSONDecodeError:
                self.errors.append(f"{where}: use the exec (JSON) form, got {cmds[-1]!r}")
                continue
            self.calls(where, argv, {}, {}, host=None)

    # ---------------------------------------------------------------- Compose

    def compose(self):
        for file_set in dt.COMPOSE_FILE_SETS:
            model, how, err = dt.load_compose(file_set)
            label = " + ".join(file_set)
            if err:
                self.errors.append(f"compose {label}: {err}")
                continue
            print(f"compose {label}: read with {how}")
            group = []
            for svc_name, svc in sorted(model.get("services", {}).items()):
                argv = cr.compose_argv(svc)
                where = f"compose {label}: service {svc_name}"
                if argv is None:
                    print(f"note: {where} runs the image's CMD (checked with the Dockerfile)")
                    continue
                ports = {str(p).split("/")[0] for p in svc.get("expose", [])}
                for p in svc.get("ports", []):
                    target = p.get("target") if isinstance(p, dict) else str(p).split(":")[-1]
                    ports.add(str(target).split("/")[0])
                for call in self.calls(where, argv, cr.compose_env(svc), {}, host=svc_name,
                                       ports=ports):
                    call["healthcheck"] = svc.get("healthcheck")
                    group.append(call)
            self.cluster(f"compose {label}", group)

    # ------------------------------------------------------------- Kubernetes

    def kubernetes(self):
        rendered, how, errors = dt.load_k8s()
        print(f"k8s: rendered with {how}")
        self.errors += errors
        for rel_dir, docs in rendered.items():
            configmaps = {d["metadata"]["name"]: d.get("data", {})
                          for d in docs if d.get("kind") == "ConfigMap"}
            group = []
            for doc in docs:
                for pod, spec, base_env, host, variants in pod_instances(doc, configmaps):
                    for c in spec.get("initContainers", []) + spec.get("containers", []):
                        where = (f"k8s {rel_dir}: {doc['kind']}/"
                                 f"{doc['metadata']['name']} pod {pod.name} container {c['name']}")
                        group += self.k8s_container(where, pod, spec, c, base_env, host, variants)
            self.cluster(f"k8s {rel_dir}", group)

    def k8s_container(self, where, pod, spec, container, base_env, host, variants):
        env, errors = cr.container_env(pod, container, base_env)
        self.errors += [f"{where}: {e}" for e in errors]
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        if not argv:
            print(f"note: {where} runs the image's CMD (checked with the Dockerfile)")
            return []
        files = cr.mounted_files(spec, container, pod.configmaps)
        ports = {str(p["containerPort"]) for p in container.get("ports", [])}
        calls = self.calls(where, [cr.k8s_expand(a, env) for a in argv], env, files, host, ports)
        # The same pod on a cluster that lacks some automatic label (e.g. the
        # StatefulSet pod-index label before Kubernetes 1.28) must run the same.
        for variant_name, variant_pod in variants:
            v_env, _ = cr.container_env(variant_pod, container, base_env)
            v_calls, err = cr.resolve([cr.k8s_expand(a, v_env) for a in argv], v_env)
            want = [c["args"] for c in calls]
            if err:
                self.errors.append(f"{where}: {variant_name}: {err}")
            elif [c[1:] for c in v_calls] != want:
                self.errors.append(f"{where}: {variant_name}: runs {v_calls}, not {want}")
        return calls

    # --------------------------------------------------------------- clusters

    def cluster(self, label, group):
        """Cross-checks the servers and workers of one deployment."""
        servers = [c for c in group if c["program"] == "adamasync-server"]
        workers = [c for c in group if c["program"] == "adamasync-worker"]
        err = self.errors.append
        if not servers or not workers:
            err(f"{label}: want shard servers and workers, got {len(servers)} and {len(workers)}")
            return
        try:
            shards = {}
            num_shards = {int(s["flags"].get("num_shards") or 1) for s in servers}
            for s in servers:
                idx = int(s["flags"].get("shard_index") or 0)
                port = (s["flags"].get("listen") or "0.0.0.0:7000").rsplit(":", 1)[1]
                if idx in shards:
                    err(f"{label}: shard {idx} twice: {shards[idx][2]} and {s['where']}")
                shards[idx] = (s["host"], port, s["where"])
                check_health_port(s, port, err)
            if len(num_shards) != 1:
                err(f"{label}: servers disagree on --num_shards: {sorted(num_shards)}")
            elif sorted(shards) != list(range(num_shards.pop())):
                err(f"{label}: shard indices {sorted(shards)} are not 0..--num_shards-1")
            want_servers = ",".join(f"{shards[i][0]}:{shards[i][1]}" for i in sorted(shards))

            num_workers = {int(w["flags"].get("num_workers") or 1) for w in workers}
            indices = sorted(int(w["flags"].get("worker_index") or 0) for w in workers)
            if len(num_workers) != 1:
                err(f"{label}: workers disagree on --num_workers: {sorted(num_workers)}")
            elif indices != list(range(num_workers.pop())):
                err(f"{label}: worker indices {indices} are not 0..--num_workers-1, each once")
            common = [{k: v for k, v in w["flags"].items() if k != "worker_index"}
                      for w in workers]
            for w, flags in zip(workers, common):
                if flags != common[0]:
                    diff = sorted(k for k in set(flags) | set(common[0])
                                  if flags.get(k) != common[0].get(k))
                    err(f"{w['where']}: flags {diff} differ from {workers[0]['where']}; "
                        f"workers of one run must share them (table options are part of the "
                        f"table spec)")
                if w["flags"].get("servers") != want_servers:
                    err(f"{w['where']}: --servers={w['flags'].get('servers')}, but the "
                        f"shards are at {want_servers}")
        except (ValueError, IndexError) as e:
            err(f"{label}: cannot read a flag value: {e}")


def check_health_port(server, port, err):
    test = (server.get("healthcheck") or {}).get("test")
    if not test:
        return
    text = " ".join(test) if isinstance(test, list) else test
    m = re.search(r"/dev/tcp/[^/\s]+/(\d+)", text)
    if m and m.group(1) != port:
        err(f"{server['where']}: health check probes port {m.group(1)}, "
            f"the server listens on {port}")


def pod_instances(doc, configmaps):
    """(Pod, pod spec, env Kubernetes sets, DNS host, label variants) per pod."""
    kind, meta = doc.get("kind"), doc.get("metadata", {})
    spec = doc.get("spec", {})
    if kind == "CronJob":
        kind, spec = "Job", spec.get("jobTemplate", {}).get("spec", {})
    if kind == "Pod":
        template = {"metadata": meta, "spec": spec}
    elif "template" in spec:
        template = spec["template"]
    else:
        return []
    labels = dict(template.get("metadata", {}).get("labels", {}))
    pod_spec = template.get("spec", {})
    out = []
    if kind == "StatefulSet":
        for i in range(min(spec.get("replicas", 1), MAX_PODS_PER_WORKLOAD)):
            name = f"{meta['name']}-{i}"
            auto = {"statefulset.kubernetes.io/pod-name": name}
            pod = cr.Pod(name, {**labels, **auto, "apps.kubernetes.io/pod-index": str(i)},
                         configmaps)
            old = cr.Pod(name, {**labels, **auto}, configmaps)
            out.append((pod, pod_spec, {"HOSTNAME": name},
                        f"{name}.{spec.get('serviceName', meta['name'])}",
                        [("without the pod-index label (Kubernetes < 1.28)", old)]))
    elif kind == "Job" and spec.get("completionMode") == "Indexed":
        for i in range(min(spec.get("completions", 1), MAX_PODS_PER_WORKLOAD)):
            name = f"{meta['name']}-{i}-abcde"
            pod = cr.Pod(name, {**labels, "batch.kubernetes.io/job-completion-index": str(i)},
                         configmaps)
            out.append((pod, pod_spec, {"HOSTNAME": name, "JOB_COMPLETION_INDEX": str(i)},
                        None, []))
    else:
        name = meta.get("name", "pod") + ("" if kind == "Pod" else "-abcde")
        out.append((cr.Pod(name, labels, configmaps), pod_spec, {"HOSTNAME": name}, None, []))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="path of adamasync-server")
    parser.add_argument("--worker", required=True, help="path of adamasync-worker")
    args = parser.parse_args()
    dt.require_yaml()
    missing = [p for p in (args.server, args.worker) if not os.access(p, os.X_OK)]
    if missing:
        dt.fail([f"{p} is not built (ninja adamasync-server adamasync-worker)" for p in missing])
    binaries = {b.name: b for b in (Binary(args.server), Binary(args.worker))}
    checker = Checker(binaries)
    checker.dockerfiles()
    checker.compose()
    checker.kubernetes()
    print(f"{checker.checked} command lines checked against "
          f"{', '.join(f'{b.name} ({len(b.flags)} flags)' for b in binaries.values())}")
    dt.fail(checker.errors)


if __name__ == "__main__":
    main()
