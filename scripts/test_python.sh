#!/usr/bin/env bash
# Builds the Python package (worker/python) into a virtual environment and
# runs its tests (tests/python) against real adamasync-server processes.
#
#   scripts/test_python.sh [pytest arguments]
#
# Environment:
#   BUILD_DIR             the C++ build with the server (default build)
#   PYTHON                interpreter for the venv (default python3)
#   VENV                  the virtual environment (default $BUILD_DIR/pyvenv)
#   ADAMASYNC_SERVER      a server binary to use as is (default: build and use
#                         $BUILD_DIR/server/adamasync-server)
#   ADAMASYNC_TEST_TORCH  1 (default): install PyTorch from PyPI (about 3 GB of
#                         wheels, a minute or two) and run the torch tests;
#                         0: skip them
#
# The last line printed is pytest's summary ("N passed, ..."); exit status 0
# only when the tests ran and passed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$BUILD_DIR/pyvenv}
TEST_TORCH=${ADAMASYNC_TEST_TORCH:-1}

seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

# venv and the headers the extension compiles against (Debian splits them
# out of python3). Only asks for packages that are missing.
if ! "$PYTHON" -c 'import ensurepip, sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
  echo "test_python: installing python3-venv python3-dev"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends python3-venv python3-dev
fi

# The server the tests start: make sure it is built and current.
if [ -z "${ADAMASYNC_SERVER:-}" ]; then
  if [ -f "$BUILD_DIR/build.ninja" ]; then
    cmake --build "$BUILD_DIR" -j "$(nproc)" --target adamasync-server
  else
    ./scripts/setup.sh
    BUILD_DIR="$BUILD_DIR" ./scripts/build.sh
  fi
  export ADAMASYNC_SERVER
  ADAMASYNC_SERVER=$(realpath -m "$BUILD_DIR/server/adamasync-server")
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q numpy pytest

# The package builds its C++ (proto, common, client, binding) in a
# persistent folder, so a second run only recompiles what changed.
start=$(seconds)
# (--config-settings, not -C: Debian 12's pip 23.0 lacks the short form.)
"${PIP[@]}" install -q ./worker/python --config-settings=build-dir="$(realpath -m "$BUILD_DIR/pyext")"
echo "test_python: pip install ./worker/python took $(elapsed "$start") s"

if [ "$TEST_TORCH" != "0" ]; then
  if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    start=$(seconds)
    "${PIP[@]}" install -q torch
    echo "test_python: pip install torch took $(elapsed "$start") s"
  fi
  "$VENV/bin/python" -c 'import torch; print("test_python: torch", torch.__version__)'
fi

# -p no:cacheprovider: leave no .pytest_cache in the checkout. Exit status 5
# (no tests collected) must not pass for success.
status=0
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra tests/python "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "test_python: pytest collected no tests"
  exit 1
fi
exit "$status"
