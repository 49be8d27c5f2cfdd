#!/usr/bin/env bash
# Command-line tests of dlrm-shard: shard_cli.sh BINARY CASE
#
# Bad-input cases check that the command exits non-zero with one error line
# naming the file/table/option at fault, and leaves no output directory and no
# staged "*.partial-*" behind. The remaining cases check the happy paths and
# that verify catches a damaged file.
set -uo pipefail

BIN=${1:?usage: shard_cli.sh DLRM_SHARD CASE}
CASE=${2:?usage: shard_cli.sh DLRM_SHARD CASE}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dlrm-shard-cli-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export DLRM_LOG_LEVEL=info

fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }

# run ARGS...: runs dlrm-shard, keeping exit code, stdout and stderr.
run() {
  "$BIN" "$@" >"$WORK/stdout" 2>"$WORK/stderr"
  RC=$?
}

show() { echo "--- stdout"; cat "$WORK/stdout"; echo "--- stderr"; cat "$WORK/stderr"; }

# expect_error WORD... : non-zero exit, exactly one error line, containing every WORD.
expect_error() {
  [ "$RC" -ne 0 ] || { show; fail "expected a non-zero exit"; }
  local errors
  errors=$(grep -c '\[error\]' "$WORK/stderr")
  [ "$errors" -eq 1 ] || { show; fail "expected one error line, got $errors"; }
  local line
  line=$(grep '\[error\]' "$WORK/stderr")
  for word in "$@"; do
    [[ "$line" == *"$word"* ]] || { show; fail "error line lacks '$word': $line"; }
  done
  echo "ok: $line"
}

# expect_nothing_left DIR: DIR absent and no staged leftovers anywhere in WORK.
expect_nothing_left() {
  [ ! -e "$1" ] || fail "$1 was left behind"
  local partial
  partial=$(find "$WORK" -name '*.partial-*' | head -1)
  [ -z "$partial" ] || fail "staged output left behind: $partial"
}

# flip_byte FILE OFFSET: xor one byte with 1, in place.
flip_byte() {
  local byte
  byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $(( (byte ^ 1) & 255 )))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}

# npy_state_dict DIR [PYTHON]: a small state_dict written as .npy files with
# the standard library only (table 1 in float16): 3 tables of dim 8, bottom
# 13-16-8, top 14-12-1; PYTHON then runs with save(name, shape) at hand.
npy_state_dict() {
  python3 - "$1" "${2:-}" <<'PY' || fail "writing the state_dict failed"
import os, random, struct, sys
d = sys.argv[1]; os.makedirs(d)
rng = random.Random(3)
def save(name, shape, code="f"):
    dims = "".join(f"{n}," for n in shape) if len(shape) == 1 else ",".join(str(n) for n in shape)
    descr = "<f2" if code == "e" else "<f4"
    head = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}"
    head += " " * ((64 - (10 + len(head) + 1) % 64) % 64) + "\n"
    count = 1
    for n in shape: count *= n
    values = [rng.uniform(-1, 1) for _ in range(count)]
    with open(f"{d}/{name}.npy", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode())
        f.write(struct.pack(f"<{count}{code}", *values))
for t, rows in enumerate([50, 7, 300]):
    save(f"emb_l.{t}.weight", (rows, 8), "e" if t == 1 else "f")
def linear(prefix, i, out, inp):
    save(f"{prefix}.{i}.weight", (out, inp)); save(f"{prefix}.{i}.bias", (out,))
linear("bot_l", 0, 16, 13); linear("bot_l", 2, 8, 16)
linear("top_l", 0, 12, 8 + 4 * 3 // 2); linear("top_l", 2, 1, 12)
exec(sys.argv[2])
PY
}

# npy_refused PYTHON WORD...: import of that state_dict changed by PYTHON fails
# with one error line naming the directory and every WORD, leaving nothing.
npy_refused() {
  command -v python3 >/dev/null || { echo "skip: no python3"; exit 0; }
  npy_state_dict "$WORK/sd" "$1"
  shift
  run import --from "$WORK/sd" --shards 2 --out "$OUT"
  expect_error "$WORK/sd" "$@"
  expect_nothing_left "$OUT"
}

small_model() {  # small_model DIR [extra args]
  local dir=$1
  shift
  run synth --preset small --shards 3 --seed 5 --no-progress --out "$dir" "$@"
  [ "$RC" -eq 0 ] || { show; fail "synth failed"; }
}

