#!/usr/bin/env bash
# bench-interaction, briefly: every case runs and matches its _ref twin of
# the same precision, rows laid out as the case reads them. The bound: a dot
# product of 128 products of values in [-1, 1] summed in another order differs
# by at most 127 roundings of partial sums below 128 in magnitude, so
# 127 * 2^-23 * 128 < 2e-3 (measured about 1e-5).
#   smoke.sh BENCH
set -euo pipefail
BENCH=$1
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
"$BENCH" --benchmark_min_time=0.01 --benchmark_out="$OUT" --benchmark_out_format=json > /dev/null
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
names = {r["name"].split("/real_time")[0]: r for r in runs}
want = [f"{case}/{t}" for case in ("hot", "cold", "tables") for t in ("fp32", "bf16")] + ["ref/fp32"]
missing = [w for w in want if w not in names]
assert not missing, f"cases missing from the output: {missing}"
for name, r in names.items():
    assert not r.get("error_occurred"), f"{name} failed: {r.get('error_message')}"
    assert r["diff_vs_ref"] < 2e-3, f"{name}: differs from the _ref twin by {r['diff_vs_ref']}"
    print(f"{name}: {r['pairs'] / 1e6:.2f}M pairs/s, within {r['diff_vs_ref']:.1e} of _ref")
print("ok")
PY
