// The mpirun command for a layout, running it, and reading its failures.
//
// The command: mpirun --hostfile H --rankfile R [transport --mca settings]
//   [--mpirun-arg words] then one app context per run of consecutive ranks
//   with the same thread count:
//   -np N -x DLRM_SHARD_RANKS=... -x OMP_NUM_THREADS=T PROGRAM ARGS : ...
//   (a scenario run's front, rank 0, has a context of its own: its thread
//   stays unpinned on its NUMA node's cores).
// run_mpirun() starts it in its own process group with stdin from /dev/null,
// forwards SIGINT/SIGTERM/SIGHUP to it once, relays its stderr line by line,
// and on failure names the rank, its role and its host (MpirunFailures).
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dlrm/launcher/layout.h"

namespace dlrm::launcher {

enum class Transport { kAuto, kTcp, kShmTcp };
// "auto", "tcp", "shm-tcp"; throws naming the choices.
Transport parse_transport(const std::string& name);

struct CommandOptions {
  std::string mpirun = "mpirun";
  std::filesystem::path hostfile;  // as written for mpirun (hostfile_text)
  std::filesystem::path rankfile;  // rankfile_text
  Transport transport = Transport::kAuto;
  std::string tcp_if;                     // CIDR or interface list for btl/oob_tcp_if_include; empty: all
  std::vector<std::string> mpirun_args;   // extra mpirun words (--mpirun-arg, split on spaces)
  std::filesystem::path program;          // dlrm-cluster (absolute)
  std::vector<std::string> program_args;  // its arguments (with --model)
  // OpenMP wait variables set in the launcher's environment
  // (kOpenMpWaitVariables): passed on to every rank instead of the
  // launcher's own GOMP_SPINCOUNT.
  std::vector<std::string> user_openmp_wait;
};

// The variables that say how OpenMP threads wait at a barrier.
inline constexpr const char* kOpenMpWaitVariables[] = {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"};
// Ranks that share cores: an OpenMP helper spins this many rounds (libgomp's
// GOMP_SPINCOUNT; its default is 300000, OMP_WAIT_POLICY=passive is 0) before
// it sleeps. Enough for the microseconds between oneDNN primitives (passive
// waiting made the fp32 DLRM MLPs at 2 threads 9-17% slower), short against
// a batch, and the long waits (for pooled rows) sleep at once anyway.
inline constexpr int kSharedCoreSpinCount = 30000;

// Whether dlrm-cluster's arguments ask for a scenario run (`--scenario X` or
// `--scenario=X`), whose world rank 0 is the front (LayoutOptions::front).
bool scenario_run(const std::vector<std::string>& program_args);

// The value of the last `NAME VALUE` or `NAME=VALUE` in a program's
// arguments (`--mlp int8`), or "" when absent.
std::string program_option(const std::vector<std::string>& program_args, const std::string& name);

// dlrm-cluster's --exchange-transport for a layout whose arguments give
// none: "pool" when every rank is on one host whose shard ranks share the
// dense ranks' cores and whose shared memory (`shm_room` bytes free) holds
// the shards' `shard_bytes` with a tenth to spare (the dense threads then
// pool the rows themselves, between their MLPs, instead of a shard rank
// taking one of their cores in the middle of one); else "" (auto). `why`
// gets a note for the user either way when pool was considered.
std::string default_exchange_transport(const Layout& layout, const std::vector<std::string>& program_args,
                                       uint64_t shard_bytes, uint64_t shm_room, std::string& why);

// Splits on spaces and tabs; empty words are dropped.
std::vector<std::string> split_words(const std::string& text);

// The btl list for a transport: auto = self,vader on one host, self,vader,tcp on more.
std::string btl_list(Transport transport, int hosts_used);

// The MCA parameters that mpirun words set (--mca KEY VALUE, -mca KEY VALUE).
std::set<std::string> mca_keys(const std::vector<std::string>& args);

// The mpirun command. The launcher's own MCA settings (btl, the TCP
// interfaces, mpi_yield_when_idle) give way to the same parameter in
// options.mpirun_args: mpirun refuses a parameter given twice. Ranks that
// share cores get GOMP_SPINCOUNT=kSharedCoreSpinCount, or the user's
// OpenMP wait variables (options.user_openmp_wait) forwarded with -x.
std::vector<std::string> mpirun_command(const Layout& layout, const CommandOptions& options);

// Variables mpirun itself needs: OMPI_ALLOW_RUN_AS_ROOT(+_CONFIRM)=1 as root.
std::vector<std::pair<std::string, std::string>> mpirun_environment(bool as_root);

// One line a shell accepts: words quoted where needed, env assignments first.
std::string shell_command(const std::vector<std::pair<std::string, std::string>>& env,
                          const std::vector<std::string>& argv);

// Reads mpirun's stderr and turns Open MPI's failure reports into lines that
// name the rank, its role (front / shard s / dense d) and its host:
//   "mpirun noticed that process rank N with PID P on node H exited on signal 9 (Killed)."
//   "MPI_ABORT was invoked on rank N in communicator ..."
//   "Process name: [[J,1],N]" + "Exit code: C" (a rank exited non-zero)
//   "ORTE was unable to reliably start one or more daemons." (naming the hosts
//   that the rsh agent's messages before it name, e.g. "ssh: Could not
//   resolve hostname node03") / lost daemons.
class MpirunFailures {
 public:
  explicit MpirunFailures(const Layout& layout) : layout_(layout) {}
  void feed(const std::string& line);
  // One line per distinct failure, in the order seen.
  const std::vector<std::string>& found() const { return found_; }

 private:
  void add(std::string message);
  std::string describe_rank(int rank) const;
  const Layout& layout_;
  std::vector<std::string> found_;
  int pending_rank_ = -1;          // "Process name" seen, waiting for "Exit code"
  std::vector<int> named_hosts_;   // hosts named by lines before a daemon failure (the rsh agent's words)
  bool daemon_failed_ = false;
};

struct MpirunResult {
  int exit_code = 0;         // mpirun's (128 + signal when mpirun itself was killed)
  int forwarded_signal = 0;  // the last SIGINT/SIGTERM/SIGHUP passed on to mpirun, or 0
};

// Runs mpirun (argv[0] looked up in PATH) with `env` added to this process's
// environment; relays its stdout and stderr. Failure explanations go to
// `failures`. stop_as: when not 0, the first SIGINT or SIGTERM reaches mpirun
// as this signal instead (dlrm-serve: SIGUSR2, which mpirun passes on to
// every rank, where SIGTERM would make it abort the job); another within 0.5 s
// of it is the same stop delivered twice (timeout signals its child, then its
// process group) and is dropped; later ones reach mpirun as they are.
MpirunResult run_mpirun(const std::vector<std::string>& argv,
                        const std::vector<std::pair<std::string, std::string>>& env, MpirunFailures& failures,
                        int stop_as = 0);

}  // namespace dlrm::launcher
