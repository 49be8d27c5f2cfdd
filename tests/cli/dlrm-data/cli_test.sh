#!/usr/bin/env bash
# Command-line tests of dlrm-data and dlrm-reference.
#   cli_test.sh BIN WORK CASE
# CASE "setup" makes two small models with the same weights (1 shard by table,
# 3 shards by row) and a data file; every other case uses them. Failure cases
# must exit non-zero, log one error line matching a pattern, and leave no
# output (not even a .partial- file) behind.
set -uo pipefail
BIN=$1 WORK=$2 CASE=$3
SEED=7 DATA_SEED=11 SAMPLES=3000
M1=$WORK/model-table-1
M3=$WORK/model-row-3
DATA=$WORK/data.bin
MV2=$WORK/model-small-v2      # dcn, DLRM-v2's hotness
MH=$WORK/model-dot-multi-hot  # dot, with DLRM-v2's hotness added to its manifest
PY=${PYTHON:-/usr/bin/python3}  # with numpy
T=$WORK/$CASE
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

die() { echo "FAIL $CASE: $*"; exit 1; }

# run LOG CMD...: runs CMD with stdout+stderr into LOG, echoes the exit code.
run() {
  local log=$1
  shift
  timeout 120 "$@" >"$log" 2>&1
  echo $?
}

# expect_fail NAME PATTERN OUT CMD...: CMD fails with an error line matching
# PATTERN and leaves nothing at OUT or OUT.partial-*.
expect_fail() {
  local name=$1 pattern=$2 out=$3
  shift 3
  local code
  code=$(run "$T/$name.log" "$@")
  [ "$code" -ne 0 ] || die "$name: exit 0; output: $(cat "$T/$name.log")"
  [ "$code" -ne 124 ] || die "$name: hung"
  # Our errors are "[error]" log lines; command-line syntax errors come from CLI11.
  grep -qE -- "$pattern" "$T/$name.log" \
    || die "$name: no error matching '$pattern'; output: $(cat "$T/$name.log")"
  if ls "$out" "$out".partial-* >/dev/null 2>&1; then die "$name: output $out left behind"; fi
  echo "ok $name (exit $code): $(head -1 "$T/$name.log" | cut -c1-220)"
}

if [ "$CASE" = setup ]; then
  set -e
  echo "setup: model seed $SEED, data seed $DATA_SEED, $SAMPLES samples, in $WORK"
  rm -rf "$WORK" && mkdir -p "$WORK"
  "$BIN/dlrm-shard" synth --preset small --shards 1 --plan table --seed $SEED --no-progress --out "$M1"
  "$BIN/dlrm-shard" synth --preset small --shards 3 --plan row --seed $SEED --no-progress --out "$M3"
  "$BIN/dlrm-data" synth --model "$M1" --samples $SAMPLES --seed $DATA_SEED --out "$DATA"
  "$BIN/dlrm-shard" synth --preset small-v2 --shards 2 --seed $SEED --no-progress --out "$MV2"
  "$BIN/dlrm-shard" synth --preset small --shards 2 --seed $SEED --no-progress --out "$MH"
  python3 - "$MH/manifest.json" "$MV2/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["dlrm_model"]["arch"]["hotness"] = json.load(open(sys.argv[2]))["dlrm_model"]["arch"]["hotness"]
json.dump(m, open(sys.argv[1], "w"), indent=4)
PY
  exit 0
fi

rm -rf "$T" && mkdir -p "$T"
[ -f "$DATA" ] || die "setup did not run (no $DATA)"

