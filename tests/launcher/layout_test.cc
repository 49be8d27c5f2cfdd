// Layout choice: shards on NUMA nodes that hold them, dense ranks on the
// cores left, slots respected, clear errors when the model cannot run.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "layout_checks.h"
#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/launcher/layout.h"

namespace dlrm::launcher {
namespace {

LayoutOptions with_front() {
  LayoutOptions options;
  options.front = true;
  return options;
}

TEST(Layout, TwoSocketsOneHostTerabyte) {
  Cluster c = cluster({{"node01 slots=32", "numa=2 cores_per_numa=16 mem_per_numa=192G"}});
  // terabyte-40m in fp32 over 4 shards: about 24 GB each.
  ModelNeeds needs = model({24034227072, 24034227072, 24034227072, 24034227072});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  ASSERT_EQ(layout.size(), 6);
  // Shard s is rank s; shards 0 and 2 on NUMA node 0 (cores 0, 1), 1 and 3 on
  // node 1 (cores 16, 17); a dense rank on each node's other 14 cores.
  EXPECT_EQ(layout.shard_ranks_env(), "0,1,2,3");
  const auto& r = layout.ranks;
  EXPECT_EQ(r[0].role, RankRole::kShard);
  EXPECT_EQ(r[0].cores, std::vector<int>{0});
  EXPECT_EQ(r[1].numa, 1);
  EXPECT_EQ(r[1].cores, std::vector<int>{16});
  EXPECT_EQ(r[2].cores, std::vector<int>{1});
  EXPECT_EQ(r[3].cores, std::vector<int>{17});
  EXPECT_EQ(r[4].role, RankRole::kDense);
  EXPECT_EQ(r[4].numa, 0);
  EXPECT_EQ(cores_text(r[4].cores), "2-15");
  EXPECT_EQ(r[4].threads, 14);
  EXPECT_EQ(cores_text(r[5].cores), "18-31");
  EXPECT_EQ(r[5].threads, 14);
  EXPECT_FALSE(layout.oversubscribed);
  EXPECT_TRUE(layout.notes.empty());
  EXPECT_EQ(rankfile_text(layout),
            "# Open MPI rankfile written by dlrm-launch: logical core indices per host\n"
            "rank 0=node01 slot=0\n"
            "rank 1=node01 slot=16\n"
            "rank 2=node01 slot=1\n"
            "rank 3=node01 slot=17\n"
            "rank 4=node01 slot=2-15\n"
            "rank 5=node01 slot=18-31\n");
  // The table lists NUMA node 0's ranks, then node 1's.
  std::string table = layout_table(layout);
  const size_t node0_row = table.find("node01 0       2 shard 2"), node1_row = table.find("node01 1       1 shard 1");
  ASSERT_NE(node0_row, std::string::npos) << table;
  ASSERT_NE(node1_row, std::string::npos) << table;
  EXPECT_LT(node0_row, node1_row) << table;
}

TEST(Layout, UnevenHostsKeepShardsWhereTheyFit) {
  Cluster c = cluster({{"big slots=16", "numa=2 cores_per_numa=8 mem_per_numa=64G"},
                       {"small slots=4", "numa=1 cores_per_numa=4 mem_per_numa=16G"}});
  ModelNeeds needs = model({20 * kGiB, 20 * kGiB, 20 * kGiB});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  for (int s = 0; s < 3; ++s) EXPECT_EQ(layout.ranks[layout.shard_rank[s]].host, 0) << "20 GiB fits only on big";
  // A dense rank on every NUMA node, the small host's one with all 4 cores.
  EXPECT_EQ(layout.dense_ranks(), 3);
  const RankPlan& last = layout.ranks.back();
  EXPECT_EQ(last.host, 1);
  EXPECT_EQ(last.role, RankRole::kDense);
  EXPECT_EQ(last.threads, 4);
}

TEST(Layout, UnevenHostsSpreadShardsThatFitEverywhere) {
  Cluster c = cluster({{"a slots=8", "numa=1 cores_per_numa=8 mem_per_numa=64G"},
                       {"b slots=8", "numa=1 cores_per_numa=8 mem_per_numa=32G"}});
  ModelNeeds needs = model({10 * kGiB, 10 * kGiB, 10 * kGiB, 10 * kGiB});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  EXPECT_EQ(layout.ranks_per_host(), (std::vector<int>{3, 3})) << "two shards + one dense rank per host";
}

TEST(Layout, MoreShardsThanNumaNodes) {
  Cluster c = cluster({{"h slots=16", "numa=2 cores_per_numa=4 mem_per_numa=8G"}});
  ModelNeeds needs = model(std::vector<uint64_t>(6, 100 << 20));
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  EXPECT_EQ(layout.size(), 8);
  EXPECT_EQ(rankfile_text(layout),
            "# Open MPI rankfile written by dlrm-launch: logical core indices per host\n"
            "rank 0=h slot=0\nrank 1=h slot=4\nrank 2=h slot=1\nrank 3=h slot=5\n"
            "rank 4=h slot=2\nrank 5=h slot=6\nrank 6=h slot=3\nrank 7=h slot=7\n");
  EXPECT_EQ(layout.ranks[6].role, RankRole::kDense);
  EXPECT_EQ(layout.ranks[7].role, RankRole::kDense);
  EXPECT_FALSE(layout.oversubscribed);
}

TEST(Layout, MoreShardsThanCoresOversubscribe) {
  Cluster c = cluster({{"h slots=8", "numa=1 cores_per_numa=2 mem_per_numa=8G"}});
  ModelNeeds needs = model(std::vector<uint64_t>(3, 1 << 20));
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  EXPECT_TRUE(layout.oversubscribed);
  EXPECT_EQ(layout.ranks[2].cores, std::vector<int>{0}) << "the third shard wraps to core 0";
  ASSERT_FALSE(layout.notes.empty());
  EXPECT_NE(layout.notes[0].find("3 shard ranks share its 2 cores"), std::string::npos) << layout.notes[0];
}

TEST(Layout, TwoCoreMachineSharesCoresAndSaysSo) {
  Cluster c = cluster({{"localhost slots=4", "numa=1 cores_per_numa=2 mem_per_numa=4G"}});
  ModelNeeds needs = model({1 << 20, 1 << 20});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  ASSERT_EQ(layout.size(), 3);
  EXPECT_EQ(cores_text(layout.ranks[2].cores), "0-1");
  EXPECT_EQ(layout.ranks[2].threads, 1);
  EXPECT_TRUE(layout.oversubscribed);
  std::string table = layout_table(layout);
  EXPECT_NE(table.find("oversubscribed"), std::string::npos) << table;
  EXPECT_NE(table.find("no core left for 1 dense rank"), std::string::npos) << table;
}

TEST(Layout, DensePerNodeAndThreadsPerDense) {
  Cluster c = cluster({{"h slots=16", "numa=1 cores_per_numa=16 mem_per_numa=64G"}});
  ModelNeeds needs = model({1 * kGiB, 1 * kGiB});
  LayoutOptions options;
  options.dense_per_node = 2;
  options.threads_per_dense = 4;
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, options);
  check_sane(layout, c, needs);
  ASSERT_EQ(layout.size(), 4);
  EXPECT_EQ(cores_text(layout.ranks[2].cores), "2-5");
  EXPECT_EQ(cores_text(layout.ranks[3].cores), "6-9");
  EXPECT_EQ(layout.ranks[3].threads, 4);
  ASSERT_EQ(layout.notes.size(), 1u);
  EXPECT_NE(layout.notes[0].find("6 cores stay idle"), std::string::npos) << layout.notes[0];
}

TEST(Layout, DensePerNodeSplitsFreeCores) {
  Cluster c = cluster({{"h slots=16", "numa=1 cores_per_numa=16 mem_per_numa=64G"}});
  ModelNeeds needs = model({1 * kGiB, 1 * kGiB});
  LayoutOptions options;
  options.dense_per_node = 3;
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, options);
  check_sane(layout, c, needs);
  EXPECT_EQ(cores_text(layout.ranks[2].cores), "2-6");
  EXPECT_EQ(cores_text(layout.ranks[3].cores), "7-11");
  EXPECT_EQ(cores_text(layout.ranks[4].cores), "12-15");
  EXPECT_EQ(layout.ranks[4].threads, 4);
  EXPECT_FALSE(layout.oversubscribed);
}

