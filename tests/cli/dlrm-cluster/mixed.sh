#!/usr/bin/env bash
# A model of mixed tables (fp32, fp16, int8 and int4 in one model; same seed
# as the fixture's fp32 models) served by the cluster at one plan and rank
# count:
# - the cluster equals the single-process _ref reference of the same mixed
#   model within 1e-5 (each table's kernels are bit-identical to their _ref
#   twins; only the MLP/interaction summation order differs, as for fp32:
#   check_run.py);
# - against the fp32 model, the relative AUC loss stays within 1%, the budget
#   cluster_mpi.quantized gives int4 tables (a quarter of the tables are int4).
#   mixed.sh BIN WORK PRESET PLAN SHARDS RANKS
set -euo pipefail
BIN=$1 WORK=$2 PRESET=$3 PLAN=$4 SHARDS=$5 RANKS=$6
PY=${PYTHON:-/usr/bin/python3}
T=$WORK/mixed-$PLAN-s$SHARDS-n$RANKS
rm -rf "$T" && mkdir -p "$T"
DATA=$(cat "$WORK/data.arg")
# Table t stored as fp32, fp16, int8, int4 for t mod 4 = 0, 1, 2, 3.
types=(fp32 fp16 int8 int4)
args=()
for t in $(seq 0 25); do args+=(--table-dtype "$t=${types[$((t % 4))]}"); done
extra=()
if [ "$PLAN" = column ]; then extra=(--column-splits 2); fi
"$BIN/dlrm-shard" synth --preset "$PRESET" --shards "$SHARDS" --plan "$PLAN" "${extra[@]}" --seed 7 --no-progress \
  "${args[@]}" --out "$T/model" > "$T/synth.log"
grep -q "mixed (7 fp32, 7 fp16, 6 int8, 6 int4)" <("$BIN/dlrm-shard" inspect "$T/model") \
  || { echo "FAIL: inspect does not show the mix"; "$BIN/dlrm-shard" inspect "$T/model"; exit 1; }
"$BIN/dlrm-shard" verify --no-progress "$T/model"
"$BIN/dlrm-reference" --model "$T/model" --data "$DATA" --kernels ref --out "$T/ref.npy" 2> "$T/ref.log"
"${MPIEXEC:-mpiexec}" -n "$RANKS" "$BIN/dlrm-cluster" --model "$T/model" --data "$DATA" --batch 128 --threads 1 \
  --quiet --reference "$WORK/ref.npy" --auc-budget 0.01 --out "$T/pred.npy" --report "$T/report.json" > "$T/run.log" 2>&1 \
  || { echo "FAIL: the run failed"; tail -5 "$T/run.log"; exit 1; }
"$PY" - "$T/report.json" "$T/pred.npy" "$T/ref.npy" <<'PY'
import json, sys
import numpy as np
report, pred, ref = json.load(open(sys.argv[1])), np.load(sys.argv[2]), np.load(sys.argv[3])
diff = float(np.abs(pred.astype(np.float64) - ref).max())
if not diff <= 1e-5:
    sys.exit(f"FAIL: max |cluster - reference of the mixed model| = {diff:.3g} > 1e-5")
if not report["dtype"].startswith("mixed (7 fp32, 7 fp16, 6 int8, 6 int4)"):
    sys.exit(f"FAIL: the report says dtype {report['dtype']!r}")
if not report["auc_within_budget"]:
    sys.exit(f"FAIL: AUC {report['auc']:.6f} vs fp32 {report['reference_auc']:.6f} exceeds the 1% budget")
loss = 1 - report["auc"] / report["reference_auc"]
print(f"ok: {report['dtype']}: max |diff| vs its reference {diff:.2e}; AUC {report['auc']:.6f} vs fp32 "
      f"{report['reference_auc']:.6f} (relative loss {loss:.2e})")
PY
