// The mpirun command, shell quoting, reading Open MPI's failure reports, and
// running a (stand-in) mpirun: exit codes and signal forwarding.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/launcher/mpirun.h"
#include "layout_checks.h"

namespace dlrm::launcher {
namespace {

Layout two_host_layout() {
  Hostfile hf = parse_hostfile("10.231.0.11 slots=2\n10.231.0.12 slots=2\n", "netns.hostfile");
  std::vector<HostTopology> topo(2, parse_topology_spec("numa=1 cores_per_numa=2 mem_per_numa=4G", "t"));
  return choose_layout(hf, topo, model({1 << 20, 1 << 20}, 1 << 20), {});
}

CommandOptions command_options() {
  CommandOptions o;
  o.hostfile = "/run/hostfile";
  o.rankfile = "/run/rankfile";
  o.program = "/bin/dlrm-cluster";
  o.program_args = {"--model", "/m", "--data", "/d.bin"};
  return o;
}

int index_of(const std::vector<std::string>& argv, const std::string& word, int from = 0) {
  for (int i = from; i < static_cast<int>(argv.size()); ++i) {
    if (argv[i] == word) return i;
  }
  return -1;
}

TEST(Mpirun, CommandHasRankfileTransportAndOneContextPerThreadCount) {
  Layout layout = two_host_layout();  // shards 0, 1 on hosts .11, .12 (core 0), dense ranks on core 1
  CommandOptions o = command_options();
  o.tcp_if = "10.231.0.0/24";
  o.mpirun_args = split_words("--mca plm_rsh_agent /x/agent  --mca routed direct");
  auto argv = mpirun_command(layout, o);
  std::string line = shell_command({}, argv);
  EXPECT_EQ(line,
            "mpirun --hostfile /run/hostfile --rankfile /run/rankfile --mca btl self,vader,tcp "
            "--mca btl_tcp_if_include 10.231.0.0/24 --mca oob_tcp_if_include 10.231.0.0/24 "
            "--mca plm_rsh_agent /x/agent --mca routed direct "
            "-np 4 -x DLRM_SHARD_RANKS=0,1 -x OMP_NUM_THREADS=1 -x OMP_PROC_BIND=close -x OMP_PLACES=cores "
            "/bin/dlrm-cluster --model /m --data /d.bin");
}

TEST(Mpirun, ContextsSplitWhereThreadsChange) {
  Hostfile hf = parse_hostfile("node01 slots=32\n", "h");
  std::vector<HostTopology> topo{parse_topology_spec("numa=2 cores_per_numa=16 mem_per_numa=192G", "t")};
  Layout layout = choose_layout(hf, topo, model({1 << 30, 1 << 30, 1 << 30, 1 << 30}, 1 << 20), {});
  auto argv = mpirun_command(layout, command_options());
  // shard ranks 0-3 (1 thread), dense ranks 4-5 (14 threads): two contexts.
  int contexts = 1;
  for (const auto& a : argv) contexts += a == ":" ? 1 : 0;
  EXPECT_EQ(contexts, 2);
  int first = index_of(argv, "-np");
  EXPECT_EQ(argv[first + 1], "4");
  int dense = index_of(argv, "OMP_NUM_THREADS=14");
  ASSERT_GT(dense, 0);
  EXPECT_EQ(argv[dense - 4], "2") << "-np 2 for the dense ranks";
  EXPECT_EQ(index_of(argv, "DLRM_SHARD_RANKS=0,1,2,3"), first + 3) << "every context gets the shard placement";
  EXPECT_EQ(index_of(argv, "DLRM_SHARD_RANKS=0,1,2,3", first + 4), dense - 2);
  EXPECT_EQ(index_of(argv, "btl") + 1, index_of(argv, "self,vader")) << "one host: shared memory only";
}

// Two shards and a dense rank on one host of `cores` cores (2: ranks share them).
Layout two_shards_layout(int cores = 2) {
  Hostfile hf = parse_hostfile("localhost slots=4\n", "h");
  std::vector<HostTopology> topo{
      parse_topology_spec(fmt::format("numa=1 cores_per_numa={} mem_per_numa=4G", cores), "t")};
  return choose_layout(hf, topo, model({1 << 20, 1 << 20}, 1 << 20), {});
}

TEST(Mpirun, OversubscribedLayoutYieldsAndDoesNotPin) {
  Layout layout = two_shards_layout();
  ASSERT_TRUE(layout.oversubscribed);
  auto argv = mpirun_command(layout, command_options());
  EXPECT_GE(index_of(argv, "mpi_yield_when_idle"), 0);
  EXPECT_LT(index_of(argv, "OMP_PROC_BIND=close"), 0);
  EXPECT_GE(index_of(argv, "GOMP_SPINCOUNT=30000"), 0) << "OpenMP threads must not spin long on shared cores";
  EXPECT_LT(index_of(argv, "OMP_WAIT_POLICY=passive"), 0) << "nor never: that slows the MLPs";
}

// The user's OpenMP wait variables go to every rank instead of the launcher's
// spin count; a layout with cores to itself sets neither.
TEST(Mpirun, TheUsersOpenMpWaitReplacesTheLaunchers) {
  Layout layout = two_shards_layout();
  ASSERT_TRUE(layout.oversubscribed);
  CommandOptions o = command_options();
  o.user_openmp_wait = {"OMP_WAIT_POLICY"};
  auto argv = mpirun_command(layout, o);
  EXPECT_LT(index_of(argv, "GOMP_SPINCOUNT=30000"), 0);
  const int contexts = static_cast<int>(std::count(argv.begin(), argv.end(), ":")) + 1;
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "OMP_WAIT_POLICY"), contexts) << "forwarded in every app context";
  EXPECT_EQ(argv[index_of(argv, "OMP_WAIT_POLICY") - 1], "-x");

