#!/usr/bin/env python3
"""Renders deploy/k8s (base and every overlay) and checks the result hangs
together: what a cluster would only tell you at `kubectl apply` time, or
worse, when a pod misbehaves.

Rendering uses `kubectl kustomize` (or `kustomize build`), offline. Where no
kustomize v5+ is installed (Debian 12 packages only kubectl 1.20, whose
kustomize v2.0.3 is too old) the raw files are checked instead: every file a
kustomization names must exist and parse, and the same structural checks run
on the base resources. The test says which of the two it did.

Checked on each rendering:
  * one StatefulSet (the shards), its headless Service (clusterIP None, named
    by serviceName), a PodDisruptionBudget and an Indexed Job (the workers);
  * selectors of the StatefulSet, Service and budget match the pod labels;
  * the Service's targetPorts name container ports, the gRPC readiness and
    liveness probes use the "grpc" port's number and a prometheus.io/port
    annotation the "metrics" port's;
  * NUM_SHARDS (servers and workers) equals the StatefulSet's replicas and
    NUM_WORKERS the Job's completions, which equals its parallelism;
  * every configMap volume names a ConfigMap of the rendering;
  * the server container has a memory limit (its --max_state_mb derives
    from it) and a volumeClaimTemplate for its checkpoint mount;
  * overlays/gpu gives the server container an nvidia.com/gpu limit.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_testing as dt  # noqa: E402


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def selects(selector, labels):
    """True if a matchLabels-style selector selects these labels."""
    match = selector.get("matchLabels", selector) if selector else {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def env_value(container, name):
    for e in container.get("env", []):
        if e.get("name") == name:
            return e.get("value")
    return None


def gpu_patched_raw(rel_dir):
    """Without kustomize: does some patch file of the overlay set the limit?"""
    root = os.path.join(dt.K8S_DIR, rel_dir)
    for name in os.listdir(root):
        if name != "kustomization.yaml" and name.endswith(".yaml"):
            with open(os.path.join(root, name)) as f:
                if "nvidia.com/gpu" in f.read():
                    return True
    return False


def check(rel_dir, docs, rendered):
    errors = []

    def err(msg):
        errors.append(f"{rel_dir}: {msg}")

    sets, jobs = by_kind(docs, "StatefulSet"), by_kind(docs, "Job")
    services, pdbs = by_kind(docs, "Service"), by_kind(docs, "PodDisruptionBudget")
    configmaps = {d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")}
    if len(sets) != 1 or len(jobs) != 1:
        err(f"want one StatefulSet and one Job, got {len(sets)} and {len(jobs)}")
        return errors
    sts, job = sets[0], jobs[0]
    pod_labels = sts["spec"]["template"]["metadata"].get("labels", {})
    replicas = sts["spec"].get("replicas", 1)

    if not selects(sts["spec"].get("selector"), pod_labels):
        err("StatefulSet selector does not select its own pod template")
    svc = [s for s in services if s["metadata"]["name"] == sts["spec"].get("serviceName")]
    if not svc:
        err(f"no Service named by serviceName {sts['spec'].get('serviceName')!r}")
    else:
        svc = svc[0]
        if svc["spec"].get("clusterIP") != "None":
            err("the shards' Service must be headless (clusterIP: None) for per-pod DNS names")
        if not selects(svc["spec"].get("selector"), pod_labels):
            err("the shards' Service does not select the shard pods")
    if not any(selects(p["spec"].get("selector"), pod_labels) for p in pdbs):
        err("no PodDisruptionBudget selects the shard pods")

    containers = sts["spec"]["template"]["spec"]["containers"]
    server = containers[0]
    ports = {p.get("name"): p["containerPort"] for p in server.get("ports", [])}
    if svc:
        for sp in svc["spec"].get("ports", []):
            target = sp.get("targetPort", sp.get("port"))
            if isinstance(target, str) and target not in ports:
                err(f"Service targetPort {target!r} is not a port of container {server['name']}")
    grpc_port = ports.get("grpc")
    for probe in ("readinessProbe", "livenessProbe"):
        p = server.get(probe, {}).get("grpc")
        if not p:
            err(f"server container has no gRPC {probe}")
        elif p.get("port") != grpc_port:
            err(f"{probe} checks port {p.get('port')}, the server listens on {grpc_port}")
    annotations = sts["spec"]["template"]["metadata"].get("annotations", {})
    scrape_port = annotations.get("prometheus.io/port")
    if scrape_port is not None and scrape_port != str(ports.get("metrics")):
        err(f"prometheus.io/port {scrape_port} is not the server's metrics port "
            f"{ports.get('metrics')}")
    if env_value(server, "SERVER_PORT") not in (None, str(grpc_port)):
        err(f"server SERVER_PORT {env_value(server, 'SERVER_PORT')} != containerPort {grpc_port}")
    if "memory" not in server.get("resources", {}).get("limits", {}):
        err("server container has no memory limit (--max_state_mb is derived from it)")
    claims = {c["metadata"]["name"] for c in sts["spec"].get("volumeClaimTemplates", [])}
    mounts = {m["name"] for m in server.get("volumeMounts", [])}
    if not claims or not claims <= mounts:
        err(f"volumeClaimTemplates {sorted(claims)} not all mounted by the server container")

    if job["spec"].get("completionMode") != "Indexed":
        err("the workers' Job must be Indexed (worker index = JOB_COMPLETION_INDEX)")
    completions = job["spec"].get("completions")
    if job["spec"].get("parallelism") != completions:
        err(f"Job parallelism {job['spec'].get('parallelism')} != completions {completions}: "
            f"workers of one run must all run at once")
    worker = job["spec"]["template"]["spec"]["containers"][0]
    for who, c in (("server", server), ("worker", worker)):
        if env_value(c, "NUM_SHARDS") != str(replicas):
            err(f"{who} NUM_SHARDS={env_value(c, 'NUM_SHARDS')} but the StatefulSet has "
                f"{replicas} replicas (an overlay changing replicas must repeat the base's "
                f"replacements)")
    if env_value(worker, "NUM_WORKERS") != str(completions):
        err(f"worker NUM_WORKERS={env_value(worker, 'NUM_WORKERS')} but the Job has "
            f"{completions} completions")
    if env_value(worker, "SERVER_SERVICE") not in (None, sts["metadata"]["name"]):
        err(f"worker SERVER_SERVICE {env_value(worker, 'SERVER_SERVICE')!r} is not the "
            f"StatefulSet {sts['metadata']['name']!r}")
    if env_value(worker, "SERVER_PORT") not in (None, str(grpc_port)):
        err(f"worker SERVER_PORT {env_value(worker, 'SERVER_PORT')} != server port {grpc_port}")

    for owner in (sts, job):
        for vol in owner["spec"]["template"]["spec"].get("volumes", []):
            name = vol.get("configMap", {}).get("name")
            if name is not None and name not in configmaps:
                err(f"{owner['kind']} volume {vol['name']} names ConfigMap {name!r}, "
                    f"not in the rendering ({sorted(configmaps)})")

    if rel_dir.endswith("gpu"):
        limits = server.get("resources", {}).get("limits", {})
        if not ("nvidia.com/gpu" in limits if rendered else gpu_patched_raw(rel_dir)):
            err("the GPU overlay does not give the server an nvidia.com/gpu limit")
    return errors


def main():
    dt.require_yaml()
    rendered, how, errors = dt.load_k8s()
    by_kustomize = not how.startswith("raw")
    print(f"rendered with: {how}")
    if not by_kustomize:
        print("NOTE: no kustomize v5+: structural checks of the raw files only")
    for rel_dir, docs in rendered.items():
        errs = check(rel_dir, docs, by_kustomize)
        errors += errs
        if not errs:
            kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
            print(f"ok: {rel_dir}: {', '.join(kinds)}")
    dt.fail(errors)


if __name__ == "__main__":
    main()
