#!/usr/bin/env bash
# Scaling study: dlrm-bench over rank layouts and batch sizes on one machine.
#   tools/bench-scaling.sh WORKDIR [SAMPLES]
# Makes (once) the terabyte-40m preset capped at 1M rows sharded 1, 2 and 4
# ways, and labelled data; then runs
#   layouts 1+1, 1+2, 2+2, 4+4 (shard + dense ranks) at batch 256, and
#   batch sizes 64 .. 4096 at 1 shard + 1 dense rank,
# and prints pairs/s, the ratio to the MLP-only bound measured in the same
# run, and latency percentiles per batch. JSON per run stays in WORKDIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tools/mpi-env.sh"
# The programs: DLRM_BIN, else the source tree's build/bin, else (installed
# as PREFIX/share/dlrm-cluster/tools/) PREFIX/bin.
BIN=${DLRM_BIN:-$ROOT/build/bin}
[ -n "${DLRM_BIN:-}" ] || [ -x "$BIN/dlrm-bench" ] || BIN=$(cd "$ROOT/../.." && pwd)/bin
WORK=${1:?usage: bench-scaling.sh WORKDIR [SAMPLES]}
SAMPLES=${2:-131072}
mkdir -p "$WORK"
for shards in 1 2 4; do
  [ -f "$WORK/tb1m-s$shards/manifest.json" ] || "$BIN/dlrm-shard" synth --preset terabyte-40m --row-cap 1000000 \
    --shards "$shards" --seed 1 --no-progress --out "$WORK/tb1m-s$shards"
done
[ -f "$WORK/data.bin" ] || "$BIN/dlrm-data" synth --model "$WORK/tb1m-s1" --samples "$SAMPLES" --seed 5 --out "$WORK/data.bin"

run() {  # run NAME SHARDS DENSE BATCH
  local name=$1 shards=$2 dense=$3 batch=$4
  mpirun -n $((shards + dense)) --bind-to none "$BIN/dlrm-bench" --model "$WORK/tb1m-s$shards" --data "$WORK/data.bin" \
    --batch "$batch" --json "$WORK/$name.json" > "$WORK/$name.log" 2>&1 || { echo "$name failed:"; tail "$WORK/$name.log"; }
}
for layout in 1:1 1:2 2:2 4:4; do run "layout-${layout/:/+}" "${layout%%:*}" "${layout##*:}" 256; done
for batch in 64 128 256 512 1024 2048 4096; do run "batch-$batch" 1 1 "$batch"; done

/usr/bin/python3 - "$WORK" <<'PY'
import glob, json, os, sys
work = sys.argv[1]
def rows(prefix):
    out = []
    for path in glob.glob(os.path.join(work, prefix + "*.json")):
        out.append((os.path.basename(path)[:-5], json.load(open(path))))
    return sorted(out, key=lambda r: (r[1]["shards"] + r[1]["dense_ranks"], r[1]["batch"]))
print("| run | shard+dense | threads | batch | MLP bound pairs/s | cluster pairs/s | ratio | p50 ms | p95 ms | p99 ms | correct |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for name, r in rows("layout-") + rows("batch-"):
    lat = r["latency_ms"]
    print(f"| {name} | {r['shards']}+{r['dense_ranks']} | {r['threads_per_dense_rank']} | {r['batch']} | "
          f"{r['mlp_bound_pairs_per_s']:.0f} | {r['cluster_pairs_per_s']:.0f} | {r['ratio']:.3f} | "
          f"{lat['p50']:.2f} | {lat['p95']:.2f} | {lat['p99']:.2f} | {'ok' if r['correct'] else 'WRONG'} |")
PY
