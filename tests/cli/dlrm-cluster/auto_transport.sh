#!/usr/bin/env bash
# What --exchange-transport auto (the default) picks under a plain mpiexec,
# and that every pick gives the same predictions:
# - pool where the shard ranks may run on the dense ranks' cores (--bind-to
#   none), and the log says so and how to override it;
# - shm where the shard ranks have cores of their own (--bind-to core, 2
#   ranks; skipped on a 1-core host), where they serve rows from the page
#   cache (--shard-memory mmap), or where the host's shared memory has no
#   room for the rows (a tmpfs of 1 MiB as Open MPI's backing directory: the
#   shm windows, 0.4 MB at batch 128, fit; the 1.2 MB of rows do not; needs
#   root to mount);
# - an explicit transport stays as given.
#   auto_transport.sh BIN WORK
set -uo pipefail
BIN=$1 WORK=$2
MPIEXEC=${MPIEXEC:-mpiexec}
T=$WORK/auto_transport
umount "$T/tinyfs" 2>/dev/null  # left mounted by an interrupted earlier run
rm -rf "$T" && mkdir -p "$T"
DATA=$(cat "$WORK/data.arg")
failures=0

# run NAME WANT RANKS MODEL [MPIEXEC OPTIONS...] -- [PROGRAM OPTIONS...]: the
# run succeeds, its report says transport WANT, and its predictions equal
# the explicit shm run's of the same model bit for bit.
run() {
  local name=$1 want=$2 ranks=$3 model=$4
  shift 4
  local mpi=() prog=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do mpi+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  prog=("$@")
  if ! timeout 120 "$MPIEXEC" -n "$ranks" "${mpi[@]}" "$BIN/dlrm-cluster" --model "$model" --data "$DATA" \
      --batch 128 --threads 1 --quiet --out "$T/$name.npy" --report "$T/$name.json" "${prog[@]}" \
      > "$T/$name.log" 2>&1; then
    echo "FAIL $name: the run failed"; tail -5 "$T/$name.log"; failures=$((failures + 1)); return 1
  fi
  local got
  got=$("${PYTHON:-/usr/bin/python3}" -c "import json,sys; print(json.load(open(sys.argv[1]))['exchange_transport'])" \
    "$T/$name.json")
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: transport $got, want $want"; grep -i transport "$T/$name.log"; failures=$((failures + 1)); return 1
  fi
  if [ -e "$T/shm-$ranks.npy" ] && ! cmp -s "$T/$name.npy" "$T/shm-$ranks.npy"; then
    echo "FAIL $name: predictions differ from the shm run's"; failures=$((failures + 1)); return 1
  fi
  echo "ok $name: $got"
}

# The references: shm given explicitly, at 3 and 2 ranks.
run shm-3 shm 3 "$WORK/model-table-2" --bind-to none -- --exchange-transport shm
run shm-2 shm 2 "$WORK/model-table-1" --bind-to none -- --exchange-transport shm

run shared_cores pool 3 "$WORK/model-table-2" --bind-to none --
if ! grep -q "exchange transport: pool, as the shard ranks share the dense ranks' cores.*--exchange-transport shm" \
    "$T/shared_cores.log"; then
  echo "FAIL shared_cores: the log does not say why pool, or how to override it"; failures=$((failures + 1))
fi
run shared_cores_bf16 pool 3 "$WORK/model-table-2" --bind-to none -- --exchange-dtype bf16
grep -q "exchange-dtype bf16 has no effect with the pool transport.*pass --exchange-transport shm" \
  "$T/shared_cores_bf16.log" || { echo "FAIL shared_cores_bf16: no warning"; failures=$((failures + 1)); }
run explicit_shm shm 3 "$WORK/model-table-2" --bind-to none -- --exchange-transport shm
run page_cache shm 3 "$WORK/model-table-2" --bind-to none -- --shard-memory mmap
if [ "$(nproc)" -ge 2 ]; then
  run own_cores shm 2 "$WORK/model-table-1" --bind-to core --map-by core --
else
  echo "skipped own_cores: $(nproc) core"
fi

mkdir -p "$T/tinyfs"
rows=$(du -cb "$WORK"/model-table-2/shard-*.bin | tail -1 | cut -f1)
if mount -t tmpfs -o size=1m tmpfs "$T/tinyfs" 2>/dev/null; then
  trap 'umount "$T/tinyfs" 2>/dev/null' EXIT
  if [ "${rows:-0}" -gt $((1024 * 1024)) ]; then
    OMPI_MCA_osc_sm_backing_directory="$T/tinyfs" run no_room shm 3 "$WORK/model-table-2" --bind-to none -- &&
      { grep -q "share the dense ranks' cores, but $T/tinyfs has .* free for .* of rows" "$T/no_room.log" ||
        { echo "FAIL no_room: the log does not say why not pool"; failures=$((failures + 1)); }; }
  else
    echo "FAIL no_room: the model's rows ($rows bytes) fit in 1 MiB; the case needs a bigger model"
    failures=$((failures + 1))
  fi
  umount "$T/tinyfs"
else
  echo "skipped no_room: cannot mount a tmpfs here (needs root)"
fi

[ "$failures" -eq 0 ] || { echo "$failures case(s) failed"; exit 1; }
