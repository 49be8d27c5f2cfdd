#!/usr/bin/env bash
# dlrm-launch --dry-run on the example hostfiles with the full terabyte-40m
# model (manifest only), plus the refusals that need no MPI.
#   dry_run.sh BIN DLRM_SHARD HOSTFILES WORK
set -euo pipefail
BIN=$1 SHARD_TOOL=$2 HOSTFILES=$3 WORK=$4
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {  # expect FILE TEXT...: every TEXT is in FILE
  local file=$1; shift
  for text in "$@"; do grep -q -F -- "$text" "$file" || { cat "$file"; fail "'$text' missing from the output above"; }; done
}

"$SHARD_TOOL" synth --plan-only --preset terabyte-40m --shards 4 --out "$WORK/tb4" >/dev/null
"$SHARD_TOOL" synth --plan-only --preset small --shards 2 --out "$WORK/small2" >/dev/null
launch() { "$BIN/dlrm-launch" --model "$WORK/tb4" --run-dir "$WORK/run" "$@"; }

echo "== two sockets, one host"
launch --hostfile "$HOSTFILES/two-socket.hostfile" --dry-run \
  --topology node01='numa=2 cores_per_numa=16 mem_per_numa=192G' -- --data /data/test.bin > "$WORK/two-socket.out"
cat "$WORK/two-socket.out"
expect "$WORK/two-socket.out" "2 sockets, 2 NUMA nodes x 16 cores, 192.0 GiB each (--topology)" \
  "6 ranks on 1 host: 4 shard + 2 dense; DLRM_SHARD_RANKS=0,1,2,3" "2-15       14" "18-31      14" \
  "rank 4=node01 slot=2-15" "-np 4 -x DLRM_SHARD_RANKS=0,1,2,3 -x OMP_NUM_THREADS=1" \
  "-np 2 -x DLRM_SHARD_RANKS=0,1,2,3 -x OMP_NUM_THREADS=14" "--model $WORK/tb4 --data /data/test.bin"
cmp -s <(sed -n '/^rankfile/,/^$/p' "$WORK/two-socket.out" | sed '1d;$d') "$WORK/run/rankfile" ||
  fail "the printed rankfile differs from $WORK/run/rankfile"

echo "== a scenario run: the front is rank 0 on the first NUMA node's cores, the shards ranks 1-4"
launch --hostfile "$HOSTFILES/two-socket.hostfile" --dry-run \
  --topology node01='numa=2 cores_per_numa=16 mem_per_numa=192G' -- --data /data/test.bin --scenario=server \
  > "$WORK/scenario.out"
cat "$WORK/scenario.out"
expect "$WORK/scenario.out" "node01 0       0 front -     0-15        1           -" \
  "7 ranks on 1 host: 1 front + 4 shard + 2 dense; DLRM_SHARD_RANKS=1,2,3,4" "rank 0=node01 slot=0-15" \
  "-np 1 -x DLRM_SHARD_RANKS=1,2,3,4 -x OMP_NUM_THREADS=1 $BIN/dlrm-cluster" \
  "-np 4 -x DLRM_SHARD_RANKS=1,2,3,4 -x OMP_NUM_THREADS=1 -x OMP_PROC_BIND=close" \
  "--data /data/test.bin --scenario=server"
grep -q oversubscribed "$WORK/scenario.out" && fail "the front made the two-socket layout oversubscribed"

echo "== two different hosts, topology file, TCP network"
launch --hostfile "$HOSTFILES/two-hosts.hostfile" --topology-file "$HOSTFILES/two-hosts.topology" \
  --tcp-if 192.168.10.0/24 --dry-run -- --data /data/test.bin > "$WORK/two-hosts.out"
cat "$WORK/two-hosts.out"
expect "$WORK/two-hosts.out" "ranks on 2 hosts" "--mca btl self,vader,tcp" "--mca btl_tcp_if_include 192.168.10.0/24" \
  "--mca oob_tcp_if_include 192.168.10.0/24" "(topology file $HOSTFILES/two-hosts.topology)"

