#!/usr/bin/env bash
# bench-embedding-bag, briefly, on a small table: every case's diff_vs_ref is
# 0; gather/fp32/shm-4k has huge_fraction 0; gather/fp32/shm-2m has 1, or is
# skipped naming MADV_COLLAPSE where the kernel does not collapse shared
# memory (before Linux 6.1, or shmem_enabled "deny").
#   smoke.sh BENCH
set -euo pipefail
BENCH=$1
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
"$BENCH" --rows=200000 --benchmark_filter='gather/fp32|sum8/int8' --benchmark_min_time=0.01 \
  --benchmark_out="$OUT" --benchmark_out_format=json > /dev/null
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
names = {r["name"].split("/process_time")[0]: r for r in runs}
want = ["gather/fp32", "gather/fp32/shm-4k", "gather/fp32/shm-2m", "sum8/int8"]
missing = [w for w in want if w not in names]
assert not missing, f"cases missing from the output: {missing}"
for name, r in names.items():
    if r.get("error_occurred"):
        assert name == "gather/fp32/shm-2m" and "MADV_COLLAPSE" in r["error_message"], \
            f"{name} failed: {r.get('error_message')}"
        print(f"{name}: skipped ({r['error_message']})")
        continue
    assert r["diff_vs_ref"] == 0, f"{name}: {r['diff_vs_ref']} values differ from the _ref twin"
    print(f"{name}: {r['ns_per_row']:.1f} ns per row, matches _ref")
assert names["gather/fp32/shm-4k"]["huge_fraction"] == 0, "the 4 KiB case is on huge pages"
if not names["gather/fp32/shm-2m"].get("error_occurred"):
    assert names["gather/fp32/shm-2m"]["huge_fraction"] == 1, \
        f"only {names['gather/fp32/shm-2m']['huge_fraction']:.2f} of the 2 MiB case is on huge pages"
print("ok")
PY
