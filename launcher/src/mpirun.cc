#include "dlrm/launcher/mpirun.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <set>
#include <sstream>
#include <utility>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/shm_room.h"

namespace dlrm::launcher {

Transport parse_transport(const std::string& name) {
  if (name == "auto") return Transport::kAuto;
  if (name == "tcp") return Transport::kTcp;
  if (name == "shm-tcp") return Transport::kShmTcp;
  DLRM_FAIL("unknown --transport '{}'; choose auto, tcp or shm-tcp", name);
}

bool scenario_run(const std::vector<std::string>& program_args) {
  return std::any_of(program_args.begin(), program_args.end(),
                     [](const std::string& a) { return a == "--scenario" || a.rfind("--scenario=", 0) == 0; });
}

std::string program_option(const std::vector<std::string>& program_args, const std::string& name) {
  std::string value;
  for (size_t i = 0; i < program_args.size(); ++i) {
    const std::string& a = program_args[i];
    if (a == name && i + 1 < program_args.size()) {
      value = program_args[i + 1];
    } else if (a.rfind(name + "=", 0) == 0) {
      value = a.substr(name.size() + 1);
    }
  }
  return value;
}

std::string default_exchange_transport(const Layout& layout, const std::vector<std::string>& program_args,
                                       uint64_t shard_bytes, uint64_t shm_room, std::string& why) {
  why.clear();
  const bool given = std::any_of(program_args.begin(), program_args.end(), [](const std::string& a) {
    return a == "--exchange-transport" || a.rfind("--exchange-transport=", 0) == 0;
  });
  if (given || layout.hosts_used() != 1 || layout.shared_nodes.empty()) return "";
  if (!pool_rows_fit(shard_bytes, shm_room)) {
    why = fmt::format("the shard ranks share the dense ranks' cores, but the host's shared memory has {} free for "
                      "{} of rows: pooled rows go by shared memory (--exchange-transport auto), not pooled by the "
                      "dense ranks (pool)",
                      format_binary_bytes(shm_room), format_binary_bytes(shard_bytes));
    return "";
  }
  why = "the shard ranks share the dense ranks' cores on one host: the dense ranks pool the rows themselves from "
        "the shards' shared memory (--exchange-transport pool; pass another to override)";
  return "pool";
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::string btl_list(Transport transport, int hosts_used) {
  switch (transport) {
    case Transport::kTcp:
      return "self,tcp";
    case Transport::kShmTcp:
      return "self,vader,tcp";
    case Transport::kAuto:
      break;
  }
  return hosts_used <= 1 ? "self,vader" : "self,vader,tcp";
}

std::set<std::string> mca_keys(const std::vector<std::string>& args) {
  std::set<std::string> keys;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--mca" || args[i] == "-mca") keys.insert(args[i + 1]);
  }
  return keys;
}

std::vector<std::string> mpirun_command(const Layout& layout, const CommandOptions& options) {
  std::vector<std::string> argv = {options.mpirun, "--hostfile", options.hostfile.string(), "--rankfile",
                                   options.rankfile.string()};
  // The launcher's MCA settings, each unless the user's --mpirun-arg words
  // set the same parameter: theirs wins (mpirun refuses a parameter twice).
  const std::set<std::string> user = mca_keys(options.mpirun_args);
  auto mca = [&](const std::string& key, const std::string& value) {
    if (user.count(key) == 0) argv.insert(argv.end(), {"--mca", key, value});
  };
  mca("btl", btl_list(options.transport, layout.hosts_used()));
  if (!options.tcp_if.empty()) {
    mca("btl_tcp_if_include", options.tcp_if);
    mca("oob_tcp_if_include", options.tcp_if);
  }
  if (layout.oversubscribed) mca("mpi_yield_when_idle", "1");
  argv.insert(argv.end(), options.mpirun_args.begin(), options.mpirun_args.end());

  // One app context per run of ranks with the same threads and pinning. The
  // front is not pinned: it may run on any core of its NUMA node.
  const std::string shard_ranks = "DLRM_SHARD_RANKS=" + layout.shard_ranks_env();
  auto pinned = [&](const RankPlan& r) {
    return !layout.oversubscribed && r.role != RankRole::kFront && r.threads <= static_cast<int>(r.cores.size());
  };
  for (int begin = 0; begin < layout.size();) {
    const RankPlan& first = layout.ranks[begin];
    int end = begin + 1;
    while (end < layout.size() && layout.ranks[end].threads == first.threads &&
           pinned(layout.ranks[end]) == pinned(first)) {
      ++end;
    }
    if (begin > 0) argv.push_back(":");
    argv.insert(argv.end(), {"-np", std::to_string(end - begin), "-x", shard_ranks, "-x",
                             "OMP_NUM_THREADS=" + std::to_string(first.threads)});
    if (pinned(first)) argv.insert(argv.end(), {"-x", "OMP_PROC_BIND=close", "-x", "OMP_PLACES=cores"});
    // Ranks share cores: OpenMP threads that spin long at barriers would take
    // them from the rank whose turn it is (the GNU default spins ~3 ms), and
    // ones that never spin slow the MLPs (kSharedCoreSpinCount). The user's
    // own setting wins.
    if (layout.oversubscribed && options.user_openmp_wait.empty()) {
      argv.insert(argv.end(), {"-x", "GOMP_SPINCOUNT=" + std::to_string(kSharedCoreSpinCount)});
    }
    for (const std::string& name : options.user_openmp_wait) argv.insert(argv.end(), {"-x", name});
    argv.push_back(options.program.string());
    argv.insert(argv.end(), options.program_args.begin(), options.program_args.end());
    begin = end;
  }
  return argv;
}

std::vector<std::pair<std::string, std::string>> mpirun_environment(bool as_root) {
  if (!as_root) return {};
  return {{"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}};
}

namespace {

std::string shell_word(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word) {
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./:=,@%+-", c) != nullptr);
  }
  if (plain) return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// After `key` in `line`: the whitespace-delimited word, or "".
std::string word_after(const std::string& line, const std::string& key) {
  auto at = line.find(key);
  if (at == std::string::npos) return "";
  std::istringstream in(line.substr(at + key.size()));
  std::string word;
  in >> word;
  return word;
}

// Whether `line` holds `host` as a whole word ("10.231.0.1" is not in "10.231.0.11").
bool names_host(const std::string& line, const std::string& host) {
  auto is_name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'; };
  for (size_t at = line.find(host); at != std::string::npos; at = line.find(host, at + 1)) {
    size_t end = at + host.size();
    bool before = at == 0 || !is_name_char(line[at - 1]);
    // A trailing '.' ends a sentence, not a name.
    bool after = end == line.size() || !is_name_char(line[end]) ||
                 (line[end] == '.' && (end + 1 == line.size() || !is_name_char(line[end + 1])));
    if (before && after) return true;
  }
  return false;
}

int to_int(const std::string& text) {
  char* end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  return end != text.c_str() ? static_cast<int>(value) : -1;
}

}  // namespace

std::string shell_command(const std::vector<std::pair<std::string, std::string>>& env,
                          const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& [key, value] : env) out += key + "=" + shell_word(value) + " ";
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i > 0) out += ' ';
    out += shell_word(argv[i]);
  }
  return out;
}

