"""Shared pieces of the deploy/ checks (tests/deploy/*_test.py).

Everything here runs offline: no Docker engine, no cluster. The tools it
uses (kubectl or kustomize, docker-compose, yamllint) are installed by
scripts/setup.sh where Debian 12 has them; a check whose tool is genuinely
missing calls skip(), which exits with SKIP_CODE (ctest's SKIP_RETURN_CODE).
"""

import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:  # tests call skip() below before using it
    yaml = None

# ctest marks a test that exits with this code as skipped (SKIP_RETURN_CODE).
SKIP_CODE = 77

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY_DIR = os.path.join(REPO_ROOT, "deploy")
COMPOSE_DIR = os.path.join(DEPLOY_DIR, "compose")
K8S_DIR = os.path.join(DEPLOY_DIR, "k8s")
DOCKER_DIR = os.path.join(DEPLOY_DIR, "docker")

# Compose file sets that are deployed together, as `-f` lists.
COMPOSE_FILE_SETS = [
    ["docker-compose.yml"],
    ["docker-compose.yml", "docker-compose.cuda.yml"],
]

# Oldest kustomize that renders deploy/k8s (replacements with list
# selectors, `patches:`); kubectl 1.27+ bundles v5.
MIN_KUSTOMIZE_MAJOR = 5


def skip(reason):
    """Ends the test as skipped, saying why."""
    print(f"SKIPPED: {reason}")
    sys.exit(SKIP_CODE)


def require_yaml():
    """Skips the test when PyYAML is missing (Debian: python3-yaml)."""
    if yaml is None:
        skip(f"PyYAML is not installed for {sys.executable} (scripts/setup.sh installs "
             f"python3-yaml for /usr/bin/python3)")


def fail(errors):
    """Prints each error and exits 1 if there is any."""
    for e in errors:
        print(f"FAIL: {e}")
    if errors:
        print(f"{len(errors)} problem(s)")
        sys.exit(1)


def run(cmd, **kwargs):
    """Runs cmd, capturing text output; never raises on a non-zero exit."""
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def k8s_kustomization_dirs():
    """The base and every overlay, as paths relative to deploy/k8s."""
    dirs = ["base"]
    overlays = os.path.join(K8S_DIR, "overlays")
    for name in sorted(os.listdir(overlays)):
        if os.path.isfile(os.path.join(overlays, name, "kustomization.yaml")):
            dirs.append(os.path.join("overlays", name))
    return dirs


def find_kustomize():
    """Returns (argv prefix to render a dir, description) or (None, why not).

    kubectl's bundled kustomize is used when it is new enough; Debian 12's own
    kubectl (package kubernetes-client, 1.20) bundles kustomize v2.0.3, which
    predates replacements and `patches:`, so it counts as unavailable.
    """
    kustomize = shutil.which("kustomize")
    if kustomize:
        out = run([kustomize, "version"]).stdout
        m = re.search(r"v(\d+)\.(\d+)", out)
        if m and int(m.group(1)) >= MIN_KUSTOMIZE_MAJOR:
            return [kustomize, "build"], f"kustomize {m.group(0)}"
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None, "neither kubectl nor kustomize is on PATH"
    out = run([kubectl, "version", "--client"]).stdout
    m = re.search(r"Kustomize Version: v(\d+)\.(\d+)\.(\d+)", out)
    if not m:
        return None, (f"{kubectl} does not report its kustomize version (kubectl older than "
                      f"1.24, e.g. Debian 12's kubernetes-client 1.20 with kustomize v2.0.3)")
    if int(m.group(1)) < MIN_KUSTOMIZE_MAJOR:
        return None, f"{kubectl} bundles kustomize v{m.group(1)}.{m.group(2)}, need v5+"
    return [kubectl, "kustomize"], f"kubectl kustomize (kustomize v{'.'.join(m.groups())})"


def render_kustomization(prefix, rel_dir):
    """Renders deploy/k8s/<rel_dir>; returns (documents, error or None)."""
    r = run(prefix + [os.path.join(K8S_DIR, rel_dir)])
    if r.returncode != 0:
        return None, f"{' '.join(prefix)} {rel_dir} failed:\n{r.stderr.strip()}"
    return [d for d in yaml.safe_load_all(r.stdout) if d], None


