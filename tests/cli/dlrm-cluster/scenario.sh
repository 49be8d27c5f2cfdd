#!/usr/bin/env bash
# Scenario runs of the real dlrm-cluster under mpiexec (rank 0 is the front).
#   scenario.sh BIN WORK accuracy PLAN SHARDS RANKS
#       every scenario in accuracy mode: predictions within 1e-5 of the _ref
#       reference and of file mode (check_scenario.py accuracy)
#   scenario.sh BIN WORK valid | invalid | find_peak | interrupt | bad_values
# Seeds: the model and data of setup.sh (7, 11); queries --seed 3.
set -uo pipefail
BIN=$1 WORK=$2 CASE=$3
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../support/cluster_lib.sh"
MPIEXEC=${MPIEXEC:-mpiexec}
PYTHON=${PYTHON:-/usr/bin/python3}
CHECK="$PYTHON $HERE/check_scenario.py"
MODEL=$WORK/model-table-2
OUT=$WORK/scenario-$CASE${4:+-$4-$5-$6}
rm -rf "$OUT" && mkdir -p "$OUT"
echo "scenario case $CASE, query seed 3, in $OUT"

fail() { echo "FAIL ($CASE): $*" >&2; exit 1; }

# cluster RANKS LOG ARGS...: dlrm-cluster under mpiexec, bounded; sets CODE.
cluster() {
  local ranks=$1 log=$2
  shift 2
  timeout -s TERM 240 "$MPIEXEC" -n "$ranks" "$BIN/dlrm-cluster" --threads 1 --no-progress --seed 3 "$@" >"$log" 2>&1
  CODE=$?
  [ $CODE -ne 124 ] || fail "hung: $(tail -5 "$log")"
}

case $CASE in
accuracy)
  PLAN=$4 SHARDS=$5 RANKS=$6
  MODEL=$WORK/model-$PLAN-$SHARDS
  # File mode on the same workers (one rank fewer: no front) is what
  # accuracy mode must reproduce.
  DATA=$(cat "$WORK/data.arg")  # the fixture's data: MLPerf binary, or dlrm-v2's multi-hot files
  "$MPIEXEC" -n $((RANKS - 1)) "$BIN/dlrm-cluster" --model "$MODEL" --data "$DATA" --threads 1 \
    --out "$OUT/file.npy" > "$OUT/file.log" 2>&1 || fail "file mode failed: $(tail -5 "$OUT/file.log")"
  for s in offline server single-stream; do
    cluster "$RANKS" "$OUT/$s.log" --model "$MODEL" --data "$DATA" --scenario "$s" --mode accuracy \
      --target-qps 500 --out "$OUT/$s.npy" --report "$OUT/$s.json" --reference "$WORK/ref.npy"
    [ $CODE -eq 0 ] || fail "$s accuracy run exit $CODE: $(tail -5 "$OUT/$s.log")"
    $CHECK accuracy "$OUT/$s.npy" "$OUT/$s.json" "$WORK/ref.npy" "$OUT/file.npy" "$s" || exit 1
  done
  # The dense ranks pooling the rows themselves (--exchange-transport pool)
  # behind the front, with queries arriving.
  cluster "$RANKS" "$OUT/server-pool.log" --model "$MODEL" --data "$DATA" --scenario server --mode accuracy \
    --target-qps 500 --exchange-transport pool --out "$OUT/server-pool.npy" --report "$OUT/server-pool.json" \
    --reference "$WORK/ref.npy"
  [ $CODE -eq 0 ] || fail "server accuracy run with pool exit $CODE: $(tail -5 "$OUT/server-pool.log")"
  grep -q '"exchange_transport": "pool"' "$OUT/server-pool.json" || fail "the pool run reports another transport"
  $CHECK accuracy "$OUT/server-pool.npy" "$OUT/server-pool.json" "$WORK/ref.npy" "$OUT/file.npy" server || exit 1
  ;;
