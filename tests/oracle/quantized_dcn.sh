#!/usr/bin/env bash
# Quantized serving of the DLRM_DCN oracle (issue 16): fp32, fp16, int8 and
# int4 tables x fp32 and int8 MLPs plus cross network (calibrated on
# oracle_dcn.py's held-out calib/ pairs), each run by dlrm-cluster with
# --auc-budget 0.001: MLPerf's 99.9% target, relative to PyTorch's fp32 AUC on
# the same labelled pairs. The cluster exits non-zero when a run exceeds it.
#   quantized_dcn.sh BIN WORK
set -uo pipefail
BIN=$1 WORK=$2
TORCH=$WORK/torch
if [ ! -f "$TORCH/oracle.json" ]; then
  echo "SKIP: no oracle output in $TORCH (oracle.dcn.setup needs /usr/bin/python3 with torch)"
  exit 77
fi
OUT=$WORK/quantized
rm -rf "$OUT" && mkdir -p "$OUT"
failures=0
for dtype in fp32 fp16 int8 int4; do
  "$BIN/dlrm-shard" import --from "$TORCH/torchrec.pt" --hotness dlrm-v2 --shards 2 --dtype "$dtype" \
    --out "$OUT/model-$dtype" --no-progress > "$OUT/import-$dtype.log" 2>&1 ||
    { echo "FAIL: import $dtype: $(tail -3 "$OUT/import-$dtype.log")"; exit 1; }
  # Ranges from the fp32 activations, whatever the tables' storage.
  "$BIN/dlrm-shard" calibrate --model "$OUT/model-$dtype" --data "$TORCH/calib/day_0" > "$OUT/calib-$dtype.log" 2>&1 ||
    { echo "FAIL: calibrate $dtype: $(tail -3 "$OUT/calib-$dtype.log")"; exit 1; }
done
printf "%-6s %-5s %10s %10s %12s  %s\n" tables mlp AUC PyTorch "rel. loss" verdict
for dtype in fp32 fp16 int8 int4; do
  for mlp in fp32 int8; do
    log=$OUT/run-$dtype-$mlp.log
    "${MPIEXEC:-mpiexec}" -n 3 "$BIN/dlrm-cluster" --model "$OUT/model-$dtype" --data "$TORCH/data/day_0" \
      --reference "$TORCH/torch_pred.npy" --threads 1 --mlp "$mlp" --auc-budget 0.001 --quiet \
      --report "$OUT/report-$dtype-$mlp.json" > "$log" 2>&1
    code=$?
    line=$("${PYTHON:-/usr/bin/python3}" - "$OUT/report-$dtype-$mlp.json" "$code" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
loss = 1 - r["auc"] / r["reference_auc"]
ok = r["auc_within_budget"] and sys.argv[2] == "0"
print(f"{r['auc']:10.6f} {r['reference_auc']:10.6f} {loss:12.6f}  {'within' if ok else 'EXCEEDED'}")
PY
)
    printf "%-6s %-5s %s\n" "$dtype" "$mlp" "$line"
    [ $code -eq 0 ] && [[ $line == *within ]] || { failures=$((failures + 1)); tail -5 "$log"; }
  done
done
[ $failures -eq 0 ] || { echo "FAIL: $failures runs outside the 0.1% AUC budget"; exit 1; }
echo "ok: every storage type and MLP precision within 0.1% of PyTorch's AUC"