std::string MpirunFailures::describe_rank(int rank) const {
  if (rank < 0 || rank >= layout_.size()) return fmt::format("rank {}", rank);
  const RankPlan& r = layout_.ranks[rank];
  std::string role = r.role == RankRole::kFront   ? std::string("the front")
                     : r.role == RankRole::kShard ? fmt::format("shard {}", r.shard)
                                                  : fmt::format("dense rank {}", r.dense);
  return fmt::format("rank {} ({} on host {}, NUMA node {}, cores {})", rank, role,
                     layout_.hostfile.hosts[r.host].name, r.numa, cores_text(r.cores));
}

void MpirunFailures::add(std::string message) {
  for (const auto& seen : found_) {
    if (seen == message) return;
  }
  found_.push_back(std::move(message));
}

void MpirunFailures::feed(const std::string& line) {
  if (!daemon_failed_) {
    for (int h = 0; h < static_cast<int>(layout_.hostfile.hosts.size()); ++h) {
      if (names_host(line, layout_.hostfile.hosts[h].name) &&
          std::find(named_hosts_.begin(), named_hosts_.end(), h) == named_hosts_.end()) {
        named_hosts_.push_back(h);
      }
    }
  }
  if (line.find("mpirun noticed that process rank") != std::string::npos) {
    int rank = to_int(word_after(line, "process rank"));
    std::string node = word_after(line, " on node ");
    std::string what;
    if (auto at = line.find(" exited "); at != std::string::npos) what = line.substr(at + 1);
    while (!what.empty() && (what.back() == '.' || what.back() == ' ')) what.pop_back();
    add(fmt::format("{} {} (mpirun: node {})", describe_rank(rank), what.empty() ? "failed" : what, node));
  } else if (line.find("MPI_ABORT was invoked on rank") != std::string::npos) {
    int rank = to_int(word_after(line, "invoked on rank"));
    add(fmt::format("{} called MPI_Abort after a fatal error (its message is above)", describe_rank(rank)));
  } else if (line.find("Process name:") != std::string::npos) {
    std::string name = word_after(line, "Process name:");  // [[J,1],N]
    auto comma = name.rfind(',');
    pending_rank_ = comma == std::string::npos ? -1 : to_int(name.substr(comma + 1));
  } else if (pending_rank_ >= 0 && line.find("Exit code:") != std::string::npos) {
    add(fmt::format("{} exited with code {}", describe_rank(pending_rank_), word_after(line, "Exit code:")));
    pending_rank_ = -1;
  } else if (line.find("ORTE was unable to reliably start one or more daemons") != std::string::npos ||
             line.find("An ORTE daemon has unexpectedly failed after launch") != std::string::npos) {
    daemon_failed_ = true;
    std::string hosts;
    auto per_host = layout_.ranks_per_host();
    for (size_t h = 0; h < per_host.size(); ++h) {
      bool named = std::find(named_hosts_.begin(), named_hosts_.end(), static_cast<int>(h)) != named_hosts_.end();
      if (per_host[h] == 0 || (!named_hosts_.empty() && !named)) continue;
      if (!hosts.empty()) hosts += ", ";
      hosts += layout_.hostfile.hosts[h].name;
    }
    add(fmt::format("mpirun could not start its daemon (orted) on {} {}: check that {} reachable through the rsh "
                    "agent (ssh, or --mca plm_rsh_agent) without a password, that Open MPI is installed at the same "
                    "path there, and the agent's own message above",
                    named_hosts_.empty() ? "one or more of the hosts" : (named_hosts_.size() == 1 ? "host" : "hosts"),
                    hosts, named_hosts_.size() == 1 ? "it is" : "each is"));
  } else if (line.find("Remote daemon:") != std::string::npos) {
    std::string node = word_after(line, " on node ");
    add(fmt::format("mpirun lost its daemon on host {} (the host or its network went down, or the daemon was "
                    "killed)",
                    node.empty() ? "?" : node));
  }
}