case "$CASE" in
  synth_deterministic)
    # Same seed: same bytes whatever the model's sharding; another seed differs.
    [ "$(stat -c %s "$DATA")" -eq $((SAMPLES * 160)) ] || die "data is not $SAMPLES 160-byte records"
    "$BIN/dlrm-data" synth --model "$M3" --samples $SAMPLES --seed $DATA_SEED --out "$T/again.bin" >"$T/again.log" 2>&1 \
      || die "synth on the 3-shard model failed: $(cat "$T/again.log")"
    cmp -s "$DATA" "$T/again.bin" || die "data differs between the 1-shard and 3-shard model"
    "$BIN/dlrm-data" synth --model "$M1" --samples 100 --seed $((DATA_SEED + 1)) --out "$T/other.bin" >"$T/other.log" 2>&1 \
      || die "synth with another seed failed"
    ! cmp -s <(head -c 16000 "$DATA") "$T/other.bin" || die "another seed gave the same records"
    grep -q "seed $DATA_SEED" "$T/again.log" || die "seed not logged"
    auc=$(grep -oE "AUC of the model on this data: [0-9.]+" "$T/again.log" | grep -oE "[0-9.]+$")
    awk -v a="$auc" 'BEGIN { exit !(a > 0.7) }' || die "AUC of the model on its own data is $auc, expected > 0.7"
    echo "ok synth_deterministic: identical across shardings, AUC $auc"
    ;;
  reference)
    # The reference predictions are bit-identical across shardings and kernels agree closely.
    for m in "$M1" "$M3"; do
      "$BIN/dlrm-reference" --model "$m" --data "$DATA" --kernels ref --out "$T/$(basename "$m").npy" \
        >"$T/$(basename "$m").log" 2>&1 || die "dlrm-reference on $m failed: $(cat "$T/$(basename "$m").log")"
    done
    cmp -s "$T/model-table-1.npy" "$T/model-row-3.npy" || die "predictions differ between shardings"
    "$BIN/dlrm-reference" --model "$M3" --data "$DATA" --kernels fast --limit 1000 --out "$T/fast.npy" \
      >"$T/fast.log" 2>&1 || die "fast kernels failed: $(cat "$T/fast.log")"
    # .npy of 1000 float32: a 128-byte header (64-aligned) + 4000 bytes.
    [ "$(stat -c %s "$T/fast.npy")" -eq 4128 ] || die "fast.npy has $(stat -c %s "$T/fast.npy") bytes, expected 4128"
    grep -qE "AUC 0\.[0-9]+" "$T/model-table-1.log" || die "no AUC logged"
    grep -qE "samples/s" "$T/model-table-1.log" || die "no samples/s logged"
    # Compare with the standard library only (numpy may be absent): .npy v1 is
    # magic(6) version(2) header_len(2, LE) header, then the raw <f4 values.
    python3 - "$T/model-table-1.npy" "$T/fast.npy" <<'PY' || die "ref and fast predictions disagree"
import array, struct, sys
def load(path):
    raw = open(path, "rb").read()
    assert raw[:6] == b"\x93NUMPY", path
    (hlen,) = struct.unpack("<H", raw[8:10])
    header = raw[10:10 + hlen].decode()
    assert "'<f4'" in header and "False" in header, header
    values = array.array("f", raw[10 + hlen:])
    return header, values
