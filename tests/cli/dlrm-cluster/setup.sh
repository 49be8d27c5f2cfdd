#!/usr/bin/env bash
# Makes the models (one per plan:shards, all from the same seed, so the same
# weights), the data, and the single-process _ref reference predictions.
#   setup.sh BIN WORK plan:shards...
set -euo pipefail
BIN=$1 WORK=$2
shift 2
SEED=7 DATA_SEED=11 SAMPLES=3000
echo "setup: model seed $SEED, data seed $DATA_SEED, $SAMPLES samples, in $WORK"
rm -rf "$WORK"
mkdir -p "$WORK"
for ps in "$@"; do
  plan=${ps%%:*} shards=${ps##*:}
  extra=()
  if [ "$plan" = column ]; then extra=(--column-splits 2); fi
  "$BIN/dlrm-shard" synth --preset small --shards "$shards" --plan "$plan" "${extra[@]}" --seed "$SEED" \
    --out "$WORK/model-$plan-$shards"
done
first=$(ls -d "$WORK"/model-* | head -1)
"$BIN/dlrm-data" synth --model "$first" --samples "$SAMPLES" --seed "$DATA_SEED" --out "$WORK/data.bin"
"$BIN/dlrm-reference" --model "$first" --data "$WORK/data.bin" --kernels ref --out "$WORK/ref.npy"
