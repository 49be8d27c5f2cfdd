#!/usr/bin/env bash
# dlrm-shard import of DLRM_DCN (DLRM-v2) checkpoints written by
# tests/oracle/dlrm_dcn.py (import.dcn_fixtures): each form (TorchRec,
# DLRMTrain and Intel namings as .pt; TorchRec and Intel .npy directories)
# imports under a different plan, inspect says "interaction dcn", verify
# passes, and dense.bin and every table row equal the PyTorch model's
# (dlrm_dcn.py compare). --hotness lands in the manifest; bad checkpoints and
# bad --hotness exit non-zero with one error naming the key or value, leaving
# nothing behind.
#   import_dcn.sh DLRM_SHARD FIXTURES WORK        (exit 77: fixtures missing)
set -uo pipefail
BIN=$1 FIX=$2 WORK=$3
HERE=$(cd "$(dirname "$0")" && pwd)
DCN_PY="$HERE/../../oracle/dlrm_dcn.py"
if [ ! -f "$FIX/done" ]; then
  echo "SKIP: DLRM_DCN fixtures missing in $FIX (import.dcn_fixtures needs /usr/bin/python3 with torch)"
  exit 77
fi
rm -rf "$WORK" && mkdir -p "$WORK"
failures=0
export DLRM_LOG_LEVEL=info

fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# Each form with its own plan and shard count.
for item in torchrec.pt:table:1 dlrmtrain.pt:row:2 intel.pt:column:3 npy_torchrec:auto:2 npy_intel:row:3; do
  IFS=: read -r form plan shards <<<"$item"
  out="$WORK/m_$form"
  if ! "$BIN" import --from "$FIX/$form" --plan "$plan" --shards "$shards" --no-progress --out "$out" \
      >"$WORK/$form.log" 2>&1; then
    fail "$form: import failed"; cat "$WORK/$form.log"; continue
  fi
  "$BIN" inspect "$out" >"$WORK/$form.inspect" 2>&1 || fail "$form: inspect failed"
  grep -q "interaction dcn" "$WORK/$form.inspect" || { fail "$form: inspect lacks 'interaction dcn'"; cat "$WORK/$form.inspect"; }
  "$BIN" inspect --json "$out" | grep -q '"interaction": "dcn"' || fail "$form: inspect --json lacks interaction dcn"
  "$BIN" verify "$out" >"$WORK/$form.verify" 2>&1 || { fail "$form: verify failed"; cat "$WORK/$form.verify"; }
  if /usr/bin/python3 "$DCN_PY" compare "$out" "$FIX" >"$WORK/$form.compare" 2>&1; then
    echo "ok $form ($plan, $shards shards): $(tail -1 "$WORK/$form.compare")"
  else
    fail "$form: the model differs from the PyTorch model"; cat "$WORK/$form.compare"
  fi
done

# --hotness: recorded in the manifest and the source line.
if "$BIN" import --from "$FIX/intel.pt" --hotness 2,1,3 --shards 1 --no-progress --out "$WORK/hot" >"$WORK/hot.log" 2>&1; then
  /usr/bin/python3 - "$WORK/hot/manifest.json" <<'PY' || fail "--hotness 2,1,3 not in the manifest"
import json, sys
m = json.load(open(sys.argv[1]))["dlrm_model"]
assert m["arch"]["hotness"] == [2, 1, 3], m["arch"]
assert m["source"].endswith("hotness=2,1,3"), m["source"]
print("ok hotness: manifest arch.hotness [2, 1, 3], source", m["source"])
PY
else
  fail "--hotness 2,1,3: import failed"; cat "$WORK/hot.log"
fi

# expect_fail NAME PATTERN ARGS...: non-zero exit, one error line matching
# PATTERN (extended regex), no output directory and no staged leftovers.
expect_fail() {
  local name=$1 pattern=$2
  shift 2
  "$BIN" import "$@" --shards 1 --no-progress --out "$WORK/bad_$name" >"$WORK/bad_$name.log" 2>&1
  local code=$?
  local errors
  errors=$(grep -c '\[error\]' "$WORK/bad_$name.log")
  if [ $code -eq 0 ] || [ "$errors" -ne 1 ] || ! grep '\[error\]' "$WORK/bad_$name.log" | grep -qE "$pattern"; then
    fail "$name: expected one error matching '$pattern' (exit $code)"; cat "$WORK/bad_$name.log"; return
  fi
  if [ -e "$WORK/bad_$name" ] || find "$WORK" -name '*.partial-*' | grep -q .; then
    fail "$name: output left behind"; return
  fi
  echo "ok $name: $(grep '\[error\]' "$WORK/bad_$name.log" | cut -c1-200)"
}

expect_fail hotness_dlrm_v2 "hotness dlrm-v2 .*26 tables.* 3 tables" --from "$FIX/torchrec.pt" --hotness dlrm-v2
expect_fail hotness_count "hotness lists 2 values but the model has 3 tables" --from "$FIX/torchrec.pt" --hotness 1,2
expect_fail hotness_value "hotness: item 1 is '0'" --from "$FIX/torchrec.pt" --hotness 1,0,2

# Damaged .npy directories: a key of the other naming, a transposed V, a missing final Linear.
mixed="$WORK/mixed" transposed="$WORK/transposed" nofinal="$WORK/nofinal"
cp -r "$FIX/npy_torchrec" "$mixed" && cp -r "$FIX/npy_torchrec" "$transposed" && cp -r "$FIX/npy_torchrec" "$nofinal"
mv "$mixed/inter_arch.crossnet.bias.1.npy" "$mixed/inter_arch.crossnet.MLPs.W1.bias.npy"
/usr/bin/python3 -c "
import numpy as np, sys
p = sys.argv[1] + '/inter_arch.crossnet.V_kernels.1.npy'
np.save(p, np.ascontiguousarray(np.load(p).T))" "$transposed" || fail "cannot write the transposed V"
rm "$nofinal/over_arch.model.1.weight.npy"
expect_fail mixed_naming "inter_arch.crossnet.MLPs.W1.bias' has Intel-converted DLRM_DCN naming" --from "$mixed"
expect_fail transposed_v "inter_arch.crossnet.V_kernels.1: shape \(16, 3\) is transposed; expected \(3, 16\)" \
  --from "$transposed"
expect_fail missing_final "missing over_arch.model.1.weight" --from "$nofinal"

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all DLRM_DCN import cases passed"
