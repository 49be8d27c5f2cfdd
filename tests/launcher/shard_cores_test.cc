// The shard-core rule: planned work per pair from a manifest, the rule's
// figures, and the layouts it gives (shard ranks with cores of their own, or
// sharing the dense ranks' cores).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "layout_checks.h"
#include "dlrm/common/error.h"
#include "dlrm/launcher/layout.h"
#include "dlrm/launcher/mpirun.h"
#include "dlrm/launcher/work.h"
#include "dlrm/model/manifest.h"
#include "test_files.h"

namespace dlrm::launcher {
namespace {

// A manifest of `preset` with every table whole on shard 0, except table 0,
// whose rows are split in halves between shard 0 and shard 1 (when shards = 2).
model::Manifest manifest_of(const std::string& preset, int shards) {
  model::Manifest m;
  m.arch = model::make_preset(preset, 1000000);
  m.shards.resize(shards);
  for (int t = 0; t < m.arch.num_tables(); ++t) {
    const int64_t rows = m.arch.table_rows[t];
    if (t == 0 && shards == 2) {
      m.shards[0].slices.push_back({.table = 0, .row_begin = 0, .row_end = rows / 2, .col_begin = 0, .col_end = m.arch.dim});
      m.shards[1].slices.push_back({.table = 0, .row_begin = rows / 2, .row_end = rows, .col_begin = 0, .col_end = m.arch.dim});
    } else {
      m.shards[0].slices.push_back({.table = t, .row_begin = 0, .row_end = rows, .col_begin = 0, .col_end = m.arch.dim});
    }
  }
  for (auto& shard : m.shards) shard.embedding_bytes = 1 << 20;
  return m;
}

// Terabyte: bottom 13*512 + 512*256 + 256*128 = 170,496 MACs; top
// 479*1024 + 1024*1024 + 1024*512 + 512*256 + 256 = 2,194,688; interaction
// 351 * 128 = 44,928: 2,410,112 MACs = 4,820,224 FLOPs. 26 rows of 512 B.
TEST(Work, TerabytePerPair) {
  const model::Manifest m = manifest_of("terabyte-40m", 1);
  EXPECT_DOUBLE_EQ(mlp_flops_per_pair(m), 4820224.0);
  ASSERT_EQ(pool_bytes_per_pair(m).size(), 1u);
  EXPECT_DOUBLE_EQ(pool_bytes_per_pair(m)[0], 26 * 512.0);
  const ModelNeeds needs = model_needs(m);
  EXPECT_TRUE(needs.work_known());
  EXPECT_EQ(needs.shard_bytes, std::vector<uint64_t>{1 << 20});
}

TEST(Work, RowSplitHalvesATablesPooling) {
  const std::vector<double> bytes = pool_bytes_per_pair(manifest_of("terabyte-40m", 2));
  ASSERT_EQ(bytes.size(), 2u);
  EXPECT_DOUBLE_EQ(bytes[0], 25.5 * 512);
  EXPECT_DOUBLE_EQ(bytes[1], 0.5 * 512);
}

// DLRM-v2: bottom 170,496; top 3456*1024 + 1024*1024 + 1024*512 + 512*256 +
// 256 = 5,243,136; cross 3 * 2 * 3456 * 512 = 10,616,832: 16,030,464 MACs.
// 214 lookups of 512 B.
TEST(Work, DlrmV2PerPair) {
  const model::Manifest m = manifest_of("dlrm-v2", 1);
  EXPECT_DOUBLE_EQ(mlp_flops_per_pair(m), 2 * 16030464.0);
  EXPECT_DOUBLE_EQ(pool_bytes_per_pair(m)[0], 214 * 512.0);
}

TEST(ShardCoreRule, Figures) {
  // Terabyte on 2 cores, 1 shard: m = 4.82 MFLOP / 1.3e11 = 37.08 us, p = 13312 B / 6e9 = 2.22 us.
  const double m = 1e6 * 4820224.0 / kMlpFlopsPerCoreSecond, p = 1e6 * 13312 / kPoolBytesPerCoreSecond;
  ShardCoreEstimate e = estimate_shard_cores(2, 1, p, m);
  EXPECT_DOUBLE_EQ(e.shared_us, m / 2 + p);
  EXPECT_DOUBLE_EQ(e.own_us, m);
  EXPECT_FALSE(e.own);
  // 16 cores of 32 hold 2 shards (half the rows each): m = 37.08 * 16 / 32, p = 2.22 / 2 per node.
  e = estimate_shard_cores(16, 2, p / 2, m / 2);
  EXPECT_DOUBLE_EQ(e.own_us, std::max(m / 2 / 14, p / 4));
  EXPECT_TRUE(e.own) << e.own_us << " vs " << e.shared_us;
  // No core would be left for the dense ranks: sharing.
  e = estimate_shard_cores(2, 2, 100, 1);
  EXPECT_TRUE(std::isinf(e.own_us));
  EXPECT_FALSE(e.own);
  // Pooling heavy against the MLPs: own cores pay even on 2 cores (max(1, 5) < 0.5 + 10).
  EXPECT_TRUE(estimate_shard_cores(2, 1, 10, 1).own);
}

TEST(ShardCoreRule, ParseAndName) {
  EXPECT_EQ(parse_shard_cores("auto"), ShardCores::kAuto);
  EXPECT_EQ(parse_shard_cores("own"), ShardCores::kOwn);
  EXPECT_EQ(parse_shard_cores("shared"), ShardCores::kShared);
  EXPECT_STREQ(to_string(ShardCores::kShared), "shared");
  EXPECT_ERROR_WITH(parse_shard_cores("mine"), "unknown --shard-cores 'mine'", "auto, own or shared");
}

ModelNeeds terabyte_needs(int shards) {
  ModelNeeds needs = model_needs(manifest_of("terabyte-40m", shards));
  return needs;
}

// The case: 2 cores, 1 shard of the terabyte preset. The shard rank
// shares both cores with a 2-thread dense rank.
TEST(ShardCoreLayout, TwoCoresTerabyteShares) {
  Cluster c = cluster({{"localhost slots=2", "numa=1 cores_per_numa=2 mem_per_numa=16G"}});
  const ModelNeeds needs = terabyte_needs(1);
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  check_sane(layout, c, needs);
  ASSERT_EQ(layout.size(), 2);
  EXPECT_EQ(layout.shared_nodes, std::vector<int>{0});
  EXPECT_EQ(cores_text(layout.ranks[0].cores), "0-1");
  EXPECT_EQ(cores_text(layout.ranks[1].cores), "0-1");
  EXPECT_EQ(layout.ranks[1].threads, 2);
  EXPECT_TRUE(layout.oversubscribed) << "ranks share cores: passive waits and yielding";
  EXPECT_EQ(rankfile_text(layout),
            "# Open MPI rankfile written by dlrm-launch: logical core indices per host\n"
            "rank 0=localhost slot=0-1\nrank 1=localhost slot=0-1\n");
  const std::string table = layout_table(layout);
  EXPECT_NE(table.find("note: host localhost NUMA node 0: 1 shard rank shares the dense ranks' cores (--shard-cores "
                       "auto): pooling 13312 B/pair (2.22 us) against 37.08 us of MLPs per pair; estimated 20.76 "
                       "us/pair sharing, 37.08 us/pair with a core of its own"),
            std::string::npos)
      << table;
}

// Where the shard rank shares the dense ranks' cores on one host, the
// launcher has the dense ranks pool the rows themselves (pool), unless the
// user chose a transport, the rows would not fit the host's shared memory,
// or the shard ranks have cores of their own.
TEST(ShardCoreLayout, SharedCoresOnOneHostPoolOnTheDenseRanks) {
  Cluster c = cluster({{"localhost slots=2", "numa=1 cores_per_numa=2 mem_per_numa=16G"}});
  const ModelNeeds needs = terabyte_needs(1);
  const uint64_t rows = needs.shard_bytes[0];
  Layout shared = choose_layout(c.hostfile, c.topologies, needs, {});
  const std::vector<std::string> args = {"--model", "/m", "--data", "/d.bin"};
  std::string why;
  EXPECT_EQ(default_exchange_transport(shared, args, rows, rows * 2, why), "pool");
  EXPECT_NE(why.find("the dense ranks pool the rows themselves"), std::string::npos) << why;
  // Room for the rows but not the tenth to spare: auto, and the note says why.
  EXPECT_EQ(default_exchange_transport(shared, args, rows, rows, why), "");
  EXPECT_NE(why.find("not pooled by the dense ranks"), std::string::npos) << why;
  // The user's choice stands, either spelling.
  for (const auto& given : {std::vector<std::string>{"--exchange-transport", "alltoall"},
                            std::vector<std::string>{"--exchange-transport=shm"}}) {
    EXPECT_EQ(default_exchange_transport(shared, given, rows, rows * 2, why), "");
    EXPECT_EQ(why, "");
  }
  LayoutOptions own;
  own.shard_cores = ShardCores::kOwn;
  Layout apart = choose_layout(c.hostfile, c.topologies, needs, own);
  ASSERT_TRUE(apart.shared_nodes.empty());
  EXPECT_EQ(default_exchange_transport(apart, args, rows, rows * 2, why), "");
  // Two hosts: the dense ranks cannot read the other host's rows.
  Cluster two = cluster({{"a slots=2", "numa=1 cores_per_numa=2 mem_per_numa=16G"},
                         {"b slots=2", "numa=1 cores_per_numa=2 mem_per_numa=16G"}});
  LayoutOptions sharing;
  sharing.shard_cores = ShardCores::kShared;
  const ModelNeeds two_shards = terabyte_needs(2);
  Layout spread = choose_layout(two.hostfile, two.topologies, two_shards, sharing);
  ASSERT_EQ(spread.hosts_used(), 2);
  EXPECT_EQ(default_exchange_transport(spread, args, rows, rows * 4, why), "");
}

TEST(ShardCoreLayout, ForcedOwnIsTheOldLayout) {
  Cluster c = cluster({{"localhost slots=2", "numa=1 cores_per_numa=2 mem_per_numa=16G"}});
  const ModelNeeds needs = terabyte_needs(1);
  LayoutOptions options;
  options.shard_cores = ShardCores::kOwn;
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, options);
  check_sane(layout, c, needs);
  EXPECT_TRUE(layout.shared_nodes.empty());
  EXPECT_EQ(rankfile_text(layout), "# Open MPI rankfile written by dlrm-launch: logical core indices per host\n"
                                   "rank 0=localhost slot=0\nrank 1=localhost slot=1\n");
  EXPECT_EQ(layout.ranks[1].threads, 1);
  EXPECT_FALSE(layout.oversubscribed);
  EXPECT_NE(layout_table(layout).find("gets a core of its own (--shard-cores own)"), std::string::npos);
}

// Many cores: the two-socket host keeps a core per shard rank, as the
// memory-only layout does, and says why.
TEST(ShardCoreLayout, TwoSocketsKeepOwnCores) {
  Cluster c = cluster({{"node01 slots=32", "numa=2 cores_per_numa=16 mem_per_numa=192G"}});
  ModelNeeds needs = terabyte_needs(2);
  needs.shard_bytes = {24 * kGiB, 24 * kGiB};
  needs.shard_pool_bytes_per_pair = {13312 / 2.0, 13312 / 2.0};
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, {});
  Layout memory_only = choose_layout(c.hostfile, c.topologies, model(needs.shard_bytes, needs.dense_bytes), {});
  check_sane(layout, c, needs);
  EXPECT_TRUE(layout.shared_nodes.empty());
  EXPECT_EQ(rankfile_text(layout), rankfile_text(memory_only));
  EXPECT_FALSE(layout.oversubscribed);
  ASSERT_EQ(layout.notes.size(), 2u);
  EXPECT_NE(layout.notes[0].find("1 shard rank gets a core of its own"), std::string::npos) << layout.notes[0];
}

