#!/usr/bin/env bash
# install.deb: build the .deb with CPack and check its control fields and
# contents. Depends must name the package of every shared library that a
# program links directly (readelf NEEDED, found with ldd, owner from dpkg -S)
# and openmpi-bin (mpirun).
#   deb.sh CPACK BUILD_DIR VERSION WORK PROGRAM...
set -euo pipefail
CPACK=$1 BUILD=$2 VERSION=$3 WORK=$4
shift 4
PROGRAMS=("$@")
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
"$CPACK" --config "$BUILD/CPackConfig.cmake" -G DEB -B "$WORK" > "$WORK/cpack.log" 2>&1 \
  || fail "cpack exited $?: $(tail -20 "$WORK/cpack.log")"
debs=("$WORK"/dlrm-cluster_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "cpack wrote no dlrm-cluster_*.deb into $WORK"
deb=${debs[0]}
dpkg-deb -I "$deb" > "$WORK/info.txt"
dpkg-deb -c "$deb" > "$WORK/contents.txt"

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = dlrm-cluster ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$VERSION" ] || fail "Version: $(field Version), project() says $VERSION"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
[ -n "$(field Description)" ] || fail "no Description"
depends=$(field Depends)
echo "Depends: $depends"
# The package names of Depends, one a line (versions and alternatives dropped).
depends_names=$(sed 's/([^)]*)//g; s/[,|]/\n/g' <<< "$depends" | tr -d ' ')
names_dependency() { grep -qxF "$1" <<< "$depends_names"; }

# The shared libraries the programs link directly, and the files they resolve to.
declare -A users=() files=()
for program in "${PROGRAMS[@]}"; do
  exe=$BUILD/bin/$program
  for lib in $(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    users[$lib]+=" $program"
    [ -n "${files[$lib]:-}" ] && continue
    path=$(ldd "$exe" | awk -v lib="$lib" '$1 == lib { print $3 }')
    [ -n "$path" ] || fail "ldd does not resolve $lib of $exe"
    files[$lib]=$(realpath "$path")
  done
done
# Their packages, in one dpkg -S (dpkg may know a file under /usr or not: merged /usr).
candidates=()
for lib in "${!files[@]}"; do candidates+=("${files[$lib]}" "${files[$lib]#/usr}"); done
dpkg -S "${candidates[@]}" > "$WORK/owners.txt" 2>/dev/null || true
for lib in "${!files[@]}"; do
  package=$(awk -v f="${files[$lib]}" '{ p = $2; sub(/^\/usr/, "", p); g = f; sub(/^\/usr/, "", g) }
    p == g { sub(/:.*/, "", $1); print $1; exit }' "$WORK/owners.txt")
  [ -n "$package" ] || fail "no package owns ${files[$lib]} ($lib of${users[$lib]})"
  # Debian's shlibs may name a virtual package the library's package provides
  # (libspdlog1.10 provides libspdlog1.10-fmt9).
  names="$package $(dpkg-query -W -f='${Provides}' "$package" | sed 's/([^)]*)//g; s/,/ /g')"
  found=0
  for name in $names; do
    if names_dependency "$name"; then found=1; fi
  done
  [ $found = 1 ] || fail "Depends names none of '$names' ($lib, linked by${users[$lib]}): $depends"
done
names_dependency openmpi-bin || fail "Depends does not name openmpi-bin (mpirun): $depends"

# The programs, the scripts and the hostfiles are inside, under /usr.
for path in "${PROGRAMS[@]/#/usr/bin/}" usr/share/dlrm-cluster/tools/mpi-env.sh \
    usr/share/dlrm-cluster/tools/bench-scaling.sh usr/share/dlrm-cluster/hostfiles/two-socket.hostfile \
    usr/share/dlrm-cluster/docs/install.md; do
  grep -qE " \./$path\$" "$WORK/contents.txt" || fail "$deb does not hold /$path"
done
echo "install.deb: $(basename "$deb") holds the ${#PROGRAMS[@]} programs; Depends covers their ${#files[@]} libraries and openmpi-bin"
