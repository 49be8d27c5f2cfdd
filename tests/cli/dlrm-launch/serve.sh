#!/usr/bin/env bash
# dlrm-launch --program dlrm-serve on this machine: the layout has the front
# as rank 0 (the program's name is enough; no --scenario), the server comes
# up, a REST inference equals a plain file-mode run's predictions, and one
# SIGTERM to dlrm-launch drains the job (SIGUSR2 to mpirun): exit 0 within a
# few seconds, no dlrm-serve left.
#   serve.sh BIN WORK
set -uo pipefail
BIN=$1 WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
SEED=7 DATA_SEED=11 SAMPLES=2000 ASKED=300
rm -rf "$WORK" && mkdir -p "$WORK"
PID=

# This test's processes: every one whose command line names its endpoint file
# (dlrm-launch, mpirun, the ranks); ranks: only the dlrm-serve ranks.
ours() { pgrep -f -- "--endpoint-file $WORK/endpoint.json" || true; }
ranks() {
  local p
  for p in $(pgrep -x dlrm-serve); do
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "--endpoint-file $WORK/endpoint.json" && echo "$p"
  done
}
fail() {
  echo "FAIL: $*" >&2
  [ -f "$WORK/launch.out" ] && { echo "--- dlrm-launch output (last 40 lines)"; tail -40 "$WORK/launch.out"; } >&2
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  local left
  left=$(ours)
  [ -n "$left" ] && kill -9 $left 2>/dev/null
  exit 1
}
expect() {  # expect FILE TEXT...: every TEXT is in FILE
  local file=$1; shift
  for text in "$@"; do grep -q -F -- "$text" "$file" || { cat "$file"; fail "'$text' missing from the output above"; }; done
}

echo "setup: model seed $SEED, data seed $DATA_SEED, $SAMPLES samples, in $WORK"
"$BIN/dlrm-shard" synth --preset small --shards 2 --seed "$SEED" --no-progress --out "$WORK/model" >/dev/null || fail "dlrm-shard"
"$BIN/dlrm-data" synth --model "$WORK/model" --samples "$SAMPLES" --seed "$DATA_SEED" --out "$WORK/data.bin" 2>/dev/null ||
  fail "dlrm-data"
"${MPIEXEC:-mpiexec}" -n 3 "$BIN/dlrm-cluster" --model "$WORK/model" --data "$WORK/data.bin" --batch 128 \
  --out "$WORK/file.npy" --quiet || fail "the file-mode run"
printf 'localhost slots=3\n' > "$WORK/hostfile"
SERVE_ARGS=(--http 127.0.0.1:0 --grpc 127.0.0.1:0 --endpoint-file "$WORK/endpoint.json")

echo "== dry run: the command runs dlrm-serve, rank 0 the front"
# The command below is the launcher's own: a caller's OpenMP wait variables would replace its spin count.
unset OMP_WAIT_POLICY GOMP_SPINCOUNT
"$BIN/dlrm-launch" --hostfile "$WORK/hostfile" --model "$WORK/model" --program "$BIN/dlrm-serve" \
  --run-dir "$WORK/run-dry" --dry-run -- "${SERVE_ARGS[@]}" > "$WORK/dry.out" 2>&1 || { cat "$WORK/dry.out"; fail "dry run"; }
expect "$WORK/dry.out" "localhost 0       0 front -" \
  "4 ranks on 1 host: 1 front + 2 shard + 1 dense; DLRM_SHARD_RANKS=1,2" "rank 0=localhost slot=" \
  "-np 3 -x DLRM_SHARD_RANKS=1,2 -x OMP_NUM_THREADS=1 -x GOMP_SPINCOUNT=30000 $BIN/dlrm-serve" \
  "-np 1 -x DLRM_SHARD_RANKS=1,2 -x OMP_NUM_THREADS=2 -x GOMP_SPINCOUNT=30000 $BIN/dlrm-serve" \
  "$BIN/dlrm-serve --model $WORK/model --http 127.0.0.1:0 --grpc 127.0.0.1:0 --endpoint-file $WORK/endpoint.json --exchange-transport pool" \
  "the dense ranks pool the rows themselves from the shards' shared memory"
