#!/usr/bin/env bash
# Makes the models (one per plan:shards, all from the same seed, so the same
# weights), the data, and the single-process _ref reference predictions.
#   [PRESET=small|small-v2] setup.sh BIN WORK plan:shards...
# small-v2 (DLRM-v2's shape: cross network, multi-hot) gets its data in
# MLPerf's dlrm-v2 layout (WORK/data/day_0_*); WORK/data.arg holds the
# --data argument either way, WORK/labels.npy the labels.
set -euo pipefail
BIN=$1 WORK=$2
shift 2
PRESET=${PRESET:-small}
SEED=7 DATA_SEED=11 SAMPLES=3000
echo "setup: preset $PRESET, model seed $SEED, data seed $DATA_SEED, $SAMPLES samples, in $WORK"
rm -rf "$WORK"
mkdir -p "$WORK"
for ps in "$@"; do
  plan=${ps%%:*} shards=${ps##*:}
  extra=()
  if [ "$plan" = column ]; then extra=(--column-splits 2); fi
  "$BIN/dlrm-shard" synth --preset "$PRESET" --shards "$shards" --plan "$plan" "${extra[@]}" --seed "$SEED" \
    --out "$WORK/model-$plan-$shards"
done
first=$(ls -d "$WORK"/model-* | head -1)
if [ "$PRESET" = small-v2 ]; then
  DATA=$WORK/data/day_0
  mkdir -p "$WORK/data"
  "$BIN/dlrm-data" synth --model "$first" --samples "$SAMPLES" --seed "$DATA_SEED" --out "$DATA"
  cp "${DATA}_labels.npy" "$WORK/labels.npy"
else
  DATA=$WORK/data.bin
  "$BIN/dlrm-data" synth --model "$first" --samples "$SAMPLES" --seed "$DATA_SEED" --out "$DATA"
  "${PYTHON:-/usr/bin/python3}" -c "import numpy as np, sys; np.save(sys.argv[2], np.fromfile(sys.argv[1], np.int32).reshape($SAMPLES, -1)[:, 0])" \
    "$DATA" "$WORK/labels.npy"
fi
echo "$DATA" > "$WORK/data.arg"
"$BIN/dlrm-reference" --model "$first" --data "$DATA" --kernels ref --out "$WORK/ref.npy"
