#!/usr/bin/env bash
# The test suite: installs what is missing, builds, runs every test with CTest.
#   tools/test.sh [extra ctest arguments]
#   tools/test.sh --sanitize [ctest arguments]
# --sanitize builds with AddressSanitizer + UndefinedBehaviorSanitizer
# (DLRM_SANITIZE, RelWithDebInfo at -O1 -g1) in build-asan and runs there, without ctest
# arguments, the unit, command-line and launcher tests and the smaller
# multi-rank runs (DLRM_SANITIZE_MPI_TESTS); not the fuzz (own sanitizer
# build), multihost or oracle tests. Suppressions: tests/support/*.supp.
# Sanitizer reports are collected in build-asan/sanitizer-reports/ and
# printed at the end; any report fails the run.
# Both builds treat warnings in the project's code as errors (DLRM_WERROR).
# DLRM_BUILD_DIR and DLRM_SANITIZE_BUILD_DIR choose the build directories.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
if [ "${1:-}" = --sanitize ]; then
  sanitize=1
  shift
fi
tools/install-deps.sh
source tools/mpi-env.sh

if [ $sanitize = 0 ]; then
  BUILD=${DLRM_BUILD_DIR:-build}
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLRM_BUILD_TESTS=ON -DDLRM_WERROR=ON
  cmake --build "$BUILD" -j"$(nproc)"
  exec ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" --timeout 600 "$@"
fi

BUILD=${DLRM_SANITIZE_BUILD_DIR:-build-asan}
# -O1 -g1: line tables are all the sanitizers' reports need; half the compile
# time of -O2 -g.
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
  -DDLRM_BUILD_TESTS=ON -DDLRM_WERROR=ON -DDLRM_SANITIZE=ON
cmake --build "$BUILD" -j"$(nproc)"
ctest=(ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" --timeout 900)
# Every sanitizer report goes to a file in $REPORTS, so that one from a run
# a test expects to fail (bad input) is not taken for the expected failure.
REPORTS=$(cd "$BUILD" && pwd)/sanitizer-reports
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$REPORTS/asan
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$REPORTS/ubsan
MPI_TESTS=${DLRM_SANITIZE_MPI_TESTS:-'^(exchange_mpi\.n[24]|cluster_mpi\.(table\.s1\.n2|row\.s2\.n3|column\.s2\.n4|auto\.s2\.n4|bad_input|quantized|scenario\.accuracy\.table\.s2\.n4|scenario\.interrupt)|serve_mpi\.(protocol\.table\.s2\.d1|drain)|cluster_dcn\.row\.s2\.n4)$'}
status=0
if [ $# -gt 0 ]; then
  "${ctest[@]}" "$@" || status=1
else
  "${ctest[@]}" -L 'unit|cli|launcher' -E '^lint\.' || status=1
  "${ctest[@]}" -R "$MPI_TESTS" || status=1
fi
if [ -n "$(ls -A "$REPORTS")" ]; then
  for report in "$REPORTS"/*; do
    echo "=== sanitizer report $report"
    cat "$report"
  done
  echo "test.sh --sanitize: $(ls "$REPORTS" | wc -l) sanitizer report(s) in $REPORTS" >&2
  status=1
fi
exit $status
