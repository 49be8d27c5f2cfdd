#!/usr/bin/env bash
# Scenario benchmark: queries as they arrive against today's file mode.
#   tools/bench-scenarios.sh WORKDIR [SHARDS+DENSE ...] (default: 1+1 2+2)
# Makes (once) the terabyte-40m preset capped at 1M rows, sharded as asked,
# and 131072 samples; then for each layout:
#   - the MLP-only oneDNN bound (dlrm-bench --repeat 3, same layout);
#   - file mode and the offline scenario, alternated 3 times (medians);
#   - --find-peak with MLPerf's aggregated queries at a 60 ms bound and with
#     1-pair queries at a 10 ms bound, each as a fraction of its offline rate;
#   - a server run at half of each peak: p50/p99;
#   - beside each peak, the peak of an ideal FIFO queue that scores pairs at
#     the offline rate (Poisson arrivals, the same query sizes): what any
#     single queue at that speed could reach; and the same at the MLP-only
#     bound, a cluster with nothing but its MLPs to run. (FIFO is the best
#     order for the p99 here: shortest-job-first, preemptive or not, peaks
#     lower with these sizes, because the largest queries then wait longest.)
# Environment: MIN_DURATION_S (default 10) per trial; the programs run under
# a plain mpirun with --bind-to none (the front shares the cores) and only
# what running as root and oversubscribing need. Prints a table; JSON per
# run and bench-scenarios.json stay in WORKDIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
BIN=${DLRM_BIN:-$ROOT/build/bin}
[ -n "${DLRM_BIN:-}" ] || [ -x "$BIN/dlrm-cluster" ] || BIN=$(cd "$ROOT/../.." && pwd)/bin
WORK=${1:?usage: bench-scenarios.sh WORKDIR [SHARDS+DENSE ...]}
shift
if [ $# -gt 0 ]; then LAYOUTS=("$@"); else LAYOUTS=(1+1 2+2); fi
T=${MIN_DURATION_S:-10}
mkdir -p "$WORK"
for layout in "${LAYOUTS[@]}"; do
  s=${layout%%+*}
  [ -f "$WORK/tb1m-s$s/manifest.json" ] || "$BIN/dlrm-shard" synth --preset terabyte-40m --row-cap 1000000 \
    --shards "$s" --seed 1 --no-progress --out "$WORK/tb1m-s$s"
done
first=$(ls -d "$WORK"/tb1m-s* | head -1)
[ -f "$WORK/data.bin" ] || "$BIN/dlrm-data" synth --model "$first" --samples 131072 --seed 5 --out "$WORK/data.bin"

run() {  # run NAME RANKS PROGRAM ARGS...
  local name=$1 ranks=$2 program=$3
  shift 3
  echo "  $name" >&2
  mpirun -n "$ranks" --bind-to none "$BIN/$program" --data "$WORK/data.bin" "$@" > "$WORK/$name.log" 2>&1 ||
    { echo "$name failed:"; tail "$WORK/$name.log"; exit 1; }
}

for layout in "${LAYOUTS[@]}"; do
  s=${layout%%+*} d=${layout##*+} n=$((s + d))
  model=(--model "$WORK/tb1m-s$s")
  echo "layout $layout" >&2
  run "$layout-bound" "$n" dlrm-bench "${model[@]}" --repeat 3 --json "$WORK/$layout-bound.json"
  for k in 1 2 3; do
    run "$layout-file-$k" "$n" dlrm-cluster "${model[@]}" --report "$WORK/$layout-file-$k.json"
    run "$layout-offline-$k" $((n + 1)) dlrm-cluster "${model[@]}" --scenario offline --min-duration-s "$T" \
      --no-progress --report "$WORK/$layout-offline-$k.json"
  done
  for q in mlperf:60 1:10; do
    pairs=${q%%:*} bound=${q##*:}
    run "$layout-peak-$pairs" $((n + 1)) dlrm-cluster "${model[@]}" --scenario server --find-peak \
      --pairs-per-query "$pairs" --latency-bound-ms "$bound" --min-duration-s "$T" --no-progress \
      --report "$WORK/$layout-peak-$pairs.json"
    half=$(/usr/bin/python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['scenario']; \
print((s['peak_qps'] or s['trials'][-1]['target_qps']) / 2)" "$WORK/$layout-peak-$pairs.json")
    run "$layout-half-$pairs" $((n + 1)) dlrm-cluster "${model[@]}" --scenario server --target-qps "$half" \
      --pairs-per-query "$pairs" --latency-bound-ms "$bound" --min-duration-s "$T" --no-progress \
      --report "$WORK/$layout-half-$pairs.json" --latency-log "$WORK/$layout-half-$pairs.csv"
  done
done

/usr/bin/python3 - "$ROOT" "$WORK" "${LAYOUTS[@]}" <<'PY'
import json, statistics, sys
import numpy as np
sys.path.insert(0, f"{sys.argv.pop(1)}/tools")
from queue_ideal import MLPERF_SIZES as SIZES, ideal_peak

work, layouts = sys.argv[1], sys.argv[2:]
load = lambda name: json.load(open(f"{work}/{name}.json"))

out, rows = {}, []
for layout in layouts:
    bound = load(f"{layout}-bound")
    file_rate = statistics.median(load(f"{layout}-file-{k}")["pairs_per_s"] for k in (1, 2, 3))
    off = [load(f"{layout}-offline-{k}")["scenario"] for k in (1, 2, 3)]
    off_pairs = statistics.median(o["pairs_per_s"] for o in off)
    r = {"mlp_bound_pairs_per_s": bound["mlp_bound_pairs_per_s"], "file_pairs_per_s": file_rate,
         "offline_pairs_per_s": off_pairs, "offline_over_file": off_pairs / file_rate,
         "offline_valid": all(o["valid"] for o in off)}
    for pairs, bound_ms in (("mlperf", 60), ("1", 10)):
        peak = load(f"{layout}-peak-{pairs}")["scenario"]
        half = load(f"{layout}-half-{pairs}")["scenario"]
        sizes = SIZES if pairs == "mlperf" else [1]
        mean = float(np.mean(sizes))
        ideal = ideal_peak(peak["offline_samples_per_s"] * mean, sizes, bound_ms / 1e3)
        at_bound = r["mlp_bound_pairs_per_s"] / mean  # queries/s with nothing but the MLPs to run
        ideal_at_bound = ideal_peak(r["mlp_bound_pairs_per_s"], sizes, bound_ms / 1e3) / at_bound
        r[f"server_{pairs}"] = {
            "bound_ms": bound_ms, "offline_qps": peak["offline_samples_per_s"], "peak_qps": peak["peak_qps"],
            "peak_over_offline": (peak["peak_qps"] or 0) / peak["offline_samples_per_s"],
            "ideal_fifo_peak_qps": ideal, "ideal_over_offline": ideal / peak["offline_samples_per_s"],
            "ideal_fifo_fraction_at_mlp_bound": ideal_at_bound,
            "trials": peak["trials"], "half_peak_qps": half["settings"]["target_qps"],
            "half_p50_ms": half["latency_ns"]["p50"] / 1e6, "half_p99_ms": half["latency_ns"]["p99"] / 1e6,
            "half_valid": half["valid"]}
    out[layout] = r
json.dump(out, open(f"{work}/bench-scenarios.json", "w"), indent=2)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"CPU: {cpu}; terabyte-40m capped at 1M rows, fp32, batch 256")
print(f"{'layout':>6} {'MLP bound':>10} {'file':>8} {'offline':>8} {'off/file':>8} | {'queries':>7} "
      f"{'bound':>6} {'offline q/s':>11} {'peak q/s':>9} {'peak/off':>8} {'ideal':>6} {'@bound':>6} | {'half-peak p50':>13} {'p99':>8}")
for layout, r in out.items():
    for i, pairs in enumerate(("mlperf", "1")):
        s = r[f"server_{pairs}"]
        head = (f"{layout:>6} {r['mlp_bound_pairs_per_s']:>10.0f} {r['file_pairs_per_s']:>8.0f} "
                f"{r['offline_pairs_per_s']:>8.0f} {r['offline_over_file']:>8.3f}") if i == 0 else " " * 44
        print(f"{head} | {pairs:>7} {s['bound_ms']:>4}ms {s['offline_qps']:>11.1f} {s['peak_qps'] or 0:>9.1f} "
              f"{s['peak_over_offline']:>8.3f} {s['ideal_over_offline']:>6.3f} {s['ideal_fifo_fraction_at_mlp_bound']:>6.3f} | {s['half_p50_ms']:>10.2f} ms "
              f"{s['half_p99_ms']:>5.2f} ms")
print(f"(pairs/s; 'ideal': the peak of a FIFO queue scoring pairs at the offline rate, over the offline rate; "
      f"'@bound': the same for a queue scoring at the MLP-only bound; JSON in {work}/bench-scenarios.json)")
PY
