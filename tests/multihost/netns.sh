# Sourced by the multi-host tests: "hosts" on this machine made of network
# namespaces, and their guaranteed cleanup.
#
#   netns_probe                   exit 77 (CTest skip) with the reason when namespaces cannot be made
#   netns_cluster_up PREFIX N DIR make PREFIX-sw (a bridge), PREFIX-hd (where mpirun runs, 10.231.0.1)
#                                 and PREFIX-h1..hN (10.231.0.11 ..), all on 10.231.0.0/24; writes
#                                 DIR/agent (the rsh agent)
#   netns_cluster_down            kill every process in those namespaces, delete them (idempotent)
#   netns_reap_stale              delete dlrm-mhPID-* namespaces whose test (PID) was killed
#   netns_host_pids I             PIDs of the processes in host I's namespace
#
# Nothing leaves the namespaces: the bridge and every veth end live inside
# them (none in the root namespace), so deleting the namespaces removes all of
# it, and the addresses exist only there. netns_cluster_up installs an EXIT
# trap (reached on HUP, INT, PIPE and TERM too) that calls the caller's
# `on_exit` if defined, then netns_cluster_down.

NETNS_SUBNET=10.231.0.0/24
NETNS_HEAD_ADDR=10.231.0.1
NETNS_PREFIX=""
NETNS_NAMES=()

netns_addr() { echo "10.231.0.$((10 + $1))"; }

netns_probe() {
  local probe="dlrm-probe-$$" err
  if ! command -v ip >/dev/null 2>&1; then
    echo "SKIP: the 'ip' command (iproute2) is missing; install iproute2 to run the multi-host tests"
    exit 77
  fi
  if ! command -v unshare >/dev/null 2>&1; then
    echo "SKIP: 'unshare' (util-linux) is missing"
    exit 77
  fi
  if ! err=$(ip netns add "$probe" 2>&1); then
    echo "SKIP: this machine does not allow network namespaces ('ip netns add' failed: $err);" \
         "the multi-host tests need root or CAP_NET_ADMIN + CAP_SYS_ADMIN"
    exit 77
  fi
  if ! err=$(ip -n "$probe" link add probe0 type veth peer name probe1 2>&1); then
    ip netns del "$probe" 2>/dev/null
    echo "SKIP: veth pairs cannot be made here ($err)"
    exit 77
  fi
  ip netns del "$probe"
}

# PIDs of every process in our namespaces.
netns_all_pids() {
  local ns
  for ns in "${NETNS_NAMES[@]}"; do ip netns pids "$ns" 2>/dev/null; done | tr '\n' ' '
}