namespace {

std::atomic<pid_t> g_child{0};
std::atomic<int> g_pending_signal{0};
std::atomic<int> g_forwarded_signal{0};
std::atomic<int> g_stop_as{0};  // run_mpirun's stop_as, until the first stop has gone
std::atomic<int64_t> g_stop_as_ns{0};  // when the first stop went as stop_as (CLOCK_MONOTONIC), or 0
// A stop within this long of the one sent as stop_as is the same stop
// delivered twice (timeout signals its child, then its process group).
constexpr int64_t kRepeatedStopNs = 500'000'000;

int64_t monotonic_ns() {  // async-signal-safe
  timespec t = {};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// The signal mpirun gets for `sig`, or 0 for none: the first SIGINT/SIGTERM
// as stop_as when set, and none for another within kRepeatedStopNs of it.
int translated(int sig) {
  if (sig != SIGINT && sig != SIGTERM) return sig;
  if (const int as = g_stop_as.exchange(0); as != 0) {
    g_stop_as_ns.store(monotonic_ns());
    return as;
  }
  const int64_t first = g_stop_as_ns.load();
  return first != 0 && monotonic_ns() - first < kRepeatedStopNs ? 0 : sig;
}

extern "C" void forward_signal(int sig) {
  pid_t child = g_child.load();
  if (child > 0) {
    sig = translated(sig);
    if (sig == 0) return;
    kill(child, sig);
    g_forwarded_signal.store(sig);
  } else {
    g_pending_signal.store(sig);
  }
}

// Runs a function when the scope ends, however it ends (a throw included).
template <class F>
class OnExit {
 public:
  explicit OnExit(F f) : f_(std::move(f)) {}
  ~OnExit() { f_(); }
  OnExit(const OnExit&) = delete;
  OnExit& operator=(const OnExit&) = delete;

 private:
  F f_;
};

void write_all(int fd, const char* src, size_t bytes) {
  while (bytes > 0) {
    ssize_t n = ::write(fd, src, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    src += n;
    bytes -= static_cast<size_t>(n);
  }
}

// This process's environment with `env` added (replacing variables of the
// same name), as KEY=VALUE strings.
std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string key = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [k, v] : env) replaced = replaced || k == key;
    if (!replaced) env_strings.push_back(std::move(entry));
  }
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
  return env_strings;
}