valid)
  # 1-pair queries at 300/s: a few percent of what 1 dense rank scores, so
  # the p99 sits far under the 100 ms bound; 600 queries is above the 459
  # that early stopping needs with none over the bound.
  cluster 4 "$OUT/run.log" --model "$MODEL" --data "$WORK/data.bin" --scenario server --target-qps 300 \
    --pairs-per-query 1 --latency-bound-ms 100 --min-duration-s 2 --summary "$OUT/summary.txt" \
    --latency-log "$OUT/latency.csv" --report "$OUT/report.json"
  [ $CODE -eq 0 ] || fail "exit $CODE: $(tail -5 "$OUT/run.log")"
  $CHECK server "$OUT" VALID 100 || exit 1
  # Single-stream: the next query when the last completes. At debug level the
  # front logs each trial's start on CLOCK_MONOTONIC (Python's monotonic_ns
  # reads the same clock): the last trial's origin plus its log's times must
  # fall between readings taken before and after the run.
  before=$($PYTHON -c 'import time; print(time.monotonic_ns())')
  DLRM_LOG_LEVEL=debug cluster 4 "$OUT/ss.log" --model "$MODEL" --data "$WORK/data.bin" --scenario single-stream \
    --pairs-per-query 16 --min-duration-s 1 --summary "$OUT/ss.txt" --latency-log "$OUT/ss.csv"
  after=$($PYTHON -c 'import time; print(time.monotonic_ns())')
  [ $CODE -eq 0 ] || fail "single-stream exit $CODE: $(tail -5 "$OUT/ss.log")"
  $CHECK single_stream "$OUT/ss.txt" "$OUT/ss.csv" || exit 1
  origin=$(sed -n 's/.*trial clock origin: CLOCK_MONOTONIC \([0-9]*\) ns.*/\1/p' "$OUT/ss.log" | tail -1)
  [ -n "$origin" ] || fail "no 'trial clock origin' line at DLRM_LOG_LEVEL=debug: $(grep -c . "$OUT/ss.log") log lines"
  $PYTHON - "$OUT/ss.csv" "$origin" "$before" "$after" <<'PY' || fail "the latency log does not line up with CLOCK_MONOTONIC"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
origin, before, after = (int(a) for a in sys.argv[2:5])
first, last = origin + int(rows[0]["scheduled_ns"]), origin + int(rows[-1]["completed_ns"])
print(f"trial origin {origin}, run between {before} and {after}: queries from {first} to {last}")
sys.exit(0 if before < origin <= first <= last < after else 1)
PY
  # Offline: every query at once.
  cluster 4 "$OUT/off.log" --model "$MODEL" --data "$WORK/data.bin" --scenario offline --min-duration-s 1 \
    --summary "$OUT/off.txt" --report "$OUT/off.json"
  [ $CODE -eq 0 ] || fail "offline exit $CODE: $(tail -5 "$OUT/off.log")"
  grep -q "Result is : VALID" "$OUT/off.txt" || fail "offline run not VALID: $(cat "$OUT/off.txt")"
  grep -q "Samples per second:" "$OUT/off.txt" || fail "offline summary has no metric line"
  ;;
invalid)
  # 50000 queries/s of 100 pairs: 5M pairs/s, ten times what 1 dense rank
  # scores of this small model here, so the queue grows for the whole run and
  # the p99 passes a 20 ms bound.
  cluster 4 "$OUT/run.log" --model "$MODEL" --data "$WORK/data.bin" --scenario server --target-qps 50000 \
    --pairs-per-query 100 --latency-bound-ms 20 --min-duration-s 0.2 --summary "$OUT/summary.txt" \
    --latency-log "$OUT/latency.csv" --report "$OUT/report.json"
  [ $CODE -eq 0 ] || fail "exit $CODE (an INVALID run still exits 0): $(tail -5 "$OUT/run.log")"
  $CHECK server "$OUT" INVALID 20 || exit 1
  ;;
find_peak)
  cluster 4 "$OUT/run.log" --model "$MODEL" --data "$WORK/data.bin" --scenario server --find-peak \
    --pairs-per-query 1 --latency-bound-ms 10 --min-duration-s 0.5 --report "$OUT/report.json" \
    --summary "$OUT/summary.txt"
  [ $CODE -eq 0 ] || fail "exit $CODE: $(tail -5 "$OUT/run.log")"
  $CHECK find_peak "$OUT/report.json" "$OUT/summary.txt" 10 0.5 || exit 1
  ;;