TEST(Layout, ThreadsPerDenseBeyondCoresOversubscribes) {
  Cluster c = cluster({{"h slots=4", "numa=1 cores_per_numa=4 mem_per_numa=8G"}});
  ModelNeeds needs = model({1 << 20});
  LayoutOptions options;
  options.threads_per_dense = 8;
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, options);
  check_sane(layout, c, needs);
  EXPECT_EQ(cores_text(layout.ranks[1].cores), "1-3");
  EXPECT_EQ(layout.ranks[1].threads, 8);
  EXPECT_TRUE(layout.oversubscribed);
}

TEST(Layout, SlotsLimitDenseRanks) {
  Cluster c = cluster({{"h slots=3", "numa=2 cores_per_numa=8 mem_per_numa=16G"}});
  ModelNeeds needs = model({1 * kGiB, 1 * kGiB});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  EXPECT_EQ(layout.size(), 3);
  EXPECT_EQ(layout.dense_ranks(), 1);
  ASSERT_EQ(layout.notes.size(), 1u);
  EXPECT_NE(layout.notes[0].find("room for 1 dense rank of the 2 wanted"), std::string::npos) << layout.notes[0];
}

TEST(Layout, TooFewSlots) {
  Cluster c = cluster({{"a slots=1", "numa=1 cores_per_numa=8 mem_per_numa=16G"},
                       {"b slots=1", "numa=1 cores_per_numa=8 mem_per_numa=16G"}});
  EXPECT_ERROR_WITH(choose_layout(c.hostfile, c.topologies, model({1 << 20, 1 << 20}), {}),
                    "too few slots in test.hostfile", "at least 3 ranks", "give 2 slots");
}