echo "== full-size DLRM-v2 in int4 on one 24 GB host: two 6.5 GiB shards and a dense rank fit; in fp32 they do not"
"$SHARD_TOOL" synth --plan-only --preset dlrm-v2 --dtype int4 --shards 2 --out "$WORK/v2-int4" >/dev/null
"$SHARD_TOOL" synth --plan-only --preset dlrm-v2 --shards 8 --out "$WORK/v2-fp32" >/dev/null
echo "localhost slots=3" > "$WORK/one.hostfile"
"$BIN/dlrm-launch" --model "$WORK/v2-int4" --run-dir "$WORK/run-v2" --hostfile "$WORK/one.hostfile" --dry-run \
  --topology localhost='numa=1 cores_per_numa=2 mem_per_numa=24G' -- --data /data/day_23 > "$WORK/v2.out"
cat "$WORK/v2.out"
expect "$WORK/v2.out" "2 shards, 12.9 GiB of embeddings (int4)" "3 ranks on 1 host: 2 shard + 1 dense"
echo "localhost slots=9" > "$WORK/nine.hostfile"
if "$BIN/dlrm-launch" --model "$WORK/v2-fp32" --run-dir "$WORK/run-v2f" --hostfile "$WORK/nine.hostfile" --dry-run \
  --topology localhost='numa=1 cores_per_numa=2 mem_per_numa=24G' -- --data x > "$WORK/v2f.out" 2>&1; then
  cat "$WORK/v2f.out"; fail "fp32 DLRM-v2 (97 GiB) planned onto 24 GB"
fi
expect "$WORK/v2f.out" "does not fit the memory"

echo "== mixed per-table storage: DLRM-v2's six large tables in int4, the 20 others in fp32, planned per table"
# int4: 203,067,956 rows x 68 B; fp32: 1,116,632 rows x 512 B; 14,380,336,592 B = 13.4 GiB in all.
small=()
for t in 1 2 3 4 5 6 7 8 11 12 13 14 15 16 17 18 22 23 24 25; do small+=(--table-dtype "$t=fp32"); done
"$SHARD_TOOL" synth --plan-only --preset dlrm-v2 --dtype int4 "${small[@]}" --shards 2 --out "$WORK/v2-mixed" >/dev/null
"$BIN/dlrm-launch" --model "$WORK/v2-mixed" --run-dir "$WORK/run-v2m" --hostfile "$WORK/one.hostfile" --dry-run \
  --topology localhost='numa=1 cores_per_numa=2 mem_per_numa=24G' -- --data /data/day_23 > "$WORK/v2m.out"
cat "$WORK/v2m.out"
expect "$WORK/v2m.out" "2 shards, 13.4 GiB of embeddings (mixed (20 fp32, 6 int4))" "6.7 GiB" \
  "3 ranks on 1 host: 2 shard + 1 dense"
# Its largest table in fp32 instead (40M x 512 B = 19.1 GiB more than in int4's 2.5 GiB): no longer fits.
"$SHARD_TOOL" synth --plan-only --preset dlrm-v2 --dtype int4 --table-dtype 0=fp32 --shards 2 \
  --out "$WORK/v2-mixed-big" >/dev/null
if "$BIN/dlrm-launch" --model "$WORK/v2-mixed-big" --run-dir "$WORK/run-v2mb" --hostfile "$WORK/one.hostfile" \
  --dry-run --topology localhost='numa=1 cores_per_numa=2 mem_per_numa=24G' -- --data x > "$WORK/v2mb.out" 2>&1; then
  cat "$WORK/v2mb.out"; fail "DLRM-v2 with a 40M-row fp32 table (29.5 GiB) planned onto 24 GB"
fi
expect "$WORK/v2mb.out" "does not fit the memory" "29.5 GiB of rows"