def load_yaml_file(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def raw_kustomization(rel_dir):
    """The resources of deploy/k8s/<rel_dir> read without kustomize.

    Used only when no suitable kustomize is installed: follows `resources`
    (files and directories) and `configMapGenerator` file lists, and ignores
    overlay patches and images, which change neither commands nor flags.
    Returns (documents, errors), errors naming every missing file.
    """
    docs, errors = [], []
    root = os.path.join(K8S_DIR, rel_dir)
    kfile = os.path.join(root, "kustomization.yaml")
    with open(kfile) as f:
        k = yaml.safe_load(f) or {}
    for res in k.get("resources", []):
        path = os.path.normpath(os.path.join(root, res))
        if os.path.isdir(path):
            sub, sub_errors = raw_kustomization(os.path.relpath(path, K8S_DIR))
            docs += sub
            errors += sub_errors
        elif os.path.isfile(path):
            docs += load_yaml_file(path)
        else:
            errors.append(f"{kfile}: resource {res} does not exist")
    for patch in k.get("patches", []):
        if "path" in patch and not os.path.isfile(os.path.join(root, patch["path"])):
            errors.append(f"{kfile}: patch {patch['path']} does not exist")
    for gen in k.get("configMapGenerator", []):
        data = {}
        for entry in gen.get("files", []):
            key, _, rel = entry.partition("=") if "=" in entry else (
                os.path.basename(entry), "", entry)
            path = os.path.join(root, rel)
            if not os.path.isfile(path):
                errors.append(f"{kfile}: configMapGenerator file {rel} does not exist")
                continue
            with open(path) as f:
                data[key] = f.read()
        for literal in gen.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": gen["name"]}, "data": data})
    return docs, errors


def load_k8s(allow_raw=True):
    """Every kustomization's documents: ({rel_dir: docs}, how, errors).

    Renders with kustomize when a new enough one is installed, else (when
    allow_raw) reads the raw files with raw_kustomization().
    """
    prefix, how = find_kustomize()
    rendered, errors = {}, []
    for rel_dir in k8s_kustomization_dirs():
        if prefix:
            docs, err = render_kustomization(prefix, rel_dir)
            if err:
                errors.append(err)
                continue
        elif allow_raw:
            docs, errs = raw_kustomization(rel_dir)
            errors += errs
        else:
            return None, how, []
        rendered[rel_dir] = docs
    if not prefix:
        how = f"raw YAML, no kustomize ({how})"
    return rendered, how, errors


def find_compose():
    """Returns (argv prefix for `-f FILE ... config`, description) or (None, why)."""
    exe = shutil.which("docker-compose")
    if exe:
        version = run([exe, "version", "--short"]).stdout.strip()
        return [exe], f"docker-compose {version}".strip()
    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"], "docker compose plugin"
    return None, "neither docker-compose nor the docker compose plugin is installed"


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def _interpolate(node):
    """Compose-style ${VAR:-default} substitution with the defaults only."""
    if isinstance(node, str):
        return _INTERPOLATION.sub(lambda m: m.group(2) or "", node)
    if isinstance(node, list):
        return [_interpolate(n) for n in node]
    if isinstance(node, dict):
        return {k: _interpolate(v) for k, v in node.items()}
    return node


def _merge_compose(base, override):
    """Compose's merge of two files, enough for our files: maps merge
    recursively, anything else is replaced by the override."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = _merge_compose(base[k], v) if k in base else v
        return out
    return override


def load_compose(file_set):
    """The resolved Compose model of one file set: (model, how, error).

    Uses `docker-compose config` when installed (interpolation, merging and
    validation as Compose does them); otherwise PyYAML plus default-only
    interpolation and a simple merge, which is enough for these files.
    """
    paths = [os.path.join(COMPOSE_DIR, f) for f in file_set]
    prefix, how = find_compose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAMASYNC_")}
    if prefix:
        cmd = list(prefix)
        for p in paths:
            cmd += ["-f", p]
        r = run(cmd + ["config"], env=env)
        if r.returncode != 0:
            return None, how, f"{' '.join(cmd)} config failed:\n{r.stderr.strip()}"
        return yaml.safe_load(r.stdout), how, None
    model = {}
    for p in paths:
        with open(p) as f:
            model = _merge_compose(model, _interpolate(yaml.safe_load(f)))
    return model, "raw YAML (no docker-compose)", None