  Layout roomy = two_shards_layout(8);
  ASSERT_FALSE(roomy.oversubscribed);
  argv = mpirun_command(roomy, command_options());
  EXPECT_LT(index_of(argv, "GOMP_SPINCOUNT=30000"), 0);
  EXPECT_LT(index_of(argv, "OMP_WAIT_POLICY"), 0);
}

TEST(Mpirun, TheUsersMcaSettingReplacesTheLaunchers) {
  Layout layout = two_shards_layout();
  ASSERT_TRUE(layout.oversubscribed);
  CommandOptions o = command_options();
  o.tcp_if = "10.231.0.0/24";
  o.mpirun_args = {"--mca", "btl", "self,tcp", "-mca", "mpi_yield_when_idle", "0", "--bind-to", "none"};
  auto argv = mpirun_command(layout, o);
  auto count = [&](const std::string& word) { return std::count(argv.begin(), argv.end(), word); };
  // Each parameter once, with the user's value; the launcher's others stay.
  EXPECT_EQ(count("btl"), 1);
  EXPECT_EQ(argv[index_of(argv, "btl") + 1], "self,tcp");
  EXPECT_EQ(count("self,vader"), 0);
  EXPECT_EQ(count("mpi_yield_when_idle"), 1);
  EXPECT_EQ(argv[index_of(argv, "mpi_yield_when_idle") + 1], "0");
  EXPECT_EQ(count("btl_tcp_if_include"), 1);
  EXPECT_EQ(count("--bind-to"), 1);
  EXPECT_EQ(mca_keys({"--mca", "btl", "self", "-mca", "routed", "direct", "--mca"}),
            (std::set<std::string>{"btl", "routed"}));
}

TEST(Mpirun, ScenarioArgumentsAskForAFront) {
  using Args = std::vector<std::string>;
  EXPECT_FALSE(scenario_run(Args{}));
  EXPECT_FALSE(scenario_run(Args{"--data", "/d.bin", "--batch", "128"}));
  EXPECT_TRUE(scenario_run(Args{"--data", "/d.bin", "--scenario", "server"}));
  EXPECT_TRUE(scenario_run(Args{"--scenario=offline", "--data", "/d.bin"}));
  EXPECT_FALSE(scenario_run(Args{"--scenarios", "--summary", "scenario", "--scenario-x=1"}));
}

