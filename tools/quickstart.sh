#!/usr/bin/env bash
# The main job, from nothing: install dependencies, build, make a synthetic
# model (MLPerf terabyte architecture, tables capped at 20k rows) sharded over
# 2 shard ranks, make labelled data, and serve it with a 4-rank cluster
# (2 shard + 2 dense), printing throughput and accuracy.
#   tools/quickstart.sh            (outputs under ./quickstart/)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
source tools/mpi-env.sh
BUILD=${DLRM_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j"$(nproc)"
BIN=$BUILD/bin
OUT=quickstart
SEED=${SEED:-1}
mkdir -p "$OUT"
rm -rf "$OUT/model" "$OUT/data.bin"
"$BIN/dlrm-shard" synth --preset terabyte-40m --row-cap 20000 --shards 2 --seed "$SEED" --out "$OUT/model"
"$BIN/dlrm-shard" inspect "$OUT/model"
"$BIN/dlrm-data" synth --model "$OUT/model" --samples 65536 --seed "$SEED" --out "$OUT/data.bin"
mpirun -n 4 "$BIN/dlrm-cluster" --model "$OUT/model" --data "$OUT/data.bin" --batch 256 \
  --out "$OUT/predictions.npy" --report "$OUT/report.json"
echo "quickstart: report in $OUT/report.json, predictions in $OUT/predictions.npy"
