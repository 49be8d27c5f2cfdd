#!/usr/bin/env bash
# Bad input to dlrm-cluster: each case must end the whole job promptly with a
# non-zero exit, an error line from rank 0 naming the problem, and no
# predictions file left behind.
#   bad_input.sh BIN WORK
set -uo pipefail
BIN=$1 WORK=$2
source "$(dirname "$0")/../../support/cluster_lib.sh"
MPIEXEC=${MPIEXEC:-mpiexec}
T=$WORK/bad_input
umount "$T/tinyfs" 2>/dev/null  # left mounted by an interrupted earlier run (window_room below)
rm -rf "$T" && mkdir -p "$T"
MODEL=$WORK/model-table-2
failures=0

# expect_fail NAME PATTERN RANKS ARGS...: the run fails within 60 s, rank 0
# logs an error matching PATTERN, and $T/pred.npy does not exist.
expect_fail() {
  local name=$1 pattern=$2 ranks=$3
  shift 3
  rm -f "$T/pred.npy"
  local start=$SECONDS
  timeout 60 "$MPIEXEC" -n "$ranks" "$BIN/dlrm-cluster" --out "$T/pred.npy" --threads 1 "$@" >"$T/$name.log" 2>&1
  local code=$?
  local took=$((SECONDS - start))
  if [ $code -eq 0 ]; then
    echo "FAIL $name: exit 0"; failures=$((failures + 1)); return
  fi
  if [ $code -eq 124 ]; then
    echo "FAIL $name: hung (killed after 60 s)"; failures=$((failures + 1)); return
  fi
  if ! grep -E "r0\] \[error\]" "$T/$name.log" | grep -qE "$pattern"; then
    echo "FAIL $name: no rank-0 error matching '$pattern'; output:"; cat "$T/$name.log"
    failures=$((failures + 1)); return
  fi
  if ls "$T"/pred.npy* >/dev/null 2>&1; then
    echo "FAIL $name: predictions file left behind"; failures=$((failures + 1)); return
  fi
  echo "ok $name: exit $code in ${took}s: $(grep -E 'r0\] \[error\]' "$T/$name.log" | head -1 | cut -c1-200)"
}

# Too few ranks for the plan (2 shards need 3 ranks).
expect_fail too_few_ranks "at least 3 ranks" 2 --model "$MODEL" --data "$WORK/data.bin"

# Missing model directory.
expect_fail missing_model "$T/nope" 3 --model "$T/nope" --data "$WORK/data.bin"

# Data whose size is not a whole number of samples.
head -c $(( $(stat -c %s "$WORK/data.bin") - 7 )) "$WORK/data.bin" > "$T/short.bin"
expect_fail partial_sample "short.bin" 3 --model "$MODEL" --data "$T/short.bin"

# An index outside its table (sample 5, table 3 set to 1000000).
cp "$WORK/data.bin" "$T/bad_index.bin"
printf '\x40\x42\x0f\x00' | dd of="$T/bad_index.bin" bs=1 seek=$(( (5 * 40 + 1 + 13 + 3) * 4 )) conv=notrunc 2>/dev/null
expect_fail index_out_of_range "sample 5 table 3" 3 --model "$MODEL" --data "$T/bad_index.bin"
# ... which --fold-indices accepts.
if timeout 60 "$MPIEXEC" -n 3 "$BIN/dlrm-cluster" --model "$MODEL" --data "$T/bad_index.bin" --fold-indices \
    --quiet --threads 1 --out "$T/folded.npy" >"$T/fold.log" 2>&1 && [ -f "$T/folded.npy" ]; then
  echo "ok fold_indices: accepted"
else
  echo "FAIL fold_indices: run failed"; cat "$T/fold.log"; failures=$((failures + 1))
fi

# A model that fails verification: one flipped byte in a shard file's rows.
cp -r "$MODEL" "$T/corrupt"
size=$(stat -c %s "$T/corrupt/shard-001.bin")
byte=$(od -An -tu1 -j $((size - 100)) -N1 "$T/corrupt/shard-001.bin" | tr -d ' ')
printf "$(printf '\\x%02x' $(( byte ^ 1 )))" | dd of="$T/corrupt/shard-001.bin" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
expect_fail corrupt_shard "shard-001.bin" 3 --model "$T/corrupt" --data "$WORK/data.bin"
# The same with the rows loaded into shared memory (pool), and a shard file
# cut short, whose header the shard rank reads before the host's collective
# allocation of room for the rows: every rank ends, naming the file.
expect_fail corrupt_shard_pool "shard-001.bin" 3 --model "$T/corrupt" --data "$WORK/data.bin" \
  --exchange-transport pool
cp -r "$MODEL" "$T/cut"
head -c 100 "$MODEL/shard-001.bin" > "$T/cut/shard-001.bin"
expect_fail truncated_shard_pool "shard-001.bin is truncated" 3 --model "$T/cut" --data "$WORK/data.bin" \
  --exchange-transport pool

