#!/usr/bin/env bash
# dlrm-bench end to end (not a timing test: the figures only have to exist and
# be consistent): the MLP-only bound and the cluster in one job, twice
# (--repeat 2), with the int8 throughput configuration, and its JSON checked;
# then bad options refused by name.
#   bench.sh BIN WORK
set -euo pipefail
BIN=$1 WORK=$2
MPIEXEC=${MPIEXEC:-mpiexec}
PY=${PYTHON:-/usr/bin/python3}
source "$(dirname "$0")/../../support/cluster_lib.sh"
T=$WORK/bench
rm -rf "$T" && mkdir -p "$T"
cp -r "$WORK/model-table-2" "$T/model"
"$BIN/dlrm-shard" calibrate --model "$T/model" --data "$WORK/data.bin" 2>/dev/null
"$MPIEXEC" -n 3 "$BIN/dlrm-bench" --model "$T/model" --data "$WORK/data.bin" --batch 128 --threads 1 --warmup 2 \
  --mlp-batches 20 --bound-windows 4 --repeat 2 --check 256 --mlp int8 --exchange-dtype bf16 --interaction bf16 --exchange-transport shm --json "$T/bench.json" \
  > "$T/bench.log" 2>&1 || { echo "FAIL: dlrm-bench exited $?"; cat "$T/bench.log"; exit 1; }
cat "$T/bench.log" | grep -v "\] \[info\]"
# Quantized and without --reference: the unchecked accuracy budget is said
# once, not once per trial.
warnings=$(grep -c "the accuracy budget was not checked" "$T/bench.log" || true)
[ "$warnings" -eq 1 ] || { echo "FAIL: the unchecked-budget warning appeared $warnings times, want once"; exit 1; }
"$PY" - "$T/bench.json" "$T/model/manifest.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
problems = []
# Multiply-adds per pair from the manifest: bottom MLP from the dense
# features, top MLP from the interaction's width (dot: dim + F(F-1)/2 pairs).
a = json.load(open(sys.argv[2]))["dlrm_model"]["arch"]
def chain(width, outs):
    macs = 0
    for out in outs:
        macs, width = macs + width * out, out
    return macs
