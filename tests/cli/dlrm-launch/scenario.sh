#!/usr/bin/env bash
# dlrm-launch with a scenario run on this machine: rank 0 becomes the front
# (it takes no slot: 3 slots run front + 2 shards + 1 dense rank), and the
# accuracy-mode predictions of an offline and a server run equal a plain
# file-mode run's bit for bit: only the batches' make-up differs, and a
# pair's score does not depend on the other pairs of its batch.
#   scenario.sh BIN WORK
set -euo pipefail
BIN=$1 WORK=$2
SEED=7 DATA_SEED=11 SAMPLES=2000
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {  # expect FILE TEXT...: every TEXT is in FILE
  local file=$1; shift
  for text in "$@"; do grep -q -F -- "$text" "$file" || { cat "$file"; fail "'$text' missing from the output above"; }; done
}

echo "setup: model seed $SEED, data seed $DATA_SEED, $SAMPLES samples, in $WORK"
"$BIN/dlrm-shard" synth --preset small --shards 2 --seed "$SEED" --no-progress --out "$WORK/model" >/dev/null
"$BIN/dlrm-data" synth --model "$WORK/model" --samples "$SAMPLES" --seed "$DATA_SEED" --out "$WORK/data.bin" 2>/dev/null
"${MPIEXEC:-mpiexec}" -n 3 "$BIN/dlrm-cluster" --model "$WORK/model" --data "$WORK/data.bin" --batch 128 \
  --out "$WORK/file.npy" --quiet
printf 'localhost slots=3\n' > "$WORK/hostfile"

# scenario NAME ARGS...: one accuracy run through dlrm-launch; its predictions must equal file.npy.
scenario() {
  local name=$1; shift
  echo "== $name"
  "$BIN/dlrm-launch" --hostfile "$WORK/hostfile" --model "$WORK/model" --run-dir "$WORK/run-$name" \
    -- --data "$WORK/data.bin" --batch 128 "$@" --mode accuracy --no-progress \
    --out "$WORK/$name.npy" --report "$WORK/$name.json" --summary "$WORK/$name.summary" > "$WORK/$name.out" 2>&1 ||
    { cat "$WORK/$name.out"; fail "$name: dlrm-launch failed"; }
  expect "$WORK/$name.out" "localhost 0       0 front -" "-x DLRM_SHARD_RANKS=1,2" \
    "4 ranks on 1 host: 1 front + 2 shard + 1 dense; DLRM_SHARD_RANKS=1,2"
  expect "$WORK/run-$name/rankfile" "rank 0=localhost slot=" "rank 3=localhost slot="
  expect "$WORK/run-$name/hostfile" "localhost slots=4"
  "${PYTHON:-/usr/bin/python3}" - "$WORK/$name.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
roles = [(r["rank"], r["role"]) for r in report["ranks"]]
print("ranks:", roles)
assert roles == [(0, "front"), (1, "shard"), (2, "shard"), (3, "dense")], roles
PY
  if ! cmp -s "$WORK/file.npy" "$WORK/$name.npy"; then
    "${PYTHON:-/usr/bin/python3}" -c 'import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
print("shapes", a.shape, b.shape)
if a.shape == b.shape: print("max |diff|", float(np.max(np.abs(a.astype(np.float64) - b))))' "$WORK/file.npy" "$WORK/$name.npy"
    fail "$name: predictions differ from the file-mode run's"
  fi
  echo "ok $name: predictions equal the file-mode run's ($SAMPLES samples)"
}
scenario offline --scenario offline
expect "$WORK/offline.summary" "Scenario : Offline" "Mode     : AccuracyOnly"
scenario server --scenario=server --target-qps 200
expect "$WORK/server.summary" "Scenario : Server" "Mode     : AccuracyOnly"
echo "scenario runs ok"