// A scenario run on the namespace hosts: the front on host .11 in an app
// context of its own (not pinned); shard 0 goes to .12, whose memory is the
// freer by the front's 64 MiB.
TEST(Mpirun, FrontHasItsOwnUnpinnedContext) {
  Hostfile hf = parse_hostfile("10.231.0.11 slots=2\n10.231.0.12 slots=2\n", "netns.hostfile");
  std::vector<HostTopology> topo(2, parse_topology_spec("numa=1 cores_per_numa=2 mem_per_numa=4G", "t"));
  LayoutOptions options;
  options.front = true;
  Layout layout = choose_layout(hf, topo, model({1 << 20, 1 << 20}, 1 << 20), options);
  ASSERT_FALSE(layout.oversubscribed);
  CommandOptions o = command_options();
  o.program_args.insert(o.program_args.end(), {"--scenario", "server"});
  EXPECT_EQ(shell_command({}, mpirun_command(layout, o)),
            "mpirun --hostfile /run/hostfile --rankfile /run/rankfile --mca btl self,vader,tcp "
            "-np 1 -x DLRM_SHARD_RANKS=1,2 -x OMP_NUM_THREADS=1 "
            "/bin/dlrm-cluster --model /m --data /d.bin --scenario server "
            ": -np 4 -x DLRM_SHARD_RANKS=1,2 -x OMP_NUM_THREADS=1 -x OMP_PROC_BIND=close -x OMP_PLACES=cores "
            "/bin/dlrm-cluster --model /m --data /d.bin --scenario server");
  EXPECT_EQ(rankfile_text(layout),
            "# Open MPI rankfile written by dlrm-launch: logical core indices per host\n"
            "rank 0=10.231.0.11 slot=0-1\n"
            "rank 1=10.231.0.12 slot=0\n"
            "rank 2=10.231.0.11 slot=0\n"
            "rank 3=10.231.0.11 slot=1\n"
            "rank 4=10.231.0.12 slot=1\n");
  MpirunFailures failures(layout);
  failures.feed(
      "mpirun noticed that process rank 0 with PID 77 on node 10.231.0.11 exited on signal 11 (Segmentation fault).");
  failures.feed("mpirun noticed that process rank 2 with PID 78 on node 10.231.0.11 exited on signal 9 (Killed).");
  ASSERT_EQ(failures.found().size(), 2u);
  EXPECT_EQ(failures.found()[0],
            "rank 0 (the front on host 10.231.0.11, NUMA node 0, cores 0-1) exited on signal 11 (Segmentation fault) "
            "(mpirun: node 10.231.0.11)");
  EXPECT_EQ(failures.found()[1].rfind("rank 2 (shard 1 on host 10.231.0.11,", 0), 0u) << failures.found()[1];
}

TEST(Mpirun, Transports) {
  EXPECT_EQ(btl_list(parse_transport("auto"), 1), "self,vader");
  EXPECT_EQ(btl_list(parse_transport("auto"), 3), "self,vader,tcp");
  EXPECT_EQ(btl_list(parse_transport("tcp"), 1), "self,tcp");
  EXPECT_EQ(btl_list(parse_transport("shm-tcp"), 2), "self,vader,tcp");
  EXPECT_ERROR_WITH(parse_transport("ib"), "auto, tcp or shm-tcp");
}

TEST(Mpirun, RootEnvironment) {
  EXPECT_TRUE(mpirun_environment(false).empty());
  auto env = mpirun_environment(true);
  ASSERT_EQ(env.size(), 2u);
  EXPECT_EQ(env[0].first, "OMPI_ALLOW_RUN_AS_ROOT");
  EXPECT_EQ(env[1].first, "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM");
}

