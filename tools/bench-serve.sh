#!/usr/bin/env bash
# Endpoint benchmark: dlrm-serve against the offline rate of the same cluster.
#   tools/bench-serve.sh WORKDIR [SHARDS+DENSE] (default: 1+1)
# Makes (once) the terabyte-40m preset capped at 1M rows and 131072 samples
# (the same files as bench-scenarios.sh); then, under a plain mpirun:
#   - the MLP-only oneDNN bound (dlrm-bench --repeat 3) and the offline
#     scenario's rate (dlrm-cluster --scenario offline, rank 0 the front);
#   - dlrm-serve, loaded for SECONDS each (default 30) by
#       hey -c 16 posting 256-pair JSON requests (REST),
#       tools/bench/grpc_load.py, 16 threads of 256-pair requests in raw_input_contents (gRPC),
#       the same two with 1-pair requests;
#     each: requests/s, pairs/s, p50/p99 per request, pairs/s over the offline rate.
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

echo "bound and offline rate ($LAYOUT)" >&2
mpirun -n "$n" --bind-to none "$BIN/dlrm-bench" --model "$MODEL" --data "$WORK/data.bin" --repeat 3 \
  --json "$OUT/bound.json" > "$OUT/bound.log" 2>&1 || { tail "$OUT/bound.log"; exit 1; }
mpirun -n $((n + 1)) --bind-to none "$BIN/dlrm-cluster" --model "$MODEL" --data "$WORK/data.bin" --scenario offline \
  --min-duration-s 10 --no-progress --report "$OUT/offline.json" > "$OUT/offline.log" 2>&1 ||
  { tail "$OUT/offline.log"; exit 1; }

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

echo "dlrm-serve ($LAYOUT + front)" >&2
rm -f "$OUT/endpoint.json"
mpirun -n $((n + 1)) --bind-to none "$BIN/dlrm-serve" --model "$MODEL" --http 127.0.0.1:0 --grpc 127.0.0.1:0 \
  --endpoint-file "$OUT/endpoint.json" > "$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill -USR2 $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 600); do [ -s "$OUT/endpoint.json" ] && break; sleep 0.1; done
[ -s "$OUT/endpoint.json" ] || { tail "$OUT/serve.log"; exit 1; }
HTTP=$($PY -c "import json,sys;print(json.load(open(sys.argv[1]))['http'])" "$OUT/endpoint.json")
GRPC=$($PY -c "import json,sys;print(json.load(open(sys.argv[1]))['grpc'])" "$OUT/endpoint.json")
for pairs in 256 1; do
  echo "  REST $pairs-pair requests, hey -c 16, $SECONDS_PER s" >&2
  hey -z 3s -c 16 -m POST -T application/json -D "$OUT/body$pairs.json" "http://$HTTP/v2/models/dlrm/infer" >/dev/null
  hey -z "${SECONDS_PER}s" -c 16 -m POST -T application/json -D "$OUT/body$pairs.json" \
    "http://$HTTP/v2/models/dlrm/infer" > "$OUT/http-$pairs.txt"
  echo "  gRPC $pairs-pair requests (raw contents), 16 threads, $SECONDS_PER s" >&2
  $PY "$ROOT/tools/bench/grpc_load.py" --address "$GRPC" --data "$WORK/data.bin" --manifest "$MODEL/manifest.json" \
    --proto-dir "$ROOT/cluster/serve/proto" --pairs "$pairs" --concurrency 16 --seconds "$SECONDS_PER" --raw \
    --json "$OUT/grpc-$pairs.json" > /dev/null
done
curl -s "http://$HTTP/metrics" > "$OUT/metrics.txt"
kill -USR2 $SERVER
wait $SERVER
trap - EXIT

$PY - "$OUT" "$LAYOUT" <<'PY'
import json, re, sys
out, layout = sys.argv[1], sys.argv[2]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
bound = json.load(open(f"{out}/bound.json"))
bound_rate = bound["mlp_bound_pairs_per_s"]
offline = json.load(open(f"{out}/offline.json"))["scenario"]["samples_per_s"]


def hey(path, pairs):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
    pct = {int(m.group(1)): float(m.group(2)) * 1e3 for m in re.finditer(r"\s(\d+)%+ in ([0-9.]+) secs", text)}
    codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", text))
    return {"requests_per_s": rps, "pairs_per_s": rps * pairs, "p50_ms": pct.get(50), "p99_ms": pct.get(99),
            "status_codes": codes}


rows = {}
for pairs in (256, 1):
    rows[f"REST/JSON {pairs}"] = hey(f"{out}/http-{pairs}.txt", pairs)
    rows[f"gRPC raw {pairs}"] = json.load(open(f"{out}/grpc-{pairs}.json"))
print(f"\ndlrm-serve, {layout} + front, terabyte-40m capped at 1M rows, on {cpu}")
print(f"MLP-only bound {bound_rate:.0f} pairs/s; offline scenario {offline:.0f} pairs/s "
      f"({offline / bound_rate:.3f} of the bound)")
print(f"{'client':<16}{'req/s':>10}{'pairs/s':>11}{'/offline':>10}{'/bound':>8}{'p50 ms':>9}{'p99 ms':>9}")
for name, r in rows.items():
    r["of_offline"] = r["pairs_per_s"] / offline
    r["of_bound"] = r["pairs_per_s"] / bound_rate
    print(f"{name:<16}{r['requests_per_s']:>10.1f}{r['pairs_per_s']:>11.0f}{r['of_offline']:>10.3f}"
          f"{r['of_bound']:>8.3f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}")
json.dump({"layout": layout, "cpu": cpu, "bound_pairs_per_s": bound_rate, "offline_pairs_per_s": offline,
           "runs": rows}, open(f"{out}/bench-serve.json", "w"), indent=2)
PY
