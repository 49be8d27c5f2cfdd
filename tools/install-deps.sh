#!/usr/bin/env bash
# Installs every Debian 12 package that dlrm-cluster's build, tests and
# benchmarks need. Idempotent: packages already present are skipped quickly.
# Usage: tools/install-deps.sh            (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # the field's dependencies
  libopenmpi-dev openmpi-bin libdnnl-dev libcereal-dev libspdlog-dev libfmt-dev
  # well-kept helpers
  libcli11-dev rapidjson-dev libgtest-dev libgmock-dev libbenchmark-dev libxxhash-dev
  libzip-dev zlib1g-dev libhwloc-dev hwloc libnuma-dev
  libprotobuf-dev protobuf-compiler libonnx-dev
  # the online endpoint (dlrm-serve): REST and gRPC servers
  libcpp-httplib-dev libssl-dev libgrpc++-dev protobuf-compiler-grpc
  # oracle tests (PyTorch reference) and test tooling
  python3 python3-numpy python3-torch python3-onnx time iproute2 procps
  # dlrm-tune's plots
  python3-matplotlib
  # clients of the endpoint's tests and benchmark
  curl hey python3-grpcio python3-grpc-tools
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