TEST(Mpirun, ShellQuoting) {
  EXPECT_EQ(shell_command({{"A", "1"}}, {"mpirun", "a b", "it's", "", "x=y,z:1/2"}),
            "A=1 mpirun 'a b' 'it'\\''s' '' x=y,z:1/2");
  EXPECT_EQ(split_words("  --mca  btl \t self,tcp "), (std::vector<std::string>{"--mca", "btl", "self,tcp"}));
}

TEST(Mpirun, FailureKilledRankNamesRoleAndHost) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  failures.feed("--------------------------------------------------------------------------");
  failures.feed("mpirun noticed that process rank 1 with PID 4242 on node 10.231.0.12 exited on signal 9 (Killed).");
  ASSERT_EQ(failures.found().size(), 1u);
  EXPECT_EQ(failures.found()[0],
            "rank 1 (shard 1 on host 10.231.0.12, NUMA node 0, cores 0) exited on signal 9 (Killed) "
            "(mpirun: node 10.231.0.12)");
}

TEST(Mpirun, FailureNonZeroExitAndAbort) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  failures.feed("  Process name: [[10821,1],3]");
  failures.feed("  Exit code:    3");
  failures.feed("MPI_ABORT was invoked on rank 2 in communicator MPI_COMM_WORLD");
  failures.feed("MPI_ABORT was invoked on rank 2 in communicator MPI_COMM_WORLD");  // reported once
  ASSERT_EQ(failures.found().size(), 2u);
  EXPECT_EQ(failures.found()[0], "rank 3 (dense rank 1 on host 10.231.0.12, NUMA node 0, cores 1) exited with code 3");
  EXPECT_NE(failures.found()[1].find("rank 2 (dense rank 0 on host 10.231.0.11, NUMA node 0, cores 1) called MPI_Abort"),
            std::string::npos)
      << failures.found()[1];
}

TEST(Mpirun, FailureDaemonsNamesTheHostTheAgentNamed) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  failures.feed("ssh: Could not resolve hostname 10.231.0.12: Name or service not known");
  failures.feed("ORTE was unable to reliably start one or more daemons.");
  failures.feed("  target node:  10.231.0.11");
  ASSERT_EQ(failures.found().size(), 1u);
  EXPECT_NE(failures.found()[0].find("on host 10.231.0.12:"), std::string::npos) << failures.found()[0];
  EXPECT_EQ(failures.found()[0].find("10.231.0.11"), std::string::npos) << failures.found()[0];
}

TEST(Mpirun, FailureDaemonsWithoutAgentMessageListsAllHosts) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  failures.feed("10.231.0.1 is not a host of this job");  // a prefix of a host name does not count
  failures.feed("ORTE was unable to reliably start one or more daemons.");
  ASSERT_EQ(failures.found().size(), 1u);
  EXPECT_NE(failures.found()[0].find("one or more of the hosts 10.231.0.11, 10.231.0.12"), std::string::npos)
      << failures.found()[0];
}

TEST(Mpirun, FailureLostDaemon) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  failures.feed("  Remote daemon: [[5,0],2] on node 10.231.0.12");
  ASSERT_EQ(failures.found().size(), 1u);
  EXPECT_NE(failures.found()[0].find("lost its daemon on host 10.231.0.12"), std::string::npos);
}

TEST(Mpirun, RunReturnsExitCodeAndReadsStderr) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  MpirunResult result = run_mpirun({"/bin/sh", "-c",
                                    "echo 'mpirun noticed that process rank 0 with PID 1 on node 10.231.0.11 exited "
                                    "on signal 9 (Killed).' >&2; exit 137"},
                                   {}, failures);
  EXPECT_EQ(result.exit_code, 137);
  EXPECT_EQ(result.forwarded_signal, 0);
  ASSERT_EQ(failures.found().size(), 1u);
  EXPECT_NE(failures.found()[0].find("rank 0 (shard 0 on host 10.231.0.11"), std::string::npos);
}

TEST(Mpirun, RunPassesEnvironmentAndStdinIsEmpty) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  EXPECT_EQ(run_mpirun({"/bin/sh", "-c", "test \"$DLRM_TEST_VALUE\" = 7 && ! read line"}, {{"DLRM_TEST_VALUE", "7"}},
                       failures)
                .exit_code,
            0);
}

