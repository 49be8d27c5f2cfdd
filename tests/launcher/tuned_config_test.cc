// tuned.json (write, read, every bad field named), merging its cluster
// options with the user's, and the layouts dlrm-tune tries.
#include <gtest/gtest.h>

#include "layout_checks.h"
#include "dlrm/common/error.h"
#include "dlrm/launcher/tuned_config.h"
#include "dlrm/tune/layouts.h"
#include "test_files.h"

namespace dlrm::launcher {
namespace {

TunedConfig example() {
  TunedConfig c;
  c.producer = "dlrm-tune test";
  c.model = "/m";
  c.launch = {"shared", 0, 2};
  c.cluster = {512, "bf16", "alltoall", "int8"};
  c.measured.pairs_per_s = 52000.5;
  c.measured.p99_ms = 12.5;
  c.measured.trials = 14;
  return c;
}

TEST(TunedConfig, RoundTrip) {
  const std::string text = tuned_config_json(example());
  const TunedConfig back = parse_tuned_config(text, "tuned.json");
  EXPECT_EQ(tuned_config_json(back), text);
  EXPECT_EQ(back.launch.threads_per_dense, 2);
  EXPECT_EQ(back.cluster.args(), (std::vector<std::string>{"--batch", "512", "--exchange-dtype", "bf16",
                                                           "--exchange-transport", "alltoall", "--mlp", "int8"}));
  EXPECT_EQ(back.measured.p99_ms, 12.5);
  EXPECT_FALSE(back.measured.peak_qps);
}

// Each broken field: the message names the file and the field.
TEST(TunedConfig, BadFieldsNamed) {
  const std::string good = tuned_config_json(example());
  struct Case {
    std::string from, to, field;
  };
  const std::vector<Case> cases = {
      {"\"shared\"", "\"mine\"", "dlrm_tuned.launch.shard_cores: 'mine' is not one of auto, own, shared"},
      {"\"batch\": 512", "\"batch\": 0", "dlrm_tuned.cluster.batch: 0 is outside [1, 1048576]"},
      {"\"batch\": 512", "\"batch\": \"512\"", "dlrm_tuned.cluster.batch: expected an integer"},
      {"\"bf16\"", "\"int3\"", "dlrm_tuned.cluster.exchange_dtype"},
      {"\"alltoall\"", "\"carrier-pigeon\"", "dlrm_tuned.cluster.exchange_transport"},
      {"\"int8\"", "\"fp64\"", "dlrm_tuned.cluster.mlp"},
      {"\"threads_per_dense\": 2", "\"threads_per_dense\": -1", "dlrm_tuned.launch.threads_per_dense"},
      {"\"format_version\": 1", "\"format_version\": 7", "dlrm_tuned.format_version: version 7 is not 1"},
      {"\"launch\"", "\"lunch\"", "dlrm_tuned.launch is missing"},
  };
  for (const Case& c : cases) {
    std::string text = good;
    ASSERT_NE(text.find(c.from), std::string::npos) << c.from;
    text.replace(text.find(c.from), c.from.size(), c.to);
    EXPECT_ERROR_WITH(parse_tuned_config(text, "/x/tuned.json"), "/x/tuned.json is not a valid tuned configuration",
                      c.field, "write it again with dlrm-tune");
  }
  EXPECT_ERROR_WITH(parse_tuned_config("{\"dlrm_tuned\": ", "t.json"), "t.json is not a valid tuned configuration");
  EXPECT_ERROR_WITH(read_tuned_config("/nonexistent/tuned.json"), "/nonexistent/tuned.json cannot be read");
}

TEST(TunedConfig, UserArgumentsWin) {
  const TunedCluster tuned = example().cluster;
  EXPECT_EQ(merge_cluster_args(tuned, {"--data", "d.bin", "--batch=64", "--mlp", "fp32"}),
            (std::vector<std::string>{"--exchange-dtype", "bf16", "--exchange-transport", "alltoall", "--data",
                                      "d.bin", "--batch=64", "--mlp", "fp32"}));
  EXPECT_EQ(merge_cluster_args(tuned, {}), tuned.args());
}

// The 2-core host and the terabyte preset's needs: auto is shared there, so
// "shared" is the same layout and is tried once; with 2 slots, so is a
// second dense rank (no slot for it).
TEST(TuneLayouts, DistinctLayoutsDefaultFirst) {
  Cluster c = cluster({{"localhost slots=3", "numa=1 cores_per_numa=2 mem_per_numa=16G"}});
  ModelNeeds needs = model({1 << 30});
  needs.shard_pool_bytes_per_pair = {13312};
  needs.mlp_flops_per_pair = 4820224;
  const auto layouts = tune::candidate_layouts(c.hostfile, c.topologies, needs, false);
  std::vector<std::string> keys, labels;
  for (const auto& l : layouts) {
    keys.push_back(l.options.layout_key());
    labels.push_back(l.label);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"auto/0/0", "own/0/0", "shared/2/0", "own/2/0"}));
  EXPECT_EQ(labels[0], "1 shard (shares cores) + 1 dense x 2");
  EXPECT_EQ(labels[1], "1 shard (own cores) + 1 dense x 1");
  EXPECT_EQ(labels[2], "1 shard (shares cores) + 2 dense x 1");
  EXPECT_EQ(labels[3], "1 shard (own cores) + 2 dense x 1 (oversubscribed)");
  Cluster two_slots = cluster({{"localhost slots=2", "numa=1 cores_per_numa=2 mem_per_numa=16G"}});
  EXPECT_EQ(tune::candidate_layouts(two_slots.hostfile, two_slots.topologies, needs, false).size(), 2u);
}

TEST(TuneLayouts, NoneFitsNamesTheHostfile) {
  Cluster c = cluster({{"localhost slots=2", "numa=1 cores_per_numa=2 mem_per_numa=1G"}});
  EXPECT_ERROR_WITH(tune::candidate_layouts(c.hostfile, c.topologies, model({8 * kGiB}), false),
                    "no layout fits the model on the hosts of test.hostfile", "does not fit the memory");
}

}  // namespace
}  // namespace dlrm::launcher