TEST(Layout, ModelTooBigNamesTheShortfall) {
  Cluster c = cluster({{"a slots=8", "numa=2 cores_per_numa=4 mem_per_numa=16G"}});
  // terabyte-40m (about 89.5 GiB) on 32 GiB: short by more than 60 GiB.
  ModelNeeds needs = model(std::vector<uint64_t>(4, 24034227072));
  EXPECT_ERROR_WITH(choose_layout(c.hostfile, c.topologies, needs, {}), "does not fit the memory of the hosts given",
                    "short by 61.2 GiB",  // 90.0 GiB needed - 28.8 GiB
                    "28.8 GiB (90% of 32.0 GiB)", "--mem-fraction");
}

TEST(Layout, ShardLargerThanAnyNumaNode) {
  // 40 GiB in total fits 2 x 28.8 GiB, but one 40 GiB shard fits no node.
  Cluster c = cluster({{"a slots=8", "numa=2 cores_per_numa=4 mem_per_numa=32G"}});
  EXPECT_ERROR_WITH(choose_layout(c.hostfile, c.topologies, model({40 * kGiB}), {}),
                    "shard 0 (40.0 GiB) does not fit any NUMA node", "--shards");
}

TEST(Layout, MemFractionAndOptionsChecked) {
  Cluster c = cluster({{"a slots=8", "numa=1 cores_per_numa=4 mem_per_numa=32G"}});
  LayoutOptions options;
  options.mem_fraction = 1.5;
  EXPECT_ERROR_WITH(choose_layout(c.hostfile, c.topologies, model({1}), options), "--mem-fraction");
  options = {};
  options.dense_per_node = -1;
  EXPECT_ERROR_WITH(choose_layout(c.hostfile, c.topologies, model({1}), options), "--dense-per-node");
}

TEST(Layout, NoMemoryLeftForDenseRank) {
  // The shard takes host a's only slot; host b has a slot but too little memory for a dense rank.
  Cluster c = cluster({{"a slots=1", "numa=1 cores_per_numa=2 mem_per_numa=4G"},
                       {"b slots=2", "numa=1 cores_per_numa=2 mem_per_numa=256M"}});
  EXPECT_ERROR_WITH(choose_layout(c.hostfile, c.topologies, model({800 << 20}), {}), "no room for a dense rank");
}