# An MCA parameter the launcher sets itself (btl), given again through
# --mpirun-arg: the user's value replaces the launcher's (mpirun refuses a
# parameter twice), and the run gives the same predictions.
"$BIN/dlrm-launch" --hostfile "$WORK/hostfile" --model "$WORK/model" --run-dir "$WORK/run-mca" \
  --mpirun-arg "--mca btl self,tcp" -- --data "$WORK/data.bin" --batch 128 --out "$WORK/mca.npy" --quiet \
  > "$WORK/mca.out" 2>&1 || { cat "$WORK/mca.out"; fail "--mpirun-arg '--mca btl self,tcp': dlrm-launch failed"; }
[ "$(grep -o -- "--mca btl [^ ]*" "$WORK/mca.out" | sort -u)" = "--mca btl self,tcp" ] ||
  { cat "$WORK/mca.out"; fail "the mpirun command does not carry the user's btl alone"; }
cmp -s "$WORK/file.npy" "$WORK/mca.npy" || fail "--mca btl self,tcp: predictions differ from the file-mode run's"
echo "ok: --mpirun-arg '--mca btl self,tcp' replaces the launcher's btl"

# Ctrl-C to dlrm-launch during an overloaded server run: the front stops
# issuing, drains what is outstanding (seconds of work here) and writes the
# summary. The launcher passes the first Ctrl-C to mpirun as SIGUSR2; mpirun's
# own answer to SIGINT (SIGTERM to the ranks, SIGKILL about a second later)
# ended such a drain with no summary. The offered load is twice what an
# offline run of this machine reaches, so the backlog grows whatever its speed.
"$BIN/dlrm-launch" --hostfile "$WORK/hostfile" --model "$WORK/model" --run-dir "$WORK/run-capacity" \
  -- --data "$WORK/data.bin" --batch 128 --scenario offline --min-duration-s 1 --no-progress \
  --report "$WORK/capacity.json" > "$WORK/capacity.out" 2>&1 ||
  { cat "$WORK/capacity.out"; fail "the offline capacity run failed"; }
PAIRS=64
QPS=$("${PYTHON:-/usr/bin/python3}" -c 'import json, sys
print(round(2 * json.load(open(sys.argv[1]))["scenario"]["pairs_per_s"] / int(sys.argv[2])))' "$WORK/capacity.json" "$PAIRS")
echo "== interrupt: offline capacity $(( QPS * PAIRS / 2 )) pairs/s; offering $QPS queries/s of $PAIRS pairs"
"$BIN/dlrm-launch" --hostfile "$WORK/hostfile" --model "$WORK/model" --run-dir "$WORK/run-interrupt" \
  -- --data "$WORK/data.bin" --batch 128 --scenario server --target-qps "$QPS" --pairs-per-query "$PAIRS" \
  --min-duration-s 600 --summary "$WORK/interrupt.summary" > "$WORK/interrupt.out" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q "p99 so far" "$WORK/interrupt.out" && break; sleep 0.1; done
grep -q "p99 so far" "$WORK/interrupt.out" || { kill -9 $PID; cat "$WORK/interrupt.out"; fail "no progress line in 60 s"; }
kill -INT $PID
start=$SECONDS
wait $PID && CODE=0 || CODE=$?
echo "dlrm-launch exit $CODE, $((SECONDS - start)) s after SIGINT"
grep "interrupted: no more queries" "$WORK/interrupt.out" || { cat "$WORK/interrupt.out"; fail "the front never saw the stop"; }
[ -s "$WORK/interrupt.summary" ] || { tail -20 "$WORK/interrupt.out"; fail "no summary written after the drain"; }
expect "$WORK/interrupt.summary" "Interrupted" "Result is : INVALID"
[ "$CODE" -ne 0 ] || fail "an interrupted run exited 0"
sleep 1
left=$(pgrep -f -- "--model $WORK/model --data $WORK/data.bin" || true)
[ -z "$left" ] || { kill -9 $left; fail "processes left: $left"; }
echo "ok: Ctrl-C to dlrm-launch drains an overloaded server run and writes its summary"
