#!/usr/bin/env bash
# One configuration: runs the cluster under mpiexec once with each transport
# of the pooled rows (shared memory, MPI all-to-all, then pooled by the dense
# ranks themselves, on 1 thread, then on 2, where a dense rank pools one-hot
# rows on one thread while its bottom MLP runs on the other), and checks the
# report and predictions (check_run.py; the runs must agree bit for bit).
#   run.sh BIN WORK plan shards ranks
set -euo pipefail
BIN=$1 WORK=$2 PLAN=$3 SHARDS=$4 RANKS=$5
MODEL=$WORK/model-$PLAN-$SHARDS
OUT=$WORK/run-$PLAN-s$SHARDS-n$RANKS
rm -rf "$OUT" && mkdir -p "$OUT"
transports=(shm alltoall pool pool)
threads=(1 1 1 2)
for i in 1 2 3 4; do
  "${MPIEXEC:-mpiexec}" -n "$RANKS" "$BIN/dlrm-cluster" --model "$MODEL" --data "$(cat "$WORK/data.arg")" --batch 128 \
    --out "$OUT/pred$i.npy" --report "$OUT/report$i.json" --reference "$WORK/ref.npy" --threads "${threads[$((i - 1))]}" \
    --exchange-transport "${transports[$((i - 1))]}"
done
"${PYTHON:-/usr/bin/python3}" "$(dirname "$0")/check_run.py" run "$MODEL" "$OUT" "$WORK/ref.npy" "$RANKS" "$SHARDS"