TEST(Layout, OneDensePerNodeUsesTheHostWithoutShards) {
  Cluster c = cluster({{"a slots=8", "numa=1 cores_per_numa=8 mem_per_numa=16G"},
                       {"b slots=8", "numa=1 cores_per_numa=8 mem_per_numa=16G"}});
  LayoutOptions options;
  options.dense_per_node = 1;
  Layout layout = choose_layout(c.hostfile, c.topologies, model({1 << 20}), options);
  EXPECT_EQ(layout.hosts_used(), 2);
  std::string table = layout_table(layout);
  EXPECT_NE(table.find("3 ranks on 2 hosts: 1 shard + 2 dense; DLRM_SHARD_RANKS=0"), std::string::npos) << table;
}

// The line of `text` that starts with `prefix` ("" if none).
std::string line_starting(const std::string& text, const std::string& prefix) {
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (text.compare(at, prefix.size(), prefix) == 0) return text.substr(at, end - at);
    at = end + 1;
  }
  return "";
}

TEST(Layout, HostWithoutRanksIsLeftOutOfTheHostfile) {
  // Host b's 57.6 MiB (90% of 64 MiB) hold neither a 1 MiB shard rank (65 MiB) nor a dense rank (266 MiB).
  Cluster c = cluster({{"a slots=4", "numa=1 cores_per_numa=4 mem_per_numa=16G"},
                       {"b slots=4", "numa=1 cores_per_numa=4 mem_per_numa=64M"}});
  ModelNeeds needs = model({1 << 20, 1 << 20});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  EXPECT_EQ(layout.ranks_per_host(), (std::vector<int>{3, 0}));
  EXPECT_EQ(layout.hosts_used(), 1);
  std::string table = layout_table(layout);
  std::string host_a = line_starting(table, "host a:"), host_b = line_starting(table, "host b:");
  ASSERT_FALSE(host_a.empty()) << table;
  ASSERT_FALSE(host_b.empty()) << table;
  EXPECT_EQ(host_a.find("no rank placed here"), std::string::npos) << table;
  EXPECT_NE(host_b.find("no rank placed here"), std::string::npos) << table;
  EXPECT_NE(table.find("3 ranks on 1 host: 2 shard + 1 dense"), std::string::npos) << table;

  std::string hosts = hostfile_text(layout.hostfile, layout.ranks_per_host());
  EXPECT_EQ(line_starting(hosts, "a "), "a slots=3") << hosts;
  EXPECT_EQ(line_starting(hosts, "b"), "") << hosts;
  EXPECT_EQ(parse_hostfile(hosts, "written").hosts.size(), 1u) << hosts;
}

// Scenario runs: the front is rank 0 on the first host's first NUMA node
// (all its cores, one thread, 64 MiB), the shards are ranks 1..4.
TEST(LayoutFront, TwoSocketsFrontIsRankZeroAndShardsShift) {
  Cluster c = cluster({{"node01 slots=32", "numa=2 cores_per_numa=16 mem_per_numa=192G"}});
  ModelNeeds needs = model({24034227072, 24034227072, 24034227072, 24034227072});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, with_front());
  check_sane(layout, c, needs);
  ASSERT_EQ(layout.size(), 7);
  EXPECT_TRUE(layout.front);
  EXPECT_EQ(layout.shard_ranks_env(), "1,2,3,4");
  EXPECT_EQ(layout.dense_ranks(), 2);
  EXPECT_EQ(layout.ranks[0].role, RankRole::kFront);
  EXPECT_EQ(layout.ranks[0].shard, -1);
  EXPECT_EQ(layout.ranks[0].dense, -1);
  EXPECT_EQ(layout.ranks[5].dense, 0);
  EXPECT_EQ(layout.ranks[6].dense, 1);
  // The front's 64 MiB make NUMA node 1 the emptier one, so shard 0 starts
  // there; each node still holds two shards and a 14-core dense rank.
  EXPECT_EQ(rankfile_text(layout),
            "# Open MPI rankfile written by dlrm-launch: logical core indices per host\n"
            "rank 0=node01 slot=0-15\n"
            "rank 1=node01 slot=16\n"
            "rank 2=node01 slot=0\n"
            "rank 3=node01 slot=17\n"
            "rank 4=node01 slot=1\n"
            "rank 5=node01 slot=2-15\n"
            "rank 6=node01 slot=18-31\n");
  EXPECT_FALSE(layout.oversubscribed) << "the front shares cores without oversubscribing";
  EXPECT_TRUE(layout.notes.empty());
  EXPECT_EQ(layout.node(0, 0).used_bytes, 2 * (24034227072 + kShardRankOverheadBytes) + (10 << 20) +
                                              kDenseRankOverheadBytes + kFrontRankOverheadBytes);
  const std::string table = layout_table(layout);
  EXPECT_NE(table.find("node01 0       0 front -     0-15        1           -"), std::string::npos) << table;
  EXPECT_LT(table.find(" front "), table.find(" shard 1 ")) << "the front's row first: " << table;
  EXPECT_NE(table.find("7 ranks on 1 host: 1 front + 4 shard + 2 dense; DLRM_SHARD_RANKS=1,2,3,4\n"),
            std::string::npos)
      << table;
  EXPECT_STREQ(to_string(RankRole::kFront), "front");
}