TEST(ShardCoreLayout, ForcedSharedOnTwoSockets) {
  Cluster c = cluster({{"node01 slots=32", "numa=2 cores_per_numa=16 mem_per_numa=192G"}});
  const ModelNeeds needs = model({24 * kGiB, 24 * kGiB});  // work unknown: only a forced choice shares
  LayoutOptions options;
  options.shard_cores = ShardCores::kShared;
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, options);
  check_sane(layout, c, needs);
  EXPECT_EQ(layout.shared_nodes, (std::vector<int>{0, 1}));
  EXPECT_EQ(cores_text(layout.ranks[0].cores), "0-15");
  EXPECT_EQ(cores_text(layout.ranks[2].cores), "0-15");
  EXPECT_EQ(layout.ranks[2].threads, 16);
  EXPECT_TRUE(layout.oversubscribed);
}

// int8 MLPs are about 3x faster, so pooling weighs more: on 4 cores the
// fp32 model shares (shared 11.49 < own 12.36 us), the int8 one does not
// (own 4.12 < shared 5.31 us).
TEST(ShardCoreLayout, Int8MlpsTipTheRule) {
  Cluster c = cluster({{"h slots=4", "numa=1 cores_per_numa=4 mem_per_numa=16G"}});
  const ModelNeeds needs = terabyte_needs(1);
  EXPECT_EQ(choose_layout(c.hostfile, c.topologies, needs, {}).shared_nodes, std::vector<int>{0});
  LayoutOptions options;
  options.int8_mlp = true;
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, options);
  check_sane(layout, c, needs);
  EXPECT_TRUE(layout.shared_nodes.empty());
  EXPECT_EQ(cores_text(layout.ranks[1].cores), "1-3");
}