netns_cluster_down() {
  local ns pids round
  [ ${#NETNS_NAMES[@]} -eq 0 ] && return 0
  # Gently first: TERM what runs in the head namespace (dlrm-launch forwards
  # it to mpirun, which stops its daemons and ranks), then KILL what is left.
  pids=$(ip netns pids "$NETNS_PREFIX-hd" 2>/dev/null | tr '\n' ' ')
  if [ -n "${pids// /}" ]; then
    kill -TERM $pids 2>/dev/null
    for round in $(seq 50); do
      [ -z "$(netns_all_pids | tr -d ' ')" ] && break
      sleep 0.1
    done
  fi
  for round in 1 2 3 4 5; do
    pids=$(netns_all_pids)
    [ -z "${pids// /}" ] && break
    kill -9 $pids 2>/dev/null
    sleep 0.2
  done
  for ns in "${NETNS_NAMES[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
  local left
  left=$(ip netns list | grep -F "$NETNS_PREFIX-" || true)
  NETNS_NAMES=()
  if [ -n "$left" ]; then
    echo "netns: FAILED to delete namespaces: $left" >&2
    return 1
  fi
  return 0
}

netns_exit_trap() {
  local code=$?
  if declare -F on_exit >/dev/null; then on_exit || code=1; fi
  netns_cluster_down || code=1
  exit $code
}

# netns_link NS PORT ADDR: a veth from NS (eth0, ADDR/24) to the bridge (PORT).
netns_link() {
  local ns=$1 port=$2 addr=$3
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type veth peer name "$port" netns "$NETNS_PREFIX-sw"
  ip -n "$NETNS_PREFIX-sw" link set "$port" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# Namespaces "dlrm-mhPID-*" of test runs that were killed (SIGKILL skips the
# EXIT trap): delete them once PID is gone.
netns_reap_stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^dlrm-mh[0-9]+-' || true); do
    pid=${ns#dlrm-mh}
    pid=${pid%%-*}
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "netns: removing $ns, left by a killed test run (PID $pid)"
      kill -9 $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null
      ip netns del "$ns" 2>/dev/null
    fi
  done
}

netns_cluster_up() {
  local prefix=$1 hosts=$2 dir=$3 i
  NETNS_PREFIX=$prefix
  trap netns_exit_trap EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 141' PIPE
  trap 'exit 143' TERM
  netns_reap_stale
  mkdir -p "$dir"
  NETNS_NAMES=("$prefix-sw")
  ip netns add "$prefix-sw"
  ip -n "$prefix-sw" link set lo up
  ip -n "$prefix-sw" link add br0 type bridge
  ip -n "$prefix-sw" link set br0 up
  NETNS_NAMES+=("$prefix-hd")
  ip netns add "$prefix-hd"
  netns_link "$prefix-hd" p-hd "$NETNS_HEAD_ADDR"
  local cases=""
  for ((i = 1; i <= hosts; ++i)); do
    NETNS_NAMES+=("$prefix-h$i")
    ip netns add "$prefix-h$i"
    netns_link "$prefix-h$i" "p-h$i" "$(netns_addr "$i")"
    cases+="  $(netns_addr "$i")) ns=$prefix-h$i ;;"$'\n'
  done
  # Addresses reserved for fault tests: .19 maps to a namespace that does
  # not exist (a host that is down); anything else is unknown.
  cases+="  10.231.0.19) ns=$prefix-h9 ;;"$'\n'
  cat > "$dir/agent" <<AGENT
#!/bin/sh
# rsh agent for the namespace hosts (mpirun calls it as: agent HOST COMMAND...).
# Runs COMMAND in HOST's namespace under its own UTS namespace whose host name
# is HOST's address, so MPI_Get_processor_name() names the host as the hostfile does.
host=\$1
shift
case "\$host" in
$cases  *) echo "netns agent: unknown host \$host: no test namespace has that address" >&2; exit 255 ;;
esac
if [ ! -e "/var/run/netns/\$ns" ]; then
  echo "netns agent: cannot reach host \$host: its namespace \$ns does not exist (host down)" >&2
  exit 255
fi
exec ip netns exec "\$ns" unshare --uts /bin/sh -c 'hostname "\$0" && exec /bin/sh -c "\$1"' "\$host" "\$*"
AGENT
  chmod +x "$dir/agent"
  # Wait until the head reaches every host (bridge ports come up at once, but be sure).
  for ((i = 1; i <= hosts; ++i)); do
    local tries=0
    # A closed port answers "refused" once the path works (no pipeline: pipefail-safe).
    until [[ "$(ip netns exec "$prefix-hd" timeout 1 bash -c "exec 3<>/dev/tcp/$(netns_addr "$i")/9" 2>&1)" == *refused* ]]; do
      tries=$((tries + 1))
      if [ $tries -ge 50 ]; then
        echo "netns: host $(netns_addr "$i") does not answer from the head namespace" >&2
        return 1
      fi
      sleep 0.1
    done
  done
}

netns_host_pids() { ip netns pids "$NETNS_PREFIX-h$1" 2>/dev/null; }

# mpirun settings for the namespace cluster (pass each as --mpirun-arg).
netns_mpirun_args() {
  echo "--mca plm_rsh_agent $1/agent --mca routed direct --mca plm_rsh_no_tree_spawn 1"
}