TEST(Mpirun, RunMissingProgram) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  EXPECT_EQ(run_mpirun({"/nonexistent/mpirun"}, {}, failures).exit_code, 127);
}

TEST(Mpirun, RunForwardsSigtermOnce) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  // The stand-in counts TERMs and exits 40 + count once the first arrives.
  std::thread sender([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    kill(getpid(), SIGTERM);
  });
  auto start = std::chrono::steady_clock::now();
  MpirunResult result =
      run_mpirun({"/bin/sh", "-c", "n=0; trap 'n=$((n+1))' TERM; while [ $n -eq 0 ]; do sleep 0.05; done; "
                                   "sleep 0.2; exit $((40 + n))"},
                 {}, failures);
  sender.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(result.exit_code, 41) << "exactly one TERM reached the child";
  EXPECT_EQ(result.forwarded_signal, SIGTERM);
  EXPECT_LT(seconds, 5.0);
}

// stop_as (dlrm-serve): the first TERM reaches the child as USR2. A second
// TERM 20 ms later is the same stop delivered twice (as GNU timeout delivers
// it: to its child, then to its process group) and is dropped; one 800 ms
// later is a second stop and reaches the child as TERM. The stand-in counts
// USR2s (u) and TERMs (t) and, 2 s after the first USR2, exits 40 + u + 10 t.
int stop_as_exit_code(int gap_ms) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  std::thread sender([gap_ms] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    kill(getpid(), SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
    kill(getpid(), SIGTERM);
  });
  MpirunResult result = run_mpirun({"/bin/sh", "-c",
                                    "u=0; t=0; trap 'u=$((u+1))' USR2; trap 't=$((t+1))' TERM; "
                                    "while [ $u -eq 0 ]; do sleep 0.05; done; sleep 2; exit $((40 + u + 10 * t))"},
                                   {}, failures, SIGUSR2);
  sender.join();
  return result.exit_code;
}

TEST(Mpirun, RunStopAsDropsATwiceDeliveredStop) { EXPECT_EQ(stop_as_exit_code(20), 41) << "one USR2, no TERM"; }

TEST(Mpirun, RunStopAsPassesALaterStopAsItIs) { EXPECT_EQ(stop_as_exit_code(800), 51) << "one USR2, then one TERM"; }

// mpirun runs in its own process group (a terminal's Ctrl-C reaches it once,
// forwarded by us): the stand-in's process group id (field 5 of
// /proc/PID/stat) is its own PID.
TEST(Mpirun, RunStartsMpirunInItsOwnProcessGroup) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  EXPECT_EQ(run_mpirun({"/bin/sh", "-c",
                        "read -r pid comm state ppid pgrp rest < /proc/$$/stat; [ \"$pgrp\" = \"$$\" ] || "
                        "{ echo \"process group $pgrp, pid $$\" >&2; exit 1; }"},
                       {}, failures)
                .exit_code,
            0);
}

// After a run the caller's signal handlers are back and no pipe end is left open.
TEST(Mpirun, RunRestoresHandlersAndClosesThePipe) {
  Layout layout = two_host_layout();
  MpirunFailures failures(layout);
  auto open_fds = [] {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  struct sigaction mine = {}, before_int, before_hup;
  mine.sa_handler = SIG_IGN;
  sigemptyset(&mine.sa_mask);
  sigaction(SIGHUP, &mine, &before_hup);
  sigaction(SIGINT, nullptr, &before_int);
  const int fds = open_fds();
  EXPECT_EQ(run_mpirun({"/bin/sh", "-c", "exit 3"}, {}, failures).exit_code, 3);
  EXPECT_EQ(open_fds(), fds);
  struct sigaction after = {};
  sigaction(SIGHUP, nullptr, &after);
  EXPECT_EQ(after.sa_handler, SIG_IGN);
  sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before_int.sa_handler);
  sigaction(SIGHUP, &before_hup, nullptr);
}

}  // namespace
}  // namespace dlrm::launcher
