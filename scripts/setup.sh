#!/usr/bin/env bash
# Installs every Debian 12 package AdamAsync needs to build, test and run the
# demo. Idempotent: does nothing (not even apt-get update) when all are there.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libhwy-dev libcpp-httplib-dev prometheus-cpp-dev libxxhash-dev nlohmann-json3-dev libssl-dev libeigen3-dev zlib1g-dev
  dataset-fashion-mnist iperf3 python3 clang-format
  # Offline checks of deploy/ (ctest -L deploy). Not kubernetes-client: its
  # kubectl 1.20 is too old to render deploy/k8s (see docs/operations.md).
  yamllint docker-compose python3-yaml
  # Security (docs/security.md): test certificates (openssl CLI), libFuzzer
  # targets (clang + its fuzzer/sanitizer runtimes, scripts/fuzz.sh).
  openssl clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
