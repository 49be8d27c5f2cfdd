#!/usr/bin/env bash
# Bad input through the command line: every case must exit non-zero, print an
# error naming the file (and entry), leave no output (no model directory, no
# data file, no .partial-* leftovers) and, for malicious pickles, run nothing.
#   import_bad_input.sh BIN FIXTURES WORK        (exit 77: fixtures missing)
set -uo pipefail
BIN=$1 FIX=$2 WORK=$3
if [ ! -f "$FIX/done" ]; then
  echo "SKIP: fixtures missing in $FIX (formats.fixtures needs /usr/bin/python3 with torch)"
  exit 77
fi
rm -rf "$WORK" && mkdir -p "$WORK"
failures=0

# expect_fail NAME PATTERN OUTPUT CMD...: non-zero exit, stderr/stdout matching
# PATTERN (extended regex), OUTPUT absent afterwards, no partial files.
expect_fail() {
  local name=$1 pattern=$2 output=$3
  shift 3
  "$@" >"$WORK/$name.log" 2>&1
  local code=$?
  if [ $code -eq 0 ]; then
    echo "FAIL $name: exit 0"; cat "$WORK/$name.log"; failures=$((failures + 1)); return
  fi
  if ! grep -qE "$pattern" "$WORK/$name.log"; then
    echo "FAIL $name: no message matching '$pattern':"; cat "$WORK/$name.log"; failures=$((failures + 1)); return
  fi
  if [ -e "$output" ] || ls "$WORK" | grep -q '\.partial-'; then
    echo "FAIL $name: output left behind"; failures=$((failures + 1)); return
  fi
  echo "ok $name (exit $code): $(grep -E "$pattern" "$WORK/$name.log" | head -1 | cut -c1-220)"
}

SHARD=$BIN/dlrm-shard
DATA=$BIN/dlrm-data

# Checkpoints: malicious, truncated (each layout), wrong content.
expect_fail evil_zip "evil\.pt.*global 'posix\.system'.*nothing was executed" "$WORK/m" \
  "$SHARD" import --from "$FIX/evil.pt" --shards 1 --out "$WORK/m"
expect_fail evil_legacy "evil_legacy\.pt.*posix\.system" "$WORK/m" \
  "$SHARD" import --from "$FIX/evil_legacy.pt" --shards 1 --out "$WORK/m"
if [ -e "$FIX/pwned_marker" ]; then echo "FAIL: a pickle ran a command"; failures=$((failures + 1)); fi
for f in zip legacy; do
  size=$(stat -c %s "$FIX/$f.pt")
  head -c $((size * 2 / 3)) "$FIX/$f.pt" > "$WORK/cut_$f.pt"
  expect_fail "truncated_$f" "cut_$f\.pt.*(truncated|damaged)" "$WORK/m" \
    "$SHARD" import --from "$WORK/cut_$f.pt" --shards 1 --out "$WORK/m"
done
expect_fail missing_key "missing_key\.pt.*missing bot_l\.2\.bias" "$WORK/m" \
  "$SHARD" import --from "$FIX/missing_key.pt" --shards 1 --out "$WORK/m"
expect_fail wrong_shape "top_l\.0\.weight: expected shape \(6, 10\)" "$WORK/m" \
  "$SHARD" import --from "$FIX/wrong_shape.pt" --shards 1 --out "$WORK/m"

# ONNX: an external data file missing, another cut short.
mkdir -p "$WORK/onnx" && cp "$FIX"/external/* "$WORK/onnx/"
rm "$WORK/onnx/emb_l.2.weight"
expect_fail onnx_missing_external "emb_l\.2\.weight.*does not exist.*initializer 'emb_l\.2\.weight'" "$WORK/m" \
  "$SHARD" import --from "$WORK/onnx/model.onnx" --shards 1 --out "$WORK/m"
cp "$FIX/external/emb_l.2.weight" "$WORK/onnx/" && truncate -s 20 "$WORK/onnx/emb_l.1.weight"
expect_fail onnx_short_external "emb_l\.1\.weight.*is short" "$WORK/m" \
  "$SHARD" import --from "$WORK/onnx/model.onnx" --shards 1 --out "$WORK/m"

# Criteo TSV: a wrong field count and a non-hex categorical are fatal with --strict.
good="1"; for i in $(seq 13); do good="$good	$i"; done; for i in $(seq 26); do good="$good	0000abcd"; done
printf '%s\n1\t2\n%s\n' "$good" "${good/0000abcd/zzzz}" > "$WORK/day_0"
expect_fail tsv_strict "day_0 line 2: 2 fields, expected 40.*--strict" "$WORK/out.bin" \
  "$DATA" convert --from "$WORK/day_0" --out "$WORK/out.bin" --max-ind-range 1000 --strict
"$DATA" convert --from "$WORK/day_0" --out "$WORK/lenient.bin" --max-ind-range 1000 >"$WORK/lenient.log" 2>&1
if [ $? -eq 0 ] && grep -q "skipped 2 of 3 lines" "$WORK/lenient.log" && [ "$(stat -c %s "$WORK/lenient.bin")" = 160 ]; then
  echo "ok tsv_lenient: 2 of 3 lines skipped with a warning"
else
  echo "FAIL tsv_lenient:"; cat "$WORK/lenient.log"; failures=$((failures + 1))
fi
rm -f "$WORK/lenient.bin"

# .npz accuracy data without the expected arrays.
expect_fail npz_missing "data_missing\.npz: missing array sparse" "$WORK/out.bin" \
  "$DATA" convert --from "$FIX/data_missing.npz" --out "$WORK/out.bin"

if [ $failures -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "all bad-input cases refused"
