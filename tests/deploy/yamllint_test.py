#!/usr/bin/env python3
"""Lints every YAML file under deploy/ with yamllint and deploy/.yamllint.

Warnings fail too (--strict): the files are small and meant to stay tidy.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_testing as dt  # noqa: E402


def main():
    yamllint = shutil.which("yamllint")
    if not yamllint:
        dt.skip("yamllint is not installed (scripts/setup.sh installs Debian's yamllint)")
    r = dt.run([yamllint, "--strict", "-f", "parsable",
                "-c", os.path.join(dt.DEPLOY_DIR, ".yamllint"), dt.DEPLOY_DIR])
    print(r.stdout, end="")
    if r.returncode != 0:
        dt.fail([f"yamllint exited {r.returncode}: {r.stderr.strip()}"])
    print("yamllint: every YAML file under deploy/ is clean")


if __name__ == "__main__":
    main()