TEST(LayoutFront, WithoutScenarioNoFront) {
  Cluster c = cluster({{"localhost slots=4", "numa=1 cores_per_numa=2 mem_per_numa=4G"}});
  ModelNeeds needs = model({1 << 20, 1 << 20});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  EXPECT_FALSE(layout.front);
  for (const auto& r : layout.ranks) EXPECT_NE(r.role, RankRole::kFront);
  EXPECT_EQ(layout.shard_ranks_env(), "0,1");
  EXPECT_EQ(layout_table(layout).find("front"), std::string::npos);
}

// The two-core test machine: the same shard and dense ranks as without a
// front, one rank up; the front needs no slot of its own.
TEST(LayoutFront, TwoCoreMachineSameRanksShiftedByOne) {
  Cluster c = cluster({{"localhost slots=3", "numa=1 cores_per_numa=2 mem_per_numa=4G"}});
  ModelNeeds needs = model({1 << 20, 1 << 20});
  Layout plain = choose_layout(c.hostfile, c.topologies, needs, {});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, with_front());
  check_sane(layout, c, needs);
  ASSERT_EQ(layout.size(), plain.size() + 1);
  for (int rank = 0; rank < plain.size(); ++rank) {
    const RankPlan &a = plain.ranks[rank], &b = layout.ranks[rank + 1];
    EXPECT_EQ(b.rank, a.rank + 1);
    EXPECT_EQ(b.role, a.role) << "rank " << b.rank;
    EXPECT_EQ(b.shard, a.shard) << "rank " << b.rank;
    EXPECT_EQ(b.dense, a.dense) << "rank " << b.rank;
    EXPECT_EQ(b.cores, a.cores) << "rank " << b.rank;
    EXPECT_EQ(b.threads, a.threads) << "rank " << b.rank;
  }
  EXPECT_EQ(layout.shard_ranks_env(), "1,2");
  EXPECT_EQ(layout.oversubscribed, plain.oversubscribed);
  EXPECT_EQ(layout.notes, plain.notes);
  EXPECT_EQ(rankfile_text(layout),
            "# Open MPI rankfile written by dlrm-launch: logical core indices per host\n"
            "rank 0=localhost slot=0-1\n"
            "rank 1=localhost slot=0\n"
            "rank 2=localhost slot=1\n"
            "rank 3=localhost slot=0-1\n");
  // mpirun is told of the fourth process.
  EXPECT_EQ(hostfile_text(layout.hostfile, layout.ranks_per_host()),
            "# written by dlrm-launch from test.hostfile\nlocalhost slots=4\n");
}

TEST(LayoutFront, OnTheFirstHostBeyondItsSlots) {
  // Host a's two slots go to the two shards (too big for b); the front joins them there.
  Cluster c = cluster({{"a slots=2 max_slots=2", "numa=2 cores_per_numa=2 mem_per_numa=8G"},
                       {"b slots=2", "numa=1 cores_per_numa=4 mem_per_numa=2G"}});
  ModelNeeds needs = model({4 * kGiB, 4 * kGiB});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, with_front());
  check_sane(layout, c, needs);
  EXPECT_EQ(layout.ranks_per_host(), (std::vector<int>{3, 1}));
  EXPECT_EQ(cores_text(layout.ranks[0].cores), "0-1") << "NUMA node 0's cores";
  EXPECT_EQ(layout.shard_ranks_env(), "1,2");
  EXPECT_EQ(layout.ranks.back().host, 1);
  EXPECT_EQ(layout.ranks.back().role, RankRole::kDense);
  const std::string hosts = hostfile_text(layout.hostfile, layout.ranks_per_host());
  EXPECT_EQ(line_starting(hosts, "a "), "a slots=3 max_slots=3") << hosts;
  EXPECT_EQ(line_starting(hosts, "b "), "b slots=1") << hosts;
}