// In the forked child: its own process group (a terminal's Ctrl-C reaches
// mpirun once, through the parent), killed with the parent, default signal
// handlers, stdin from /dev/null, stderr into the pipe; then exec. Allocates
// nothing; exits 127 with a message when the exec fails.
[[noreturn]] void exec_child(char* const* args, char* const* envp, int stderr_fd, pid_t parent) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(128 + SIGTERM);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  dup2(stderr_fd, STDERR_FILENO);
  execvpe(args[0], args, envp);
  const char* prefix = "dlrm-launch: cannot run ";
  const char* hint = "; pass --mpirun PATH or install openmpi-bin\n";
  write_all(STDERR_FILENO, prefix, std::strlen(prefix));
  write_all(STDERR_FILENO, args[0], std::strlen(args[0]));
  write_all(STDERR_FILENO, hint, std::strlen(hint));
  _exit(127);
}

// Relays the child's stderr from `fd` to ours, feeding complete lines to
// `failures`, until the pipe closes or the child has exited and the pipe is
// drained; returns the child's wait status.
int relay_until_exit(int fd, pid_t child, MpirunFailures& failures) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string partial;
  auto relay = [&](const char* src, size_t bytes) {
    write_all(STDERR_FILENO, src, bytes);
    partial.append(src, bytes);
    for (size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
      failures.feed(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
  };
  int status = 0;
  bool exited = false, eof = false;
  char buffer[8192];
  while (!eof) {
    pollfd pfd = {fd, POLLIN, 0};
    int ready = poll(&pfd, 1, exited ? 0 : 200);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n > 0) {
        relay(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) eof = true;
      if (n < 0 && errno != EAGAIN && errno != EINTR) eof = true;
    }
    if (exited) break;  // drained what was there; a stray holder of the pipe does not keep us
    if (!exited && waitpid(child, &status, WNOHANG) == child) exited = true;
  }
  if (!exited) {
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (!partial.empty()) failures.feed(partial);
  return status;
}

}  // namespace

MpirunResult run_mpirun(const std::vector<std::string>& argv,
                        const std::vector<std::pair<std::string, std::string>>& env, MpirunFailures& failures,
                        int stop_as) {
  DLRM_ASSERT(!argv.empty());
  g_stop_as.store(stop_as);
  g_stop_as_ns.store(0);
  int pipe_fds[2];
  DLRM_CHECK(pipe2(pipe_fds, O_CLOEXEC) == 0, "cannot create a pipe for mpirun's output: {}", std::strerror(errno));

  struct sigaction action = {};
  action.sa_handler = forward_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int, old_term, old_hup;
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  sigaction(SIGHUP, &action, &old_hup);
  // Every way out, a failed fork's throw included, closes what is left of the
  // pipe and puts the caller's handlers back.
  OnExit undo([&] {
    for (int fd : pipe_fds) {
      if (fd >= 0) close(fd);
    }
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
  });

  // Everything the child needs is built before fork (no allocation after it).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings = child_environment(env);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  pid_t parent = getpid();
  pid_t child = fork();
  const int fork_errno = errno;
  if (child == 0) exec_child(args.data(), envp.data(), pipe_fds[1], parent);
  close(pipe_fds[1]);
  pipe_fds[1] = -1;
  DLRM_CHECK(child > 0, "cannot start mpirun: fork failed: {}", std::strerror(fork_errno));
  g_forwarded_signal.store(0);
  g_child.store(child);
  if (int sig = translated(g_pending_signal.exchange(0)); sig != 0) {
    kill(child, sig);
    g_forwarded_signal.store(sig);
  }

  const int status = relay_until_exit(pipe_fds[0], child, failures);
  g_child.store(0);
  MpirunResult result;
  result.forwarded_signal = g_forwarded_signal.exchange(0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
  return result;
}

}  // namespace dlrm::launcher
