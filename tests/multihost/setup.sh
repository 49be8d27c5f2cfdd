#!/usr/bin/env bash
# Multi-host fixture: a small model over 2 shards, data, a longer data file
# (for the killed-rank test) and the single-host predictions every
# multi-host run must match (mpirun -n 4 dlrm-cluster, default placement;
# fp32 and bf16 pooled rows).
#   setup.sh BIN WORK
set -euo pipefail
BIN=$1 WORK=$2
SEED=7 DATA_SEED=11 SAMPLES=2000
echo "setup: model seed $SEED, data seed $DATA_SEED, $SAMPLES samples, in $WORK"
rm -rf "$WORK" && mkdir -p "$WORK"
"$BIN/dlrm-shard" synth --preset small --shards 2 --seed "$SEED" --no-progress --out "$WORK/model" >/dev/null
"$BIN/dlrm-data" synth --model "$WORK/model" --samples "$SAMPLES" --seed "$DATA_SEED" --out "$WORK/data.bin" 2>/dev/null
# The binary layout has no header: 600 copies make a 1.2M-sample file, about
# 24 s at the ~50k pairs/s of 5 ranks on 2 cores and still 3.4 s at the 352k
# pairs/s a CI machine once reached (200 copies ended there before the kill),
# so the kill lands mid-run. Only a run that is not killed reads all of it.
for _ in $(seq 600); do cat "$WORK/data.bin"; done > "$WORK/long.bin"
"${MPIEXEC:-mpirun}" -n 4 "$BIN/dlrm-cluster" --model "$WORK/model" --data "$WORK/data.bin" --batch 128 \
  --out "$WORK/single-host.npy" --quiet
# The same with 16-bit rows (shards round them the same way whatever the
# transport that carries them; shm named, as auto would pool fp32 rows here).
"${MPIEXEC:-mpirun}" -n 4 "$BIN/dlrm-cluster" --model "$WORK/model" --data "$WORK/data.bin" --batch 128 \
  --exchange-dtype bf16 --exchange-transport shm --out "$WORK/single-host-bf16.npy" --quiet
ls -la "$WORK"