TEST(LayoutFront, FirstHostWithoutOtherRanks) {
  // Host a holds neither a 1 GiB shard rank nor a dense rank, but the front's 64 MiB.
  Cluster c = cluster({{"a slots=1", "numa=1 cores_per_numa=1 mem_per_numa=200M"},
                       {"b slots=4", "numa=1 cores_per_numa=4 mem_per_numa=16G"}});
  ModelNeeds needs = model({1 * kGiB});
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, with_front());
  check_sane(layout, c, needs);
  EXPECT_EQ(layout.ranks_per_host(), (std::vector<int>{1, 2}));
  EXPECT_EQ(layout.ranks[0].host, 0);
  EXPECT_EQ(layout.shard_ranks_env(), "1");
  EXPECT_EQ(layout.hosts_used(), 2);
}

TEST(LayoutFront, NoMemoryForTheFront) {
  Cluster c = cluster({{"a slots=4", "numa=1 cores_per_numa=4 mem_per_numa=64M"},
                       {"b slots=4", "numa=1 cores_per_numa=4 mem_per_numa=16G"}});
  EXPECT_ERROR_WITH(choose_layout(c.hostfile, c.topologies, model({1 << 20}), with_front()),
                    "no room for the scenario's front (rank 0, 64.0 MiB) on host a NUMA node 0",
                    "put a host with more memory first in test.hostfile");
  // The whole-model check counts the front: a 1 GiB shard (+ 64 MiB) and a dense rank (10 + 256 MiB), 1354 MiB
  // in all, fit 90% of 1520 MiB (1368 MiB); with the front's 64 MiB they do not.
  Cluster small = cluster({{"a slots=4", "numa=1 cores_per_numa=4 mem_per_numa=1520M"}});
  ModelNeeds needs = model({1 * kGiB});
  EXPECT_NO_THROW(choose_layout(small.hostfile, small.topologies, needs, {}));
  EXPECT_ERROR_WITH(choose_layout(small.hostfile, small.topologies, needs, with_front()),
                    "does not fit the memory of the hosts given", "more, the scenario's front 64.0 MiB,");
}

// Random clusters and models: either a clear error or a sane layout.
TEST(Layout, RandomConfigurationsAreSane) {
  const unsigned seed = 20240601;
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  int laid_out = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::vector<std::pair<std::string, std::string>> hosts;
    int n_hosts = 1 + rng() % 4;
    for (int h = 0; h < n_hosts; ++h) {
      hosts.push_back({fmt::format("h{} slots={}", h, 1 + rng() % 12),
                       fmt::format("numa={} cores_per_numa={} mem_per_numa={}G", 1 + rng() % 4, 1 + rng() % 8,
                                   1 + rng() % 64)});
    }
    Cluster c = cluster(hosts);
    std::vector<uint64_t> shards(1 + rng() % 10);
    for (auto& s : shards) s = (rng() % 16384 + 1) << 20;  // up to 16 GiB
    LayoutOptions options;
    options.dense_per_node = rng() % 3;
    options.threads_per_dense = rng() % 4;
    options.front = rng() % 2 == 1;
    ModelNeeds needs = model(shards);
    try {
      Layout layout = choose_layout(c.hostfile, c.topologies, needs, options);
      check_sane(layout, c, needs);
      ++laid_out;
    } catch (const dlrm::Error& e) {
      std::string what = e.what();
      EXPECT_TRUE(what.find("too few slots") != std::string::npos || what.find("does not fit") != std::string::npos ||
                  what.find("no room for a dense rank") != std::string::npos ||
                  (options.front && what.find("no room for the scenario's front") != std::string::npos))
          << what;
    }
    if (HasFailure()) break;
  }
  EXPECT_GT(laid_out, 100) << "most random configurations should fit";
}

}  // namespace
}  // namespace dlrm::launcher