# With cores to spare the front is an app context of its own: one rank, not pinned, first.
"$BIN/dlrm-launch" --hostfile "$WORK/hostfile" --model "$WORK/model" --program "$BIN/dlrm-serve" \
  --topology localhost='numa=1 cores_per_numa=8 mem_per_numa=16G' --run-dir "$WORK/run-dry8" --dry-run -- \
  "${SERVE_ARGS[@]}" > "$WORK/dry8.out" 2>&1 || { cat "$WORK/dry8.out"; fail "dry run, 8 cores"; }
expect "$WORK/dry8.out" "localhost 0       0 front -" \
  "--mca btl self,vader -np 1 -x DLRM_SHARD_RANKS=1,2 -x OMP_NUM_THREADS=1 $BIN/dlrm-serve --model"
grep -q oversubscribed "$WORK/dry8.out" && fail "8 cores for 4 ranks: oversubscribed"
grep -q -- "--exchange-transport" "$WORK/dry8.out" && fail "8 cores: the shard ranks have cores of their own, yet pool"
[ -e "$WORK/endpoint.json" ] && fail "a dry run started the server"
echo "ok: the dry run's layout and command"

echo "== dlrm-launch --program dlrm-serve"
"$BIN/dlrm-launch" --hostfile "$WORK/hostfile" --model "$WORK/model" --program "$BIN/dlrm-serve" \
  --run-dir "$WORK/run" -- "${SERVE_ARGS[@]}" > "$WORK/launch.out" 2>&1 &
PID=$!
t0=$SECONDS
for _ in $(seq 1200); do
  [ -s "$WORK/endpoint.json" ] && break
  kill -0 "$PID" 2>/dev/null || fail "dlrm-launch exited before the server was ready"
  sleep 0.1
done
[ -s "$WORK/endpoint.json" ] || fail "not ready within 120 s"
HTTP=$($PYTHON -c "import json,sys;print(json.load(open(sys.argv[1]))['http'])" "$WORK/endpoint.json")
echo "ready after $((SECONDS - t0)) s: http $HTTP"
expect "$WORK/launch.out" "localhost 0       0 front -" "4 ranks on 1 host: 1 front + 2 shard + 1 dense; DLRM_SHARD_RANKS=1,2" \
  "$BIN/dlrm-serve --model $WORK/model"
expect "$WORK/run/rankfile" "rank 0=localhost slot=" "rank 3=localhost slot="
[ "$(ranks | wc -l)" -eq 4 ] || fail "$(ranks | wc -l) dlrm-serve processes, expected 4 ranks"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/v2/health/ready")
[ "$code" = 200 ] || fail "/v2/health/ready: HTTP $code"
"$PYTHON" "$HERE/serve_request.py" body "$WORK/model" "$WORK/data.bin" $ASKED "$WORK/request.json" || fail "request body"
code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary @"$WORK/request.json" "http://$HTTP/v2/models/dlrm/infer")
[ "$code" = 200 ] || fail "infer: HTTP $code: $(head -c 300 "$WORK/answer.json")"
# Within 1e-5 of the file-mode run (serve_request.py says why not bit for bit).
"$PYTHON" "$HERE/serve_request.py" check "$WORK/answer.json" "$WORK/file.npy" $ASKED ||
  fail "the served predictions differ from the file-mode run's"

echo "== SIGTERM to dlrm-launch (PID $PID)"
t0=$(date +%s%N)
kill -TERM "$PID"
for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && fail "dlrm-launch still runs 30 s after SIGTERM"
wait "$PID"
CODE=$? PID=
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "dlrm-launch exit $CODE, $ms ms after SIGTERM"
sed 's/^/  | /' "$WORK/launch.out" | tail -6
[ "$CODE" -eq 0 ] || fail "SIGTERM: exit $CODE, expected 0 (a drain)"
# Nothing in flight: the drain itself is immediate; mpirun then ends 4 ranks.
[ "$ms" -le 10000 ] || fail "the stop took $ms ms (> 10 s)"
expect "$WORK/launch.out" "passed on to mpirun; the job ended with exit code 0" "dlrm-serve: 1 requests answered, $ASKED pairs"
for _ in $(seq 20); do [ -z "$(ours)" ] && break; sleep 0.1; done
left=$(ours)
[ -z "$left" ] || fail "processes left: $(ps -o pid=,args= -p "$(echo $left | tr ' ' ,)")"
echo "no dlrm-serve (or mpirun) process left"
echo "PASS: dlrm-launch serves, answers like the file-mode run, stops on SIGTERM"