OUT="$WORK/model"
case "$CASE" in
  synth_inspect_verify)
    small_model "$OUT"
    grep -q 'shard-002.bin' "$WORK/stdout" || { show; fail "synth summary lacks shard-002.bin"; }
    [ -f "$OUT/manifest.json" ] && [ -f "$OUT/dense.bin" ] && [ -f "$OUT/shard-000.bin" ] || fail "files missing"
    expect_nothing_left "$WORK/none"
    run inspect "$OUT"
    [ "$RC" -eq 0 ] || { show; fail "inspect failed"; }
    grep -Eq '^shard +file +bytes +rows +tables +row ranges' "$WORK/stdout" || { show; fail "inspect table header"; }
    grep -q 'plan auto, 3 shards' "$WORK/stdout" || { show; fail "inspect plan line"; }
    grep -q 'bottom 13-64-16' "$WORK/stdout" || { show; fail "inspect arch line"; }
    run inspect "$OUT" --json
    [ "$RC" -eq 0 ] || { show; fail "inspect --json failed"; }
    if command -v python3 >/dev/null; then
      python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["num_shards"]==3 and len(m["shards"])==3 and m["arch"]["dim"]==16, m' \
        "$WORK/stdout" || fail "inspect --json is not the expected JSON"
    fi
    run verify "$OUT" --no-progress
    [ "$RC" -eq 0 ] || { show; fail "verify failed on a good model"; }
    grep -q '^OK ' "$WORK/stdout" || { show; fail "verify printed no OK line"; }
    ;;
  plans_and_trailing_slash)
    for plan in auto table row column; do
      run synth --preset small --shards 4 --plan "$plan" --no-progress --out "$WORK/$plan/"
      [ "$RC" -eq 0 ] || { show; fail "plan $plan failed"; }
      run verify "$WORK/$plan" --no-progress
      [ "$RC" -eq 0 ] || { show; fail "verify of plan $plan failed"; }
      grep -q "plan $plan, 4 shards" <("$BIN" inspect "$WORK/$plan") || fail "inspect of plan $plan"
    done
    expect_nothing_left "$WORK/none"
    ;;
  import_npy)
    command -v python3 >/dev/null || { echo "skip: no python3"; exit 0; }
    npy_state_dict "$WORK/sd"
    run import --from "$WORK/sd" --shards 2 --row-cap 100 --no-progress --out "$OUT"
    [ "$RC" -eq 0 ] || { show; fail "import failed"; }
    run inspect "$OUT" --json
    python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); a=m["arch"]; assert a["table_rows"]==[50,7,100] and a["dense_features"]==13 and a["bottom_mlp"]==[16,8] and a["top_mlp"]==[12,1], a' \
      "$WORK/stdout" || { show; fail "imported architecture is wrong"; }
    run verify "$OUT" --no-progress
    [ "$RC" -eq 0 ] || { show; fail "verify of the imported model failed"; }
    ;;
  verify_flipped_data_byte)
    small_model "$OUT"
    flip_byte "$OUT/shard-001.bin" 5000
    run verify "$OUT" --no-progress
    expect_error shard-001.bin corrupted
    ;;
  verify_flipped_header_byte)
    small_model "$OUT"
    flip_byte "$OUT/shard-000.bin" 70
    run verify "$OUT" --no-progress
    expect_error shard-000.bin header
    ;;
  verify_truncated)
    small_model "$OUT"
    truncate -s -100 "$OUT/shard-002.bin"
    run verify "$OUT" --no-progress
    expect_error shard-002.bin truncated
    ;;
  verify_flipped_dense_byte)
    small_model "$OUT"
    flip_byte "$OUT/dense.bin" 3000
    run verify "$OUT" --no-progress
    expect_error dense.bin corrupted
    ;;
  verify_manifest_version)
    small_model "$OUT"
    sed -i 's/"format_version": 1/"format_version": 2/' "$OUT/manifest.json"
    run verify "$OUT" --no-progress
    expect_error manifest.json format_version
    ;;
  verify_missing_dir)
    run verify "$WORK/absent"
    expect_error "$WORK/absent" "does not exist"
    ;;
  inspect_not_a_model)
    mkdir -p "$WORK/empty"
    run inspect "$WORK/empty"
    expect_error manifest.json missing
    ;;
  dtype_int4_writes_verifies)
    small_model "$OUT" --dtype int4
    run verify "$OUT" --no-progress
    [ "$RC" -eq 0 ] || { show; fail "verify failed on an int4 model"; }
    grep -q '^OK ' "$WORK/stdout" || { show; fail "verify printed no OK line"; }
    run inspect "$OUT"
    [ "$RC" -eq 0 ] || { show; fail "inspect failed"; }
    # dim 16: 8 bytes of 4-bit codes + fp16 scale + fp16 bias = 12 bytes per row
    grep -q '^storage   int4 (row-wise 4-bit codes + fp16 scale/bias, 12 B per row of dim 16), plan auto, 3 shards' \
      "$WORK/stdout" || { show; fail "inspect does not report the int4 storage"; }
    run inspect "$OUT" --json
    if command -v python3 >/dev/null; then
      # 18,369 rows of the small preset at 12 bytes each
      python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["dtype"]=="int4" and m["row_bytes"]==12 and sum(s["embedding_bytes"] for s in m["shards"])==18369*12, m' \
        "$WORK/stdout" || { show; fail "inspect --json does not report int4 rows of 12 bytes"; }
    fi
    flip_byte "$OUT/shard-000.bin" 5000
    run verify "$OUT" --no-progress
    expect_error shard-000.bin corrupted
    ;;
  dtype_quantized_plans)
    for dtype in fp16 int8 int4; do
      for plan in auto row column; do
        run synth --preset small --shards 4 --plan "$plan" --dtype "$dtype" --no-progress --out "$WORK/$dtype-$plan"
        [ "$RC" -eq 0 ] || { show; fail "--dtype $dtype --plan $plan failed"; }
        run verify "$WORK/$dtype-$plan" --no-progress
        [ "$RC" -eq 0 ] || { show; fail "verify of --dtype $dtype --plan $plan failed"; }
        grep -q "^storage   $dtype (.*), plan $plan, 4 shards" <("$BIN" inspect "$WORK/$dtype-$plan") ||
          fail "inspect of --dtype $dtype --plan $plan"
      done
    done
    expect_nothing_left "$WORK/none"
    ;;
  dtype_unknown)
    run synth --preset small --shards 2 --dtype fp8 --out "$OUT"
    expect_error fp8 fp32
    expect_nothing_left "$OUT"
    run synth --preset small --shards 2 --dtype int3 --out "$OUT"
    expect_error --dtype "'int3'" fp32 fp16 int8 int4
    expect_nothing_left "$OUT"
    ;;
  table_dtype_bad)
    run synth --preset small --shards 2 --table-dtype 26=int4 --out "$OUT"
    expect_error --table-dtype "'26=int4'" "tables 0..25"
    expect_nothing_left "$OUT"
    run synth --preset small --shards 2 --table-dtype 3=int3 --out "$OUT"
    expect_error --table-dtype "table 3" "'int3'" fp32 int4
    expect_nothing_left "$OUT"
    run synth --preset small --shards 2 --table-dtype x=int4 --out "$OUT"
    expect_error --table-dtype "T=TYPE"
    expect_nothing_left "$OUT"
    ;;
  preset_unknown)
    run synth --preset huge --shards 2 --out "$OUT"
    expect_error huge terabyte-40m
    expect_nothing_left "$OUT"
    ;;
  zero_shards)
    run synth --preset small --shards 0 --out "$OUT"
    expect_error --shards "at least 1"
    expect_nothing_left "$OUT"
    ;;
  more_shards_than_rows)
    run synth --preset small --row-cap 1 --shards 27 --out "$OUT"
    expect_error "--shards 27" "26 embedding rows"
    expect_nothing_left "$OUT"
    ;;
  table_plan_too_many_shards)
    run synth --preset small --shards 30 --plan table --out "$OUT"
    expect_error "plan table" "26 tables" "--plan auto"
    expect_nothing_left "$OUT"
    ;;
  column_splits_not_dividing)
    run synth --preset small --shards 2 --plan column --column-splits 3 --out "$OUT"
    expect_error "--column-splits 3" divide
    expect_nothing_left "$OUT"
    ;;
  plan_unknown)
    run synth --preset small --shards 2 --plan diagonal --out "$OUT"
    expect_error diagonal auto
    expect_nothing_left "$OUT"
    ;;
  max_shard_bytes_too_small)
    run synth --preset terabyte-40m --shards 4 --max-shard-bytes 10GB --out "$OUT"
    expect_error "short by 56.14 GB" "--shards 10"
    expect_nothing_left "$OUT"
    ;;
  max_shard_bytes_bad_size)
    run synth --preset small --shards 2 --max-shard-bytes 4X --out "$OUT"
    expect_error --max-shard-bytes 4X
    expect_nothing_left "$OUT"
    ;;
  max_shard_bytes_suffixes)
    run synth --preset small --shards 2 --max-shard-bytes 1M --dry-run --out "$OUT"
    [ "$RC" -eq 0 ] || { show; fail "--max-shard-bytes 1M should fit the small preset"; }
    run synth --preset small --shards 2 --max-shard-bytes 100K --out "$OUT"
    expect_error "--shards 12"
    expect_nothing_left "$OUT"
    ;;
  out_exists)
    mkdir -p "$OUT"
    echo keep >"$OUT/mine.txt"
    run synth --preset small --shards 2 --out "$OUT"
    expect_error "$OUT" "already exists" --force
    [ -f "$OUT/mine.txt" ] || fail "existing output was touched"
    run synth --preset small --shards 2 --force --out "$OUT"
    expect_error "$OUT" "--force replaces only a model directory" manifest.json
    [ -f "$OUT/mine.txt" ] || fail "--force removed a directory that is not a model"
    rm -rf "$OUT"
    small_model "$OUT"
    checksum=$(grep -m1 '"checksum"' "$OUT/manifest.json")
    run synth --preset small --shards 3 --seed 6 --no-progress --force --out "$OUT"
    [ "$RC" -eq 0 ] || { show; fail "synth --force failed"; }
    [ -f "$OUT/manifest.json" ] && [ "$checksum" != "$(grep -m1 '"checksum"' "$OUT/manifest.json")" ] ||
      fail "--force did not replace the model"
    expect_nothing_left "$WORK/none"
    ;;
  import_missing_path)
    run import --from "$WORK/nothing" --shards 2 --out "$OUT"
    expect_error "$WORK/nothing" "does not exist"
    expect_nothing_left "$OUT"
    ;;
  import_bad_npy)
    mkdir -p "$WORK/sd"
    echo "not numpy" >"$WORK/sd/emb_l.0.weight.npy"
    run import --from "$WORK/sd" --shards 2 --out "$OUT"
    expect_error emb_l.0.weight.npy "bad magic"
    expect_nothing_left "$OUT"
    ;;
  import_npy_bad_shape)
    npy_refused 'save("top_l.0.weight", (12, 15))' "top_l.0.weight: expected shape (12, 14)" "found (12, 15)"
    ;;
  import_npy_unexpected_file)
    npy_refused 'save("emb_l.0.weight_scale", (1,))' "unexpected key 'emb_l.0.weight_scale'" "only emb_l.K.weight"
    ;;
  import_npy_empty_dir)
    mkdir -p "$WORK/sd"
    run import --from "$WORK/sd" --shards 2 --out "$OUT"
    expect_error "$WORK/sd" "no .npy files" "emb_l.0.weight.npy"
    expect_nothing_left "$OUT"
    ;;
  import_not_a_checkpoint)
    echo x >"$WORK/model.onnx"
    run import --from "$WORK/model.onnx" --shards 2 --out "$OUT"
    expect_error model.onnx
    expect_nothing_left "$OUT"
    ;;
  missing_required_option)
    run synth --preset small --shards 2
    [ "$RC" -ne 0 ] || fail "missing --out must fail"
    grep -q -- '--out' "$WORK/stderr" || { show; fail "the parse error should name --out"; }
    expect_nothing_left "$OUT"
    ;;
  interrupted_write_leaves_nothing)
    "$BIN" synth --preset terabyte-40m --row-cap 2000000 --shards 2 --no-progress --out "$OUT" \
      >"$WORK/stdout" 2>"$WORK/stderr" &
    pid=$!
    for _ in $(seq 1 100); do  # wait until the staged directory exists, then interrupt
      compgen -G "$OUT.partial-*" >/dev/null && break
      sleep 0.05
    done
    kill -INT "$pid"
    wait "$pid"
    RC=$?
    expect_error interrupted
    expect_nothing_left "$OUT"
    ;;
  *)
    fail "unknown case"
    ;;
esac
echo "PASS [$CASE]"
