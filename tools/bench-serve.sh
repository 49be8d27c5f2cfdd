#!/usr/bin/env bash
# Endpoint benchmark: dlrm-serve against the offline rate of the same cluster.
#   tools/bench-serve.sh WORKDIR [SHARDS+DENSE] (default: 1+1)
# Makes (once) the terabyte-40m preset capped at 1M rows and 131072 samples
# (the same files as bench-scenarios.sh); then, under a plain mpirun:
#   - the MLP-only oneDNN bound (dlrm-bench --repeat 3);
#   - REPEAT rounds (default 3) of: the offline scenario's rate (dlrm-cluster
#     --scenario offline, rank 0 the front), then dlrm-serve loaded for
#     SECONDS_PER seconds each (default 30) by
#       hey -c 16 posting 256-pair JSON requests (REST),
#       tools/bench/grpc_load.py, 16 threads of 256-pair requests in raw_input_contents (gRPC),
#     and in the first round the same two with 1-pair requests;
#   - each: requests/s, pairs/s, p50/p99 per request, pairs/s over the
#     offline rate of its round (the round with the median ratio is shown).
# The clients run on the same cores as the cluster (2 here): what they take
# is part of what the figures show. Prints a table; bench-serve.json and
# every run's output stay in WORKDIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
BIN=${DLRM_BIN:-$ROOT/build/bin}
WORK=${1:?usage: bench-serve.sh WORKDIR [SHARDS+DENSE]}
LAYOUT=${2:-1+1}
SECONDS_PER=${SECONDS_PER:-30}
REPEAT=${REPEAT:-3}
PY=/usr/bin/python3
command -v hey >/dev/null || { echo "hey is not installed (tools/install-deps.sh)"; exit 1; }
s=${LAYOUT%%+*} d=${LAYOUT##*+} n=$((s + d))
mkdir -p "$WORK"
MODEL=$WORK/tb1m-s$s
[ -f "$MODEL/manifest.json" ] || "$BIN/dlrm-shard" synth --preset terabyte-40m --row-cap 1000000 --shards "$s" \
  --seed 1 --no-progress --out "$MODEL"
[ -f "$WORK/data.bin" ] || "$BIN/dlrm-data" synth --model "$MODEL" --samples 131072 --seed 5 --out "$WORK/data.bin"
OUT=$WORK/serve-$LAYOUT
mkdir -p "$OUT"

echo "bound ($LAYOUT)" >&2
mpirun -n "$n" --bind-to none "$BIN/dlrm-bench" --model "$MODEL" --data "$WORK/data.bin" --repeat 3 \
  --json "$OUT/bound.json" > "$OUT/bound.log" 2>&1 || { tail "$OUT/bound.log"; exit 1; }

for pairs in 256 1; do
  $PY - "$WORK/data.bin" "$MODEL/manifest.json" "$pairs" "$OUT/body$pairs.json" <<'PY'
import json, sys
import numpy as np
data, manifest, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
arch = json.load(open(manifest))["dlrm_model"]["arch"]
f, t = arch["dense_features"], len(arch["table_rows"])
rec = np.fromfile(data, dtype="<i4", count=n * (1 + f + t)).reshape(n, 1 + f + t)
json.dump({"inputs": [
    {"name": "dense", "shape": [n, f], "datatype": "INT32", "data": rec[:, 1:1 + f].reshape(-1).tolist()},
    {"name": "sparse", "shape": [n, t], "datatype": "INT32", "data": rec[:, 1 + f:].reshape(-1).tolist()}]},
    open(out, "w"))
PY
done

SERVER=
trap '[ -z "$SERVER" ] || { kill -USR2 $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; }' EXIT
start_server() {
  rm -f "$OUT/endpoint.json"
  mpirun -n $((n + 1)) --bind-to none "$BIN/dlrm-serve" --model "$MODEL" --http 127.0.0.1:0 --grpc 127.0.0.1:0 \
    --endpoint-file "$OUT/endpoint.json" > "$OUT/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 600); do [ -s "$OUT/endpoint.json" ] && break; sleep 0.1; done
  [ -s "$OUT/endpoint.json" ] || { tail "$OUT/serve.log"; exit 1; }
  HTTP=$($PY -c "import json,sys;print(json.load(open(sys.argv[1]))['http'])" "$OUT/endpoint.json")
  GRPC=$($PY -c "import json,sys;print(json.load(open(sys.argv[1]))['grpc'])" "$OUT/endpoint.json")
}
stop_server() {
  curl -s "http://$HTTP/metrics" > "$OUT/metrics-$1.txt"
  kill -USR2 $SERVER
  wait $SERVER
  SERVER=
}
rest() {  # rest PAIRS NAME
  echo "  REST $1-pair requests, hey -c 16, $SECONDS_PER s" >&2
  hey -z 3s -c 16 -m POST -T application/json -D "$OUT/body$1.json" "http://$HTTP/v2/models/dlrm/infer" >/dev/null
  hey -z "${SECONDS_PER}s" -c 16 -m POST -T application/json -D "$OUT/body$1.json" \
    "http://$HTTP/v2/models/dlrm/infer" > "$OUT/$2.txt"
}
grpc() {  # grpc PAIRS NAME
  echo "  gRPC $1-pair requests (raw contents), 16 threads, $SECONDS_PER s" >&2
  $PY "$ROOT/tools/bench/grpc_load.py" --address "$GRPC" --data "$WORK/data.bin" --manifest "$MODEL/manifest.json" \
    --proto-dir "$ROOT/cluster/serve/proto" --pairs "$1" --concurrency 16 --seconds "$SECONDS_PER" --raw \
    --json "$OUT/$2.json" > /dev/null
}

# Offline and the 256-pair endpoint runs alternate: each endpoint figure is
# divided by the offline rate measured just before it.
for k in $(seq "$REPEAT"); do
  echo "round $k of $REPEAT: offline, then dlrm-serve ($LAYOUT + front)" >&2
  mpirun -n $((n + 1)) --bind-to none "$BIN/dlrm-cluster" --model "$MODEL" --data "$WORK/data.bin" \
    --scenario offline --min-duration-s 10 --no-progress --report "$OUT/offline-$k.json" > "$OUT/offline-$k.log" 2>&1 ||
    { tail "$OUT/offline-$k.log"; exit 1; }
  start_server
  rest 256 "http-256-$k"
  grpc 256 "grpc-256-$k"
  if [ "$k" = 1 ]; then
    rest 1 http-1
    grpc 1 grpc-1
  fi
  stop_server "$k"
done

$PY - "$OUT" "$LAYOUT" "$REPEAT" <<'PY'
import json, re, statistics, sys
out, layout, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
bound = json.load(open(f"{out}/bound.json"))["mlp_bound_pairs_per_s"]
offline = [json.load(open(f"{out}/offline-{k}.json"))["scenario"]["pairs_per_s"] for k in range(1, repeat + 1)]


def hey(path, pairs):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
    pct = {int(m.group(1)): float(m.group(2)) * 1e3 for m in re.finditer(r"\s(\d+)%+ in ([0-9.]+) secs", text)}
    codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", text))
    return {"requests_per_s": rps, "pairs_per_s": rps * pairs, "p50_ms": pct.get(50), "p99_ms": pct.get(99),
            "status_codes": codes}


def median_run(runs, offline):
    """The run with the median ratio to its round's offline rate, with every ratio."""
    for r, o in zip(runs, offline):
        r["of_offline"] = r["pairs_per_s"] / o
    ranked = sorted(runs, key=lambda r: r["of_offline"])
    best = dict(ranked[len(ranked) // 2])
    best["ratios"] = [round(r["of_offline"], 3) for r in runs]
    return best


rows = {
    "REST/JSON 256": median_run([hey(f"{out}/http-256-{k}.txt", 256) for k in range(1, repeat + 1)], offline),
    "gRPC raw 256": median_run([json.load(open(f"{out}/grpc-256-{k}.json")) for k in range(1, repeat + 1)], offline),
    "REST/JSON 1": median_run([hey(f"{out}/http-1.txt", 1)], offline[:1]),
    "gRPC raw 1": median_run([json.load(open(f"{out}/grpc-1.json"))], offline[:1]),
}
print(f"\ndlrm-serve, {layout} + front, terabyte-40m capped at 1M rows, on {cpu}")
print(f"MLP-only bound {bound:.0f} pairs/s; offline scenario {', '.join(f'{o:.0f}' for o in offline)} pairs/s "
      f"(median {statistics.median(offline) / bound:.3f} of the bound)")
print(f"{'client':<15}{'req/s':>9}{'pairs/s':>10}{'/offline':>10}{'/bound':>8}{'p50 ms':>9}{'p99 ms':>9}  rounds")
for name, r in rows.items():
    r["of_bound"] = r["pairs_per_s"] / bound
    print(f"{name:<15}{r['requests_per_s']:>9.1f}{r['pairs_per_s']:>10.0f}{r['of_offline']:>10.3f}"
          f"{r['of_bound']:>8.3f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}  {r['ratios']}")
json.dump({"layout": layout, "cpu": cpu, "bound_pairs_per_s": bound, "offline_pairs_per_s": offline,
           "runs": rows}, open(f"{out}/bench-serve.json", "w"), indent=2)
PY