ref_header, ref = load(sys.argv[1])
fast_header, fast = load(sys.argv[2])
assert "(3000,)" in ref_header and "(1000,)" in fast_header, (ref_header, fast_header)
assert all(0.0 < p < 1.0 for p in ref)
d = max(abs(a - b) for a, b in zip(ref[:1000], fast))
print(f"max |ref - fast| = {d:.3g}")
assert d <= 2e-5, d   # the bound derived in tests/cluster/reference_model_test.cc
PY
    echo "ok reference"
    ;;
  info)
    "$BIN/dlrm-data" info "$DATA" --model "$M3" >"$T/info.log" 2>&1 || die "info failed: $(cat "$T/info.log")"
    grep -q "$SAMPLES samples" "$T/info.log" || die "info does not report $SAMPLES samples"
    grep -q "every index is inside its table" "$T/info.log" || die "info reports bad indices"
    echo "ok info"
    ;;
  missing_model)
    expect_fail synth "$T/nope.*does not exist" "$T/out.bin" \
      "$BIN/dlrm-data" synth --model "$T/nope" --samples 10 --out "$T/out.bin"
    expect_fail reference "$T/nope.*does not exist" "$T/out.npy" \
      "$BIN/dlrm-reference" --model "$T/nope" --data "$DATA" --out "$T/out.npy"
    ;;
  bad_sample_count)
    expect_fail zero "--samples must be positive, got 0" "$T/out.bin" \
      "$BIN/dlrm-data" synth --model "$M1" --samples 0 --out "$T/out.bin"
    expect_fail negative "--samples must be positive, got -5" "$T/out.bin" \
      "$BIN/dlrm-data" synth --model "$M1" --samples -5 --out "$T/out.bin"
    expect_fail not_a_number "Could not convert: --samples = many" "$T/out.bin" \
      "$BIN/dlrm-data" synth --model "$M1" --samples many --out "$T/out.bin"
    expect_fail zipf "--zipf must be" "$T/out.bin" \
      "$BIN/dlrm-data" synth --model "$M1" --samples 10 --zipf -1 --out "$T/out.bin"
    expect_fail limit "--limit must be positive" "$T/out.npy" \
      "$BIN/dlrm-reference" --model "$M1" --data "$DATA" --limit 0 --out "$T/out.npy"
    ;;
  bad_data_file)
    head -c $(( $(stat -c %s "$DATA") - 7 )) "$DATA" > "$T/short.bin"
    expect_fail wrong_size "short.bin has 479993 bytes, not a whole number of 160-byte records \(153 bytes over\)" \
      "$T/out.npy" "$BIN/dlrm-reference" --model "$M1" --data "$T/short.bin" --out "$T/out.npy"
    : > "$T/empty.bin"
    expect_fail empty "empty.bin is empty" "$T/out.npy" \
      "$BIN/dlrm-reference" --model "$M1" --data "$T/empty.bin" --out "$T/out.npy"
    expect_fail missing "nope.bin does not exist" "$T/out.npy" \
      "$BIN/dlrm-reference" --model "$M1" --data "$T/nope.bin" --out "$T/out.npy"
    expect_fail info_wrong_size "short.bin has 479993 bytes" "$T/none" \
      "$BIN/dlrm-data" info "$T/short.bin" --model "$M1"
    # Index 1000000 at sample 5, table 3 (byte offset of int32 number 5*40 + 1 + 13 + 3).
    cp "$DATA" "$T/bad_index.bin"
    printf '\x40\x42\x0f\x00' | dd of="$T/bad_index.bin" bs=1 seek=$(( (5 * 40 + 1 + 13 + 3) * 4 )) conv=notrunc 2>/dev/null
    expect_fail bad_index "sample 5 table 3: index 1000000 outside \[0, 1000\).*--fold-indices" "$T/out.npy" \
      "$BIN/dlrm-reference" --model "$M1" --data "$T/bad_index.bin" --out "$T/out.npy"
    "$BIN/dlrm-reference" --model "$M1" --data "$T/bad_index.bin" --fold-indices --out "$T/folded.npy" \
      >"$T/folded.log" 2>&1 || die "--fold-indices did not accept the bad index: $(cat "$T/folded.log")"
    echo "ok fold_indices"
    ;;
  bad_output)
    expect_fail out_dir_missing "cannot create $T/no/such/dir/out.bin" "$T/no/such/dir/out.bin" \
      "$BIN/dlrm-data" synth --model "$M1" --samples 10 --out "$T/no/such/dir/out.bin"
    expect_fail npy_dir_missing "cannot write --out $T/no/dir/out.npy: directory $T/no/dir does not exist" \
      "$T/no/dir/out.npy" "$BIN/dlrm-reference" --model "$M1" --data "$DATA" --out "$T/no/dir/out.npy"
    ! grep -q "predicting" "$T/npy_dir_missing.log" || die "npy_dir_missing: predicted before checking --out"
    ! grep -q "synthesising" "$T/out_dir_missing.log" || die "out_dir_missing: loaded the model before checking --out"
    mkdir -p "$T/adir"
    expect_fail out_is_dir "is a directory" "$T/none" \
      "$BIN/dlrm-reference" --model "$M1" --data "$DATA" --out "$T/adir"
    expect_fail kernels "--kernels: bogus not in" "$T/out.npy" \
      "$BIN/dlrm-reference" --model "$M1" --data "$DATA" --kernels bogus --out "$T/out.npy"
    expect_fail convert "--from $T/day_0 does not exist" "$T/out.bin" \
      "$BIN/dlrm-data" convert --from "$T/day_0" --out "$T/out.bin" --max-ind-range 1000
    ;;
  multi_hot_synth)
    # A multi-hot model gets MLPerf's dlrm-v2 files, the same bytes for any
    # chunking, read back by numpy (shapes, dtypes, ranges, stored aligned
    # entries) and by dlrm-data info.
    "$BIN/dlrm-data" synth --model "$MV2" --samples $SAMPLES --seed $DATA_SEED --labels coin --out "$T" \
      >"$T/synth.log" 2>&1 || die "multi-hot synth failed: $(cat "$T/synth.log")"
    mkdir -p "$T/p"
    "$BIN/dlrm-data" synth --model "$MV2" --samples $SAMPLES --seed $DATA_SEED --labels coin --chunk-samples 700 \
      --out "$T/p/day_23" >"$T/chunked.log" 2>&1 || die "chunked synth failed: $(cat "$T/chunked.log")"
    "$BIN/dlrm-data" synth --model "$MV2" --samples $SAMPLES --seed $((DATA_SEED + 1)) --labels coin \
      --out "$T/p/day_24" >"$T/other.log" 2>&1 || die "synth with another seed failed: $(cat "$T/other.log")"
    for f in dense.npy sparse_multi_hot.npz labels.npy; do
      cmp -s "$T/day_0_$f" "$T/p/day_23_$f" || die "day_0_$f differs between chunks of 16384 and 700"
      ! cmp -s "$T/day_0_$f" "$T/p/day_24_$f" || [ $f = labels.npy ] || die "another seed gave the same $f"
    done
    ls "$T" "$T/p" | grep -q partial && die "staged files left behind"
    "$PY" - "$T/day_0" "$MV2/manifest.json" $SAMPLES <<'PY' || die "numpy read-back failed"
