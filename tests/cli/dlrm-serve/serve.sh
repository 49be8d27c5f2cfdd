#!/usr/bin/env bash
# dlrm-serve under mpiexec, driven by clients this project did not write:
# curl and hey (REST), Python's http.client and grpcio (serve_client.py).
#   serve.sh BIN WORK protocol PLAN SHARDS DENSE
#       REST and gRPC answers equal the _ref reference (1e-5), bad requests get
#       400 / INVALID_ARGUMENT naming the problem, concurrent clients get their
#       own answers, /metrics counts them; SIGTERM to rank 0 then exits 0
#   serve.sh BIN WORK hey         hey -c 16: every answer 200; with a small queue, 429s and the server still serves
#   serve.sh BIN WORK drain       SIGUSR2 to mpiexec under load: answered requests are right, the job exits 0
#   serve.sh BIN WORK rank_dies   a dense rank killed: the job ends, naming the rank, no hang
#   serve.sh BIN WORK bad_args    a taken port, a malformed address, out-of-range options, too few ranks:
#                                 refused, naming why
# WORK: the models, data and reference of tests/cli/dlrm-cluster/setup.sh (seeds 7, 11).
set -uo pipefail
BIN=$1 WORK=$2 CASE=$3
HERE=$(cd "$(dirname "$0")" && pwd)
MPIEXEC=${MPIEXEC:-mpiexec}
PYTHON=${PYTHON:-/usr/bin/python3}
CLIENT="$PYTHON $HERE/serve_client.py"
OUT=$WORK/serve-$CASE${4:+-$4-$5-$6}
rm -rf "$OUT" && mkdir -p "$OUT"
echo "serve case $CASE in $OUT"
PID=

fail() {
  echo "FAIL ($CASE): $*" >&2
  [ -f "$OUT/serve.log" ] && { echo "--- server log (last 30 lines)"; tail -30 "$OUT/serve.log"; } >&2
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  pkill -9 -f -- "--endpoint-file $OUT/" 2>/dev/null
  exit 1
}

# start RANKS MODEL ARGS...: dlrm-serve in the background on free loopback
# ports; returns once it is ready (the endpoint file is written).
start() {
  local ranks=$1 model=$2
  shift 2
  rm -f "$OUT/endpoint.json"
  timeout -s KILL 600 "$MPIEXEC" -n "$ranks" "$BIN/dlrm-serve" --model "$model" --threads 1 \
    --http 127.0.0.1:0 --grpc 127.0.0.1:0 --endpoint-file "$OUT/endpoint.json" "$@" > "$OUT/serve.log" 2>&1 &
  PID=$!
  for _ in $(seq 1200); do
    [ -s "$OUT/endpoint.json" ] && break
    kill -0 $PID 2>/dev/null || fail "the server exited before it was ready"
    sleep 0.1
  done
  [ -s "$OUT/endpoint.json" ] || fail "not ready within 120 s"
  HTTP=$($PYTHON -c "import json;print(json.load(open('$OUT/endpoint.json'))['http'])")
  echo "ready: http $HTTP, grpc $($PYTHON -c "import json;print(json.load(open('$OUT/endpoint.json'))['grpc'])")"
}

# rank_pid R: the process of world rank R of the running server.
rank_pid() {
  pgrep -f -- "--endpoint-file $OUT/endpoint.json" | while read -r p; do
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && echo $p; done | head -1
}

# stop rank0|mpiexec SIGNAL: SIGTERM to rank 0 (the server process, as a
# supervisor of it sends), or SIGUSR2 to mpiexec (which passes it on to every
# rank; its own SIGTERM would abort the job); sets CODE and STOP_SECONDS.
stop() {
  local t0=$SECONDS target
  if [ "$1" = rank0 ]; then target=$(rank_pid 0); else target=$(pgrep -P $PID -x "$(basename "$MPIEXEC")"); fi
  [ -n "$target" ] || fail "no $1 process to signal"
  kill -"$2" "$target"
  wait $PID
  CODE=$? STOP_SECONDS=$((SECONDS - t0))
  PID=
  echo "mpiexec exit $CODE, $STOP_SECONDS s after SIG$2 to $1"
}

# status METHOD PATH [curl args]: the HTTP status curl sees.
status() {
  curl -s -o "$OUT/curl.out" -w '%{http_code}' -X "$1" "http://$HTTP$2" "${@:3}"
}

case $CASE in
protocol_dcn)
  # DLRM-v2's shape (the cluster_dcn fixture: small-v2, multi-hot data): REST
  # (JSON and binary data) and gRPC (typed and raw) answers against the _ref
  # reference, and concurrent clients; the dot model's case covers the rest.
  PLAN=$4 SHARDS=$5 DENSE=$6
  start $((1 + SHARDS + DENSE)) "$WORK/model-$PLAN-$SHARDS"
  $CLIENT check-http "$WORK" "$OUT/endpoint.json" || fail "REST"
  $CLIENT check-grpc "$WORK" "$OUT/endpoint.json" || fail "gRPC"
  $CLIENT concurrent "$WORK" "$OUT/endpoint.json" || fail "concurrent clients"
  stop rank0 TERM
  [ "$CODE" = 0 ] || fail "exit $CODE after SIGTERM: $(tail -5 "$OUT/serve.log")"
  ;;
