#!/usr/bin/env python3
"""Validates deploy/compose with Compose's own offline check.

`docker-compose -f FILE ... config -q` (docker-compose 1.29 from Debian, or
the `docker compose` plugin) parses, merges and schema-checks the files
without a Docker engine. Each file set in deploy_testing.COMPOSE_FILE_SETS
is checked as it is deployed (the base file, then base + CUDA override).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_testing as dt  # noqa: E402


def main():
    prefix, how = dt.find_compose()
    if not prefix:
        dt.skip(f"{how} (scripts/setup.sh installs Debian's docker-compose)")
    errors = []
    for file_set in dt.COMPOSE_FILE_SETS:
        cmd = list(prefix)
        for f in file_set:
            cmd += ["-f", os.path.join(dt.COMPOSE_DIR, f)]
        r = dt.run(cmd + ["config", "-q"])
        label = " + ".join(file_set)
        if r.returncode != 0:
            errors.append(f"{label}: {how} config -q exited {r.returncode}:\n{r.stderr.strip()}")
        else:
            print(f"ok: {label} ({how})")
    dt.fail(errors)


if __name__ == "__main__":
    main()