// A scenario run on 2 cores: the front, the shard and the dense rank all on both cores.
TEST(ShardCoreLayout, TwoCoresWithFront) {
  Cluster c = cluster({{"localhost slots=2", "numa=1 cores_per_numa=2 mem_per_numa=16G"}});
  const ModelNeeds needs = terabyte_needs(1);
  LayoutOptions options;
  options.front = true;
  Layout layout = choose_layout(c.hostfile, c.topologies, needs, options);
  check_sane(layout, c, needs);
  EXPECT_EQ(rankfile_text(layout), "# Open MPI rankfile written by dlrm-launch: logical core indices per host\n"
                                   "rank 0=localhost slot=0-1\nrank 1=localhost slot=0-1\nrank 2=localhost slot=0-1\n");
  EXPECT_EQ(layout.ranks[2].threads, 2);
}

// Random clusters, models with work and modes: either a clear error or a sane layout.
TEST(ShardCoreLayout, RandomConfigurationsAreSane) {
  const unsigned seed = 20240717;
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  int laid_out = 0, shared = 0;
  for (int trial = 0; trial < 300 && !HasFailure(); ++trial) {
    std::vector<std::pair<std::string, std::string>> hosts;
    for (int h = 0, n = 1 + rng() % 3; h < n; ++h) {
      hosts.push_back({fmt::format("h{} slots={}", h, 1 + rng() % 12),
                       fmt::format("numa={} cores_per_numa={} mem_per_numa={}G", 1 + rng() % 3, 1 + rng() % 16,
                                   1 + rng() % 64)});
    }
    Cluster c = cluster(hosts);
    ModelNeeds needs = model(std::vector<uint64_t>(1 + rng() % 6, (rng() % 4096 + 1) << 20));
    for (size_t s = 0; s < needs.shard_bytes.size(); ++s) needs.shard_pool_bytes_per_pair.push_back(rng() % 100000);
    needs.mlp_flops_per_pair = 1e3 * (1 + rng() % 100000);
    LayoutOptions options;
    options.shard_cores = static_cast<ShardCores>(rng() % 3);
    options.front = rng() % 2 == 1;
    options.threads_per_dense = rng() % 3;
    try {
      Layout layout = choose_layout(c.hostfile, c.topologies, needs, options);
      check_sane(layout, c, needs);
      ++laid_out;
      shared += layout.shared_nodes.empty() ? 0 : 1;
      if (options.shard_cores == ShardCores::kOwn) {
        EXPECT_TRUE(layout.shared_nodes.empty());
      }
    } catch (const dlrm::Error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.find("too few slots") != std::string::npos || what.find("does not fit") != std::string::npos ||
                  what.find("no room for") != std::string::npos)
          << what;
    }
  }
  EXPECT_GT(laid_out, 100);
  EXPECT_GT(shared, 10) << "some layouts share cores";
  EXPECT_LT(shared, laid_out) << "some layouts do not";
}

}  // namespace
}  // namespace dlrm::launcher
