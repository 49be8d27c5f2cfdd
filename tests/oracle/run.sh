#!/usr/bin/env bash
# One oracle run: import FORMAT with dlrm-shard, serve it under mpiexec, and
# compare with PyTorch (check.py).
#   run.sh BIN WORK FORMAT PLAN SHARDS RANKS DATA      DATA: bin | npz | multihot
# FORMAT: legacy, zip, wrapped, npy, onnx (oracle.py's DLRM), or torchrec,
# dlrmtrain, intel, npy-torchrec (oracle_dcn.py's DLRM_DCN, data multihot).
set -euo pipefail
BIN=$1 WORK=$2 FORMAT=$3 PLAN=$4 SHARDS=$5 RANKS=$6 DATA=$7
TORCH=$WORK/torch
if [ ! -f "$TORCH/oracle.json" ]; then
  echo "SKIP: no oracle output in $TORCH (oracle.setup needs /usr/bin/python3 with torch)"
  exit 77
fi
case $FORMAT in
  legacy) SRC=$TORCH/model_legacy.pt ;;
  zip) SRC=$TORCH/model_zip.pt ;;
  wrapped) SRC=$TORCH/model_wrapped.pt ;;
  npy) SRC=$TORCH/npy ;;
  onnx) SRC=$TORCH/onnx/model.onnx ;;
  torchrec | dlrmtrain | intel) SRC=$TORCH/$FORMAT.pt ;;
  npy-torchrec) SRC=$TORCH/npy ;;
  *) echo "unknown format $FORMAT"; exit 2 ;;
esac
MODEL=$WORK/model-$FORMAT-$PLAN-$SHARDS
OUT=$WORK/run-$FORMAT-$PLAN-s$SHARDS-n$RANKS
rm -rf "$OUT" && mkdir -p "$OUT"
extra=()
if [ "$PLAN" = column ]; then extra=(--column-splits 2); fi
hotness=()
if [ "$DATA" = multihot ]; then hotness=(--hotness dlrm-v2); fi
"$BIN/dlrm-shard" import --from "$SRC" "${hotness[@]}" --shards "$SHARDS" --plan "$PLAN" "${extra[@]}" --out "$MODEL" --force \
  --no-progress
# The reference predictions come from data.npz itself in the .npz runs.
if [ "$DATA" = npz ]; then
  data=(--data "$TORCH/data.npz" --reference "$TORCH/data.npz")
elif [ "$DATA" = multihot ]; then
  data=(--data "$TORCH/data" --reference "$TORCH/torch_pred.npy")
else
  data=(--data "$TORCH/data.bin" --reference "$TORCH/torch_pred.npy")
fi
"${MPIEXEC:-mpiexec}" -n "$RANKS" "$BIN/dlrm-cluster" --model "$MODEL" "${data[@]}" --batch 256 --threads 1 \
  --out "$OUT/pred.npy" --report "$OUT/report.json"
"${PYTHON:-/usr/bin/python3}" "$(dirname "$0")/check.py" "$OUT/pred.npy" "$OUT/report.json" "$TORCH"
