#!/usr/bin/env bash
# The test suite: installs what is missing, builds, runs every test with CTest.
#   tools/test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
source tools/mpi-env.sh
BUILD=${DLRM_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLRM_BUILD_TESTS=ON
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" --timeout 600 "$@"
