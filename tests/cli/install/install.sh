#!/usr/bin/env bash
# install.prefix: cmake --install into a fresh prefix (and the same with
# DESTDIR), then check the installed tree and run the programs from it.
#   install.sh CMAKE BUILD_DIR SOURCE_DIR WORK PROGRAM...
set -euo pipefail
CMAKE=$1 BUILD=$2 SRC=$3 WORK=$4
shift 4
PROGRAMS=("$@")
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
PREFIX=$WORK/prefix
SHARE=$PREFIX/share/dlrm-cluster
"$CMAKE" --install "$BUILD" --prefix "$PREFIX" > "$WORK/install.log"
DESTDIR=$WORK/destdir "$CMAKE" --install "$BUILD" --prefix /usr > "$WORK/destdir.log"

# DESTDIR puts the same tree under DESTDIR/PREFIX.
diff <(cd "$PREFIX" && find . | sort) <(cd "$WORK/destdir/usr" && find . | sort) \
  || fail "DESTDIR=$WORK/destdir --prefix /usr installed a different tree than --prefix $PREFIX"

# Only bin/ and share/: no libraries, headers, tests or benchmarks.
[ "$(cd "$PREFIX" && ls | tr '\n' ' ')" = "bin share " ] || fail "$PREFIX holds $(ls "$PREFIX")"
expected=$(printf '%s\n' "${PROGRAMS[@]}" | sort | tr '\n' ' ')
[ "$(ls "$PREFIX/bin" | sort | tr '\n' ' ')" = "$expected" ] \
  || fail "$PREFIX/bin holds '$(ls "$PREFIX/bin" | tr '\n' ' ')', expected '$expected'"

# Every program runs from the prefix: libraries found, no path into the build tree.
for program in "${PROGRAMS[@]}"; do
  exe=$PREFIX/bin/$program
  [ -x "$exe" ] || fail "$exe is not executable"
  ! ldd "$exe" | grep -q "not found" || fail "$exe: $(ldd "$exe" | grep 'not found')"
  ! readelf -d "$exe" | grep -E 'R(UN)?PATH' | grep -qF "$BUILD" || fail "$exe has an RPATH into $BUILD"
  "$exe" --help > "$WORK/$program.help" 2>&1 || fail "$exe --help exited $?: $(head -3 "$WORK/$program.help")"
  grep -q "Usage:" "$WORK/$program.help" || fail "$exe --help printed no usage: $(head -3 "$WORK/$program.help")"
done

# The scripts a user runs, executable and valid bash; mpi-env.sh sets Open MPI up.
for script in mpi-env.sh bench-scaling.sh; do
  [ -x "$SHARE/tools/$script" ] || fail "$SHARE/tools/$script is missing or not executable"
  bash -n "$SHARE/tools/$script" || fail "$SHARE/tools/$script does not parse"
done
(source "$SHARE/tools/mpi-env.sh"; [ "${OMPI_MCA_rmaps_base_oversubscribe:-}" = 1 ]) \
  || fail "sourcing $SHARE/tools/mpi-env.sh did not set OMPI_MCA_rmaps_base_oversubscribe"
# Every example hostfile, unchanged; the README and every docs/*.md.
diff -r "$SRC/hostfiles" "$SHARE/hostfiles" || fail "$SHARE/hostfiles differs from $SRC/hostfiles"
cmp -s "$SRC/README.md" "$SHARE/README.md" || fail "$SHARE/README.md is missing or differs"
cmp -s "$SRC/cluster/serve/proto/inference.proto" "$SHARE/proto/inference.proto" \
  || fail "$SHARE/proto/inference.proto (for dlrm-serve's gRPC clients) is missing or differs"
for doc in "$SRC"/docs/*.md; do
  cmp -s "$doc" "$SHARE/docs/$(basename "$doc")" || fail "$SHARE/docs/$(basename "$doc") is missing or differs"
done

# dlrm-launch from the prefix runs the dlrm-cluster beside it: a dry run on the
# example two-socket hostfile with a plan-only model (a manifest, no shards).
"$PREFIX/bin/dlrm-shard" synth --plan-only --preset small --shards 2 --out "$WORK/model" > "$WORK/synth.log"
"$PREFIX/bin/dlrm-launch" --hostfile "$SHARE/hostfiles/two-socket.hostfile" --model "$WORK/model" \
  --topology '*=numa=2,cores_per_numa=4,mem_per_numa=8G' --run-dir "$WORK/run" --dry-run -- --batch 64 \
  > "$WORK/launch.log" 2>&1 || fail "dlrm-launch --dry-run exited $?: $(tail -5 "$WORK/launch.log")"
grep -qF "$PREFIX/bin/dlrm-cluster --model" "$WORK/launch.log" \
  || fail "the dry run does not run $PREFIX/bin/dlrm-cluster: $(tail -5 "$WORK/launch.log")"
echo "install.prefix: ${#PROGRAMS[@]} programs run from $PREFIX; scripts, hostfiles and docs in $SHARE"