echo "== namespace test hosts, no topology given"
"$BIN/dlrm-launch" --model "$WORK/small2" --run-dir "$WORK/run-netns" --hostfile "$HOSTFILES/netns.hostfile" --dry-run \
  --mpirun-arg "--mca routed direct" -- --data x > "$WORK/netns.out"
cat "$WORK/netns.out"
expect "$WORK/netns.out" "no topology given: assumed same as this machine" "--mca routed direct" \
  "ranks on 3 hosts: 2 shard + 3 dense"

echo "== no --run-dir: the files stay in a temporary directory, and the output says where"
mkdir -p "$WORK/tmp"
TMPDIR="$WORK/tmp" "$BIN/dlrm-launch" --model "$WORK/small2" --hostfile "$HOSTFILES/netns.hostfile" --dry-run \
  -- --data x > "$WORK/tmpdir.out"
kept=$(compgen -G "$WORK/tmp/dlrm-launch-*") || fail "no dlrm-launch-* directory under TMPDIR=$WORK/tmp"
[ -f "$kept/rankfile" ] && [ -f "$kept/hostfile" ] || fail "$kept lacks the rankfile or hostfile"
expect "$WORK/tmpdir.out" "--rankfile $kept/rankfile" "the hostfile and rankfile stay in $kept" "remove it when done"
rm -rf "$WORK/tmp" && mkdir -p "$WORK/tmp"

echo "== refusals (exit code 2, a message that names the problem)"
refuse() {  # refuse NAME TEXT -- ARGS: dlrm-launch ARGS exits 2 and says TEXT
  local name=$1 text=$2; shift 3
  set +e
  TMPDIR="$WORK/tmp" "$BIN/dlrm-launch" "$@" > "$WORK/$name.out" 2>&1
  local code=$?
  set -e
  [ $code -eq 2 ] || { cat "$WORK/$name.out"; fail "$name: exit code $code, expected 2"; }
  expect "$WORK/$name.out" "$text"
  echo "ok $name: $(grep -o 'error\] .*' "$WORK/$name.out" | head -1 | cut -c1-150)"
}
printf 'node01 slots=4\nnode02 slots=0\n' > "$WORK/zero.hostfile"
refuse zero_slots "$WORK/zero.hostfile:2: host node02 has slots=0" -- --hostfile "$WORK/zero.hostfile" --model "$WORK/tb4" --dry-run
printf 'node01 slots=4\nnode01 slots=4\n' > "$WORK/dup.hostfile"
refuse duplicate "$WORK/dup.hostfile:2: host node01 is listed twice (also on line 1)" -- --hostfile "$WORK/dup.hostfile" --model "$WORK/tb4" --dry-run
printf 'node01 slots=2\n' > "$WORK/few.hostfile"
refuse too_few_slots "too few slots in $WORK/few.hostfile" -- --hostfile "$WORK/few.hostfile" --model "$WORK/tb4" --dry-run \
  --topology node01='numa=2 cores_per_numa=16 mem_per_numa=192G'
refuse too_big "short by" -- --hostfile "$HOSTFILES/two-socket.hostfile" --model "$WORK/tb4" --dry-run \
  --topology node01='numa=2 cores_per_numa=16 mem_per_numa=32G'
refuse unknown_topology_host "--topology names host node09 which is not in" -- --hostfile "$HOSTFILES/two-socket.hostfile" \
  --model "$WORK/tb4" --dry-run --topology node09='numa=1 cores_per_numa=1 mem_per_numa=1G'
refuse model_twice "give the model once" -- --hostfile "$HOSTFILES/two-socket.hostfile" --model "$WORK/tb4" --dry-run \
  --topology node01='numa=2 cores_per_numa=16 mem_per_numa=192G' -- --model "$WORK/tb4"
refuse no_model "manifest.json is missing" -- --hostfile "$HOSTFILES/two-socket.hostfile" --model "$WORK" --dry-run
left=$(compgen -G "$WORK/tmp/*") && fail "refused runs left $left behind"
echo "dry runs ok"
