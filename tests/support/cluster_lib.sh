# Shell helpers shared by the cluster_mpi scripts (source it).

# expect_refused "OPTION VALUE" COMMAND...: COMMAND with the option appended
# must exit non-zero with an error naming the option. Prints ok/FAIL; returns
# 1 on FAIL.
expect_refused() {
  local opt=$1 log
  shift
  log=$(mktemp)
  # shellcheck disable=SC2086  # the option and its value are two words
  if "$@" $opt > "$log" 2>&1; then
    echo "FAIL option '$opt': accepted"; rm -f "$log"; return 1
  fi
  if ! grep -q -- "${opt%% *}" "$log"; then
    echo "FAIL option '$opt': the error does not name the option:"; cat "$log"; rm -f "$log"; return 1
  fi
  echo "ok option '$opt': $(grep -- "${opt%% *}" "$log" | head -1)"
  rm -f "$log"
}