features = len(a["table_rows"]) + 1
top_in = a["dim"] + (features * (features + 1) // 2 if a["interaction_self"] else features * (features - 1) // 2)
macs = chain(a["dense_features"], a["bottom_mlp"]) + chain(top_in, a["top_mlp"])
if a["interaction"] != "dot" or b.get("dense_macs_per_pair") != macs:
    problems.append(f"dense_macs_per_pair {b.get('dense_macs_per_pair')}, want {macs} ({a['interaction']})")
# The bound in GOP/s and against the peak of its precision (int8 here: VNNI,
# when the build has it): the same figures, divided (1e-9: rounding of the
# divisions only). The peaks only have to exist here.
ops = b["mlp_bound_pairs_per_s"] * 2 * macs
if abs(b["mlp_bound_gops"] * 1e9 - ops) > 1e-9 * ops:
    problems.append(f"mlp_bound_gops {b['mlp_bound_gops']} vs {ops / 1e9}")
if not (b["fma_peak_gflops"] > 0 and b["fma_peak_instruction"] and b["vnni_peak_instruction"]):
    problems.append(f"fma peak {b['fma_peak_gflops']} ({b['fma_peak_instruction']!r}), vnni {b['vnni_peak_instruction']!r}")
if b["vnni_peak_gops"] > 0:
    if abs(b["mlp_bound_fraction_of_peak"] * b["vnni_peak_gops"] - b["mlp_bound_gops"]) > 1e-9 * b["mlp_bound_gops"]:
        problems.append(f"fraction {b['mlp_bound_fraction_of_peak']} of {b['vnni_peak_gops']} GOP/s")
elif b["mlp_bound_fraction_of_peak"] != 0:
    problems.append(f"fraction {b['mlp_bound_fraction_of_peak']} without a VNNI peak")
want = {"mlp": "int8", "interaction": "bf16", "exchange_type": "bf16", "exchange_transport": "shm", "shards": 2,
        "dense_ranks": 1, "pairs": 3000, "check_samples": 256, "correct": True}
problems += [f"{k} = {b.get(k)!r}, want {v!r}" for k, v in want.items() if b.get(k) != v]
trials = b.get("trials", [])
if len(trials) != 2:
    problems.append(f"{len(trials)} trials, want 2")
for t in trials:
    if not (t["mlp_bound_pairs_per_s"] > 0 and t["cluster_pairs_per_s"] > 0
            and abs(t["ratio"] - t["cluster_pairs_per_s"] / t["mlp_bound_pairs_per_s"]) < 1e-9):
        problems.append(f"inconsistent trial {t}")
    # The bound is the fastest of the windows: at least the median window and
    # every window together (1e-9: the rates are divisions of the same sums).
    best, median, whole = (t[k] for k in ("mlp_bound_pairs_per_s", "mlp_bound_median_window_pairs_per_s",
                                          "mlp_bound_whole_pairs_per_s"))
    if not (best * (1 + 1e-9) >= median > 0 and best * (1 + 1e-9) >= whole > 0):
        problems.append(f"bound: fastest window {best}, median window {median}, all together {whole}")
if b.get("mlp_bound_windows") != 4:  # --mlp-batches 20 --bound-windows 4
    problems.append(f"mlp_bound_windows = {b.get('mlp_bound_windows')!r}, want 4")
# The reported figures are those of one of the trials, the one with the median (here: lower) ratio.
if trials and min(t["ratio"] for t in trials) != b["ratio"]:
    problems.append(f"ratio {b['ratio']} is not the median-trial ratio of {[t['ratio'] for t in trials]}")
if not b["check_max_abs_diff"] <= b["check_tolerance"]:
    problems.append(f"check {b['check_max_abs_diff']} > {b['check_tolerance']}")
if not (b["exchange_bytes_per_pair"] >= b["minimum_bytes_per_pair"] == 26 * (4 + 16 * 2)):
    problems.append(f"bytes/pair {b['exchange_bytes_per_pair']} vs minimum {b['minimum_bytes_per_pair']}")
if sorted(b["stage_seconds"]) != sorted(["read_input", "route", "exchange_indices", "bottom_mlp", "exchange_pooled", "local_pool",
                                         "assemble", "interaction", "top_mlp", "shard_wait", "pool"]):
    problems.append(f"stages {sorted(b['stage_seconds'])}")
if problems:
    sys.exit("FAIL: " + "; ".join(problems))
print(f"ok: ratio {b['ratio']:.3f} (trials {[round(t['ratio'], 3) for t in trials]}), check {b['check_max_abs_diff']:.2g}")
PY
# Accuracy data as .npz, and a --batch far above the 3000 samples: the bound
# and the cluster both run batches of 3000 (the JSON says so), and the _ref
# check reads the .npz too.
"$PY" -c "
import numpy as np, sys
r = np.fromfile(sys.argv[1], dtype=np.int32).reshape(-1, 40)
np.savez(sys.argv[2], dense=r[:, 1:14], sparse=r[:, 14:], labels=r[:, 0])" "$WORK/data.bin" "$T/data.npz"
"$MPIEXEC" -n 3 "$BIN/dlrm-bench" --model "$T/model" --data "$T/data.npz" --batch 100000000 --threads 1 \
  --mlp-batches 5 --check 256 --json "$T/bench-npz.json" > "$T/bench-npz.log" 2>&1 ||
  { echo "FAIL: dlrm-bench on .npz exited $?"; cat "$T/bench-npz.log"; exit 1; }
"$PY" - "$T/bench-npz.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
want = {"batch": 3000, "pairs": 3000, "check_samples": 256, "correct": True, "mlp_bound_windows": 5}
problems = [f"{k} = {b.get(k)!r}, want {v!r}" for k, v in want.items() if b.get(k) != v]
# fp32 MLPs: the fraction is of the FMA peak.
if abs(b["mlp_bound_fraction_of_peak"] * b["fma_peak_gflops"] - b["mlp_bound_gops"]) > 1e-9 * b["mlp_bound_gops"]:
    problems.append(f"fraction {b['mlp_bound_fraction_of_peak']} of {b['fma_peak_gflops']} GFLOP/s")
if problems:
    sys.exit("FAIL (.npz, huge --batch): " + "; ".join(problems))
print(f"ok: .npz data, --batch 10^8 run as batches of {b['batch']}, check {b['check_max_abs_diff']:.2g}")
PY
failures=0
for opt in "--repeat 0" "--interaction fp16" "--bound-windows 0" "--mlp-batches 0"; do
  expect_refused "$opt" "$MPIEXEC" -n 3 "$BIN/dlrm-bench" --model "$T/model" --data "$WORK/data.bin" \
    --json "$T/bench-bad.json" || failures=$((failures + 1))
done
# Bad data is refused before the trials, collectively, naming the file.
head -c 1000 "$WORK/data.bin" > "$T/short.bin"
"$PY" -c "import numpy as np; np.savez('$T/no_sparse.npz', dense=np.zeros((4, 13), np.int32), labels=np.zeros(4, np.int32))"
for bad in short.bin no_sparse.npz; do
  if timeout 60 "$MPIEXEC" -n 3 "$BIN/dlrm-bench" --model "$T/model" --data "$T/$bad" --threads 1 \
      --json "$T/bench-bad.json" > "$T/bad-data.log" 2>&1; then
    echo "FAIL: dlrm-bench accepted $bad"; failures=$((failures + 1))
  elif ! grep "r0\] \[error\]" "$T/bad-data.log" | grep -q "reading the data failed.*$bad"; then
    echo "FAIL: no rank-0 error naming $bad:"; cat "$T/bad-data.log"; failures=$((failures + 1))
  else
    echo "ok bad data $bad: $(grep 'error\]' "$T/bad-data.log" | head -1 | cut -c1-200)"
  fi
done
[ -e "$T/bench-bad.json" ] && { echo "FAIL: output left behind"; failures=$((failures + 1)); }
[ $failures -eq 0 ]