# A reference of the wrong length.
/usr/bin/python3 -c "import numpy as np; np.save('$T/ref_short.npy', np.zeros(10, np.float32))"
expect_fail reference_length "ref_short.npy" 3 --model "$MODEL" --data "$WORK/data.bin" --reference "$T/ref_short.npy"

# An output directory that does not exist is caught before the run.
expect_fail missing_out_dir "no/such/dir" 3 --model "$MODEL" --data "$WORK/data.bin" --report "$T/no/such/dir/r.json"

# int8 MLPs on a model that was never calibrated: the error names the missing
# file and the command that makes it.
cp -r "$MODEL" "$T/uncalibrated" && rm -f "$T/uncalibrated/calibration.json"
expect_fail int8_uncalibrated "calibration.json.*dlrm-shard calibrate" 3 --model "$T/uncalibrated" \
  --data "$WORK/data.bin" --mlp int8

# Unknown choices are refused by the option parser before anything runs.
for opt in "--exchange-dtype fp8" "--exchange-transport rdma" "--interaction int8" "--mlp int4" "--shard-memory disk" \
    "--auc-budget 2"; do
  expect_refused "$opt" "$MPIEXEC" -n 3 "$BIN/dlrm-cluster" --model "$MODEL" --data "$WORK/data.bin" ||
    failures=$((failures + 1))
done

# A --batch far above the data: batches of the most samples a dense rank has
# (3000 here), nothing sized by the 10^8, and the same predictions.
if timeout 60 "$MPIEXEC" -n 3 "$BIN/dlrm-cluster" --model "$MODEL" --data "$WORK/data.bin" --batch 100000000 \
    --threads 1 --quiet --out "$T/huge.npy" --report "$T/huge.json" >"$T/huge.log" 2>&1 &&
   timeout 60 "$MPIEXEC" -n 3 "$BIN/dlrm-cluster" --model "$MODEL" --data "$WORK/data.bin" --batch 128 \
    --threads 1 --quiet --out "$T/small.npy" >"$T/small.log" 2>&1 &&
   cmp -s "$T/huge.npy" "$T/small.npy" && grep -q '"batch": 3000,' "$T/huge.json" &&
   grep -q "batch 100000000 is more than any dense rank's 3000 samples" "$T/huge.log"; then
  echo "ok huge_batch: batches of 3000, predictions identical to --batch 128"
else
  echo "FAIL huge_batch:"; cat "$T/huge.log" "$T/small.log"; failures=$((failures + 1))
fi

# No room for the shared-memory window: Open MPI's own failure inside the
# collective allocation is fatal (or a hang), so the host checks first and the
# job refuses with advice. A 1 MiB tmpfs stands in for a full /dev/shm
# (mounting needs root; the test says when it cannot).
mkdir -p "$T/tinyfs"
if mount -t tmpfs -o size=1m tmpfs "$T/tinyfs" 2>/dev/null; then
  trap 'umount "$T/tinyfs" 2>/dev/null' EXIT
  OMPI_MCA_osc_sm_backing_directory="$T/tinyfs" expect_fail window_room \
    "need 9.99 MB in $T/tinyfs .*1.05 MB free.*--exchange-transport alltoall" 3 \
    --model "$MODEL" --data "$WORK/data.bin" --batch 3000
  # The pool transport keeps the shards' rows there: refused the same way,
  # before any rank loads a row.
  OMPI_MCA_osc_sm_backing_directory="$T/tinyfs" expect_fail pool_room \
    "shard ranks' rows \(--exchange-transport pool\) of this host need .* in $T/tinyfs .* free.*--exchange-transport auto" 3 \
    --model "$MODEL" --data "$WORK/data.bin" --exchange-transport pool
  umount "$T/tinyfs"
else
  echo "skipped window_room: cannot mount a tmpfs here (needs root)"
fi

# Calibration needs enough samples, and says how many.
head -c $(( 100 * 160 )) "$WORK/data.bin" > "$T/few.bin"
if "$BIN/dlrm-shard" calibrate --model "$T/uncalibrated" --data "$T/few.bin" >"$T/calibrate.log" 2>&1; then
  echo "FAIL calibrate_too_few: accepted 100 samples"; failures=$((failures + 1))
elif ! grep -q "few.bin has 100 samples.*at least 1024" "$T/calibrate.log" || [ -e "$T/uncalibrated/calibration.json" ]; then
  echo "FAIL calibrate_too_few:"; cat "$T/calibrate.log"; failures=$((failures + 1))
else
  echo "ok calibrate_too_few: $(grep error "$T/calibrate.log" | cut -c1-160)"
fi

echo "$failures failures"
[ $failures -eq 0 ]