protocol)
  PLAN=$4 SHARDS=$5 DENSE=$6
  start $((1 + SHARDS + DENSE)) "$WORK/model-$PLAN-$SHARDS" --max-body-bytes 2000000
  # curl: health, metadata, an inference of 64 samples, a malformed body, a body over --max-body-bytes.
  [ "$(status GET /v2/health/live)" = 200 ] || fail "live"
  [ "$(status GET /v2/health/ready)" = 200 ] || fail "ready"
  [ "$(status GET /v2/models/dlrm)" = 200 ] || fail "metadata"
  $CLIENT body "$WORK" 64 "$OUT/body64.json"
  [ "$(status POST /v2/models/dlrm/infer --data-binary @"$OUT/body64.json")" = 200 ] || fail "curl infer: $(cat "$OUT/curl.out")"
  $PYTHON - "$OUT/curl.out" "$WORK/ref.npy" <<'PY' || fail "curl's answer differs from the reference"
import json, sys, numpy as np
got = np.asarray(json.load(open(sys.argv[1]))["outputs"][0]["data"], dtype=np.float32)
want = np.load(sys.argv[2])[:64]
d = float(np.max(np.abs(got - want)))
print(f"curl: 64 predictions within {d:.2g} of the reference")
sys.exit(0 if d <= 1e-5 else 1)
PY
  [ "$(status POST /v2/models/dlrm/infer --data-binary '{"inputs": [')" = 400 ] || fail "bad JSON not 400"
  grep -q "not valid JSON" "$OUT/curl.out" || fail "bad JSON: $(cat "$OUT/curl.out")"
  head -c 3000000 /dev/zero | tr '\0' ' ' > "$OUT/big.json"
  [ "$(status POST /v2/models/dlrm/infer --data-binary @"$OUT/big.json")" = 400 ] || fail "big body: $(cat "$OUT/curl.out")"
  grep -q -- "--max-body-bytes" "$OUT/curl.out" || fail "big body: $(cat "$OUT/curl.out")"
  echo "curl: live, ready, metadata, infer, 400 for bad JSON and for a body over --max-body-bytes"
  $CLIENT check-http "$WORK" "$OUT/endpoint.json" || fail "REST"
  $CLIENT check-grpc "$WORK" "$OUT/endpoint.json" || fail "gRPC"
  $CLIENT bad-http "$WORK" "$OUT/endpoint.json" || fail "bad REST requests"
  $CLIENT bad-grpc "$WORK" "$OUT/endpoint.json" || fail "bad gRPC requests"
  $CLIENT concurrent "$WORK" "$OUT/endpoint.json" || fail "concurrent clients"
  curl -s "http://$HTTP/metrics" > "$OUT/metrics.txt" || fail "metrics"
  $PYTHON "$HERE/check_metrics.py" "$OUT/metrics.txt" || fail "metrics"
  stop rank0 TERM
  [ $CODE -eq 0 ] || fail "SIGTERM: exit $CODE"
  grep -q "requests answered" "$OUT/serve.log" || fail "no summary at exit"
  ;;
hey)
  command -v hey >/dev/null || fail "hey is not installed (tools/install-deps.sh)"
  start 4 "$WORK/model-table-2"
  $CLIENT body "$WORK" 256 "$OUT/body256.json"
  hey -z 4s -c 16 -m POST -T application/json -D "$OUT/body256.json" "http://$HTTP/v2/models/dlrm/infer" > "$OUT/hey.txt"
  grep -A3 "Status code distribution" "$OUT/hey.txt"
  grep -q "\[200\]" "$OUT/hey.txt" || fail "hey: no 200 answers: $(cat "$OUT/hey.txt")"
  codes=$(sed -n '/Status code distribution/,/^$/p' "$OUT/hey.txt" | grep -o '\[[0-9]*\]' | sort -u | tr -d '\n')
  [ "$codes" = "[200]" ] || fail "hey: answers other than 200 under a queue that is large enough: $codes"
  stop mpiexec USR2
  [ $CODE -eq 0 ] || fail "SIGUSR2: exit $CODE"
  # A queue of 300 pairs and 16 clients of 256 pairs: most find it full.
  start 4 "$WORK/model-table-2" --max-queue-pairs 300
  hey -z 3s -c 16 -m POST -T application/json -D "$OUT/body256.json" "http://$HTTP/v2/models/dlrm/infer" > "$OUT/hey-full.txt"
  grep -A4 "Status code distribution" "$OUT/hey-full.txt"
  grep -q "\[429\]" "$OUT/hey-full.txt" || fail "a full queue gave no 429"
  grep -q "\[200\]" "$OUT/hey-full.txt" || fail "a full queue answered nothing"
  [ "$(status POST /v2/models/dlrm/infer --data-binary @"$OUT/body256.json")" = 200 ] || fail "not serving after the 429s"
  curl -s "http://$HTTP/metrics" | grep 'outcome="overloaded"' | grep -v ' 0$' | grep -q . || fail "429s not counted"
  stop rank0 INT
  [ $CODE -eq 0 ] || fail "SIGINT: exit $CODE"
  ;;