import json, struct, sys, zipfile
import numpy as np
prefix, manifest, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
arch = json.load(open(manifest))["dlrm_model"]["arch"]
rows, hot, F = arch["table_rows"], arch["hotness"], arch["dense_features"]
dense = np.load(prefix + "_dense.npy")
labels = np.load(prefix + "_labels.npy")
assert dense.dtype == np.float32 and dense.shape == (n, F), (dense.dtype, dense.shape)
assert labels.dtype == np.int32 and labels.shape == (n, 1), (labels.dtype, labels.shape)
assert set(np.unique(labels)) == {0, 1}, np.unique(labels)
assert np.isfinite(dense).all() and dense.min() >= np.float32(np.log(2)), dense.min()  # log(x + 3), x >= -1
sparse = np.load(prefix + "_sparse_multi_hot.npz")
assert sorted(sparse.files, key=int) == [str(t) for t in range(len(rows))], sparse.files
for t in range(len(rows)):
    a = sparse[str(t)]
    assert a.dtype == np.int32 and a.shape == (n, hot[t]), (t, a.dtype, a.shape)
    assert a.min() >= 0 and a.max() < rows[t], (t, a.min(), a.max())
    if hot[t] > 1 and rows[t] > 100:
        assert (a[:, 0] != a[:, 1]).mean() > 0.3, t  # separate draws in a bag
raw = open(prefix + "_sparse_multi_hot.npz", "rb").read()
with zipfile.ZipFile(prefix + "_sparse_multi_hot.npz") as z:
    assert z.testzip() is None
    for info in z.infolist():
        assert info.compress_type == zipfile.ZIP_STORED, info
        name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
        member = info.header_offset + 30 + name_len + extra_len
        (hlen,) = struct.unpack("<H", raw[member + 8:member + 10])
        assert (member + 10 + hlen) % 64 == 0, (info.filename, member + 10 + hlen)