interrupt)
  # Ctrl-C to mpiexec after the first progress line (5 s): the job stops
  # within 30 s, and the summary of what ran is written and says so.
  timeout -s KILL 90 "$MPIEXEC" -n 4 "$BIN/dlrm-cluster" --threads 1 --model "$MODEL" --data "$WORK/data.bin" \
    --scenario server --target-qps 100 --pairs-per-query 16 --min-duration-s 600 --summary "$OUT/summary.txt" \
    > "$OUT/run.log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do grep -q "p99 so far" "$OUT/run.log" && break; sleep 0.1; done
  grep -q "p99 so far" "$OUT/run.log" || { kill -9 $PID; fail "no progress line in 60 s: $(tail -5 "$OUT/run.log")"; }
  # One SIGINT to mpiexec itself, as a Ctrl-C gives it (timeout, $PID, would
  # pass the signal on twice: to its child and to its process group, and a
  # second SIGINT makes mpirun kill the job outright).
  pkill -INT -P $PID -x "$(basename "$MPIEXEC")" || kill -INT $PID
  start=$SECONDS
  wait $PID
  CODE=$?
  echo "mpiexec exit $CODE, $((SECONDS - start)) s after SIGINT"
  [ $CODE -ne 0 ] || fail "an interrupted run exited 0"
  [ $CODE -ne 137 ] || fail "did not stop within 90 s of the start"
  [ -s "$OUT/summary.txt" ] || fail "no summary written: $(tail -5 "$OUT/run.log")"
  grep -q "Interrupted" "$OUT/summary.txt" || fail "the summary does not say the run was interrupted"
  grep -q "Result is : INVALID" "$OUT/summary.txt" || fail "an interrupted run must be INVALID"
  sleep 1
  left=$(pgrep -f -- "--model $MODEL --data $WORK/data.bin --scenario server" || true)
  [ -z "$left" ] || { kill -9 $left; fail "processes left: $left"; }
  ;;
bad_values)
  failures=0
  base=("$MPIEXEC" -n 4 "$BIN/dlrm-cluster" --model "$MODEL" --data "$WORK/data.bin" --threads 1)
  srv=("${base[@]}" --scenario server --summary "$OUT/summary.txt" --out "$OUT/pred.npy")
  expect_refused "--target-qps 0" "${srv[@]}" || failures=$((failures + 1))
  expect_refused "--target-qps -5" "${srv[@]}" || failures=$((failures + 1))
  expect_refused "--latency-bound-ms 0" "${srv[@]}" || failures=$((failures + 1))
  expect_refused "--min-duration-s -1" "${srv[@]}" || failures=$((failures + 1))
  expect_refused "--pairs-per-query 0" "${srv[@]}" || failures=$((failures + 1))
  expect_refused "--pairs-per-query lots" "${srv[@]}" || failures=$((failures + 1))
  expect_refused "--mode fast" "${srv[@]}" || failures=$((failures + 1))
  expect_refused "--find-peak" "${base[@]}" --scenario offline || failures=$((failures + 1))
  expect_refused "--target-qps 10" "${base[@]}" || failures=$((failures + 1))  # without --scenario
  expect_refused "--scenario batch" "${base[@]}" || failures=$((failures + 1))
  # A query bigger than the data (3000 samples), and too few ranks for a
  # front, 2 shards and a dense rank: refused by rank 0 before any work.
  expect_refused "--pairs-per-query 5000" "${srv[@]}" || failures=$((failures + 1))
  cluster 3 "$OUT/ranks.log" --model "$MODEL" --data "$WORK/data.bin" --scenario offline
  if [ $CODE -eq 0 ] || ! grep -q "r0\] \[error\].*4 ranks" "$OUT/ranks.log"; then
    echo "FAIL too few ranks: exit $CODE"; cat "$OUT/ranks.log"; failures=$((failures + 1))
  else
    echo "ok too few ranks: $(grep 'r0\] \[error\]' "$OUT/ranks.log" | head -1 | cut -c1-200)"
  fi
  ls "$OUT"/summary.txt* "$OUT"/pred.npy* >/dev/null 2>&1 && { echo "FAIL: output left behind"; failures=$((failures + 1)); }
  [ $failures -eq 0 ] || fail "$failures case(s) failed"
  ;;
*)
  fail "unknown case"
  ;;
esac
echo "ok ($CASE)"