drain)
  start 4 "$WORK/model-table-2" --drain-timeout-s 20
  $CLIENT load "$WORK" "$OUT/endpoint.json" 60 "$OUT/load.json" &
  LOAD=$!
  sleep 3
  stop mpiexec USR2
  wait $LOAD
  [ $CODE -eq 0 ] || fail "SIGUSR2 under load: exit $CODE"
  [ $STOP_SECONDS -le 25 ] || fail "the drain took $STOP_SECONDS s (timeout 20)"
  $PYTHON - "$OUT/load.json" <<'PY' || fail "answers during the drain"
import json, sys
c = json.load(open(sys.argv[1]))
bad = [e for e in c["errors"] if not e.startswith("503")]
print(f"drain: {c['ok']} right answers, {c['wrong']} wrong, {len(c['errors'])} errors ({len(bad)} other than 503)")
sys.exit(0 if c["ok"] > 0 and c["wrong"] == 0 and not bad else 1)
PY
  ;;
rank_dies)
  start 4 "$WORK/model-table-2"
  $CLIENT load "$WORK" "$OUT/endpoint.json" 60 "$OUT/load.json" > "$OUT/load.log" 2>&1 &
  LOAD=$!
  sleep 2
  # World rank 3 is the dense rank (0 front, 1-2 shards).
  victim=$(rank_pid 3)
  [ -n "$victim" ] || fail "could not find world rank 3"
  kill -9 "$victim"
  t0=$SECONDS
  wait $PID
  CODE=$? PID=
  wait $LOAD
  echo "mpiexec exit $CODE, $((SECONDS - t0)) s after rank 3 was killed"
  [ $CODE -ne 0 ] || fail "a dead rank, and the job exited 0"
  [ $((SECONDS - t0)) -le 60 ] || fail "took $((SECONDS - t0)) s to end"
  grep -q "rank 3" "$OUT/serve.log" || fail "the job's end does not name rank 3"
  grep "rank 3" "$OUT/serve.log" | head -2
  ;;
bad_args)
  # A port that is taken: every rank ends at once, the message names --http.
  $PYTHON -c "import socket,time;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();open('$OUT/port','w').write(str(s.getsockname()[1]));time.sleep(60)" &
  HOLDER=$!
  for _ in $(seq 50); do [ -s "$OUT/port" ] && break; sleep 0.1; done
  port=$(cat "$OUT/port")
  for args in "--http 127.0.0.1:$port --grpc off" "--http off --grpc 127.0.0.1:$port" "--http localhost --grpc off" \
              "--http 127.0.0.1:99999 --grpc off"; do
    opt=${args%% *}
    [ "${args#--http off}" != "$args" ] && opt=--grpc
    timeout -s KILL 120 "$MPIEXEC" -n 4 "$BIN/dlrm-serve" --model "$WORK/model-table-2" --threads 1 $args \
      > "$OUT/bad.log" 2>&1
    code=$?
    [ $code -ne 0 ] && [ $code -ne 137 ] || { kill $HOLDER; fail "'$args': exit $code"; }
    grep -q -- "$opt" "$OUT/bad.log" || { kill $HOLDER; fail "'$args': the error does not name $opt: $(tail -3 "$OUT/bad.log")"; }
    echo "ok '$args': exit $code: $(grep -- "$opt" "$OUT/bad.log" | grep -v "^\s*$" | head -1)"
  done
  kill $HOLDER
  # Option values out of range: refused at parse time, naming the option.
  source "$HERE/../../support/cluster_lib.sh"
  for opt in "--max-queue-pairs 0" "--max-body-bytes 0" "--max-wait-us -1" "--drain-timeout-s -1" \
             "--server-threads 0" "--batch abc"; do
    expect_refused "$opt" "$BIN/dlrm-serve" --model "$WORK/model-table-2" || fail "option $opt"
  done
  timeout -s KILL 120 "$MPIEXEC" -n 3 "$BIN/dlrm-serve" --model "$WORK/model-table-2" --http 127.0.0.1:0 --grpc off \
    > "$OUT/bad.log" 2>&1 && fail "3 ranks for 2 shards and a front: accepted"
  grep -q "at least 4 ranks" "$OUT/bad.log" || fail "too few ranks: $(tail -3 "$OUT/bad.log")"
  echo "ok: too few ranks: $(grep "at least 4 ranks" "$OUT/bad.log" | head -1)"
  ;;
*)
  fail "unknown case"
  ;;
esac
echo "PASS ($CASE)"