print(f"numpy: {n} samples, {sum(hot)} lookups each, label rate {labels.mean():.3f}")
PY
    "$BIN/dlrm-data" info "$T/p/day_23" --model "$MV2" >"$T/info.log" 2>&1 || die "info failed: $(cat "$T/info.log")"
    grep -q "$SAMPLES multi-hot samples (214 lookups each)" "$T/info.log" || die "info: $(head -3 "$T/info.log")"
    grep -q "every index is inside its table" "$T/info.log" || die "info reports bad indices"
    echo "ok multi_hot_synth"
    ;;
  multi_hot_bad)
    expect_fail labels "--labels must be 'model' or 'coin', got 'bogus'" "$T/day_0_dense.npy" \
      "$BIN/dlrm-data" synth --model "$MV2" --samples 10 --labels bogus --out "$T"
    expect_fail coin_records "--labels coin is for multi-hot models" "$T/out.bin" \
      "$BIN/dlrm-data" synth --model "$M1" --samples 10 --labels coin --out "$T/out.bin"
    expect_fail out_missing "cannot create $T/no/such/day_1_dense.npy" "$T/no/such/day_1_dense.npy" \
      "$BIN/dlrm-data" synth --model "$MV2" --samples 10 --labels coin --out "$T/no/such/day_1"
    # numpy's savez (entries not aligned: read into memory), one index out of
    # range; then savez_compressed (refused).
    "$BIN/dlrm-data" synth --model "$MV2" --samples 50 --labels coin --out "$T/day_2" >"$T/synth.log" 2>&1 \
      || die "synth failed: $(cat "$T/synth.log")"
    "$PY" - "$T/day_2" <<'PY' || die "numpy rewrite failed"
import sys
import numpy as np
p = sys.argv[1] + "_sparse_multi_hot.npz"
arrays = dict(np.load(p))
arrays["20"][7, 55] = 1000000
np.savez(p, **arrays)
np.savez_compressed(sys.argv[1].replace("day_2", "day_3") + "_sparse_multi_hot.npz", **arrays)
PY
    "$BIN/dlrm-data" info "$T/day_2" --model "$MV2" >"$T/info.log" 2>&1 || die "info failed: $(cat "$T/info.log")"
    grep -qE "first out-of-range index: sample 7 table 20 bag position 55 of 100: index 1000000 outside \[0, [0-9]+\)" \
      "$T/info.log" || die "info did not find the bad index: $(cat "$T/info.log")"
    cp "$T/day_2_dense.npy" "$T/day_3_dense.npy" && cp "$T/day_2_labels.npy" "$T/day_3_labels.npy"
    expect_fail compressed "day_3_sparse_multi_hot.npz entry '0' is compressed" "$T/none" \
      "$BIN/dlrm-data" info "$T/day_3" --model "$MV2"
    rm "$T/day_3_labels.npy"
    expect_fail missing_labels "missing $T/day_3_labels.npy" "$T/none" \
      "$BIN/dlrm-data" info "$T/day_3" --model "$MV2"
    expect_fail two_days "holds 2 days of multi-hot data" "$T/none" \
      "$BIN/dlrm-data" info "$T" --model "$MV2"
    ;;
  multi_hot_model_labels)
    # Labels planted from the model's predictions on multi-hot bags, then the
    # reference predicts the files (needs ReferenceModel to sum bags).
    "$BIN/dlrm-data" synth --model "$MH" --samples $SAMPLES --seed $DATA_SEED --out "$T" >"$T/synth.log" 2>&1 \
      || die "synth with model labels failed: $(cat "$T/synth.log")"
    auc=$(grep -oE "AUC of the model on this data: [0-9.]+" "$T/synth.log" | grep -oE "[0-9.]+$")
    awk -v a="$auc" 'BEGIN { exit !(a > 0.7) }' || die "AUC of the model on its own data is $auc, expected > 0.7"
    "$BIN/dlrm-reference" --model "$MH" --data "$T" --out "$T/pred.npy" >"$T/ref.log" 2>&1 \
      || die "dlrm-reference on multi-hot data failed: $(cat "$T/ref.log")"
    grep -qE "AUC 0\.[0-9]+" "$T/ref.log" || die "no AUC logged"
    echo "ok multi_hot_model_labels: AUC $auc"
    ;;
  *)
    die "unknown case"
    ;;
esac
exit 0
