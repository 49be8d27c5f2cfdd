// What the layout tests share: small clusters from hostfile lines and
// topology specs, memory-only models, and the invariants every layout keeps.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dlrm/launcher/layout.h"

namespace dlrm::launcher {

inline constexpr uint64_t kGiB = 1ull << 30;

struct Cluster {
  Hostfile hostfile;
  std::vector<HostTopology> topologies;
};

// hosts: {"name slots=N", "numa=.. cores_per_numa=.. mem_per_numa=.."}
inline Cluster cluster(const std::vector<std::pair<std::string, std::string>>& hosts) {
  Cluster c;
  std::string text;
  for (const auto& [line, spec] : hosts) {
    text += line + "\n";
    c.topologies.push_back(parse_topology_spec(spec, "test"));
  }
  c.hostfile = parse_hostfile(text, "test.hostfile");
  return c;
}

// Memory only: the work per pair is unknown, so shard ranks keep cores of their own.
inline ModelNeeds model(std::vector<uint64_t> shard_bytes, uint64_t dense_bytes = 10 << 20) {
  ModelNeeds needs;
  needs.shard_bytes = std::move(shard_bytes);
  needs.dense_bytes = dense_bytes;
  return needs;
}

// Invariants every layout keeps, whatever the input. A front (scenario
// runs) is rank 0 on the first host's first NUMA node, takes no slot and
// does not count towards oversubscription.
inline void check_sane(const Layout& layout, const Cluster& c, const ModelNeeds& needs) {
  ASSERT_EQ(layout.shard_rank.size(), needs.shard_bytes.size());
  std::set<int> shard_ranks(layout.shard_rank.begin(), layout.shard_rank.end());
  EXPECT_EQ(shard_ranks.size(), needs.shard_bytes.size()) << "each shard on its own rank";
  EXPECT_GE(layout.dense_ranks(), 1);
  const int first = layout.front ? 1 : 0;
  for (size_t s = 0; s < layout.shard_rank.size(); ++s) {
    EXPECT_GE(layout.shard_rank[s], first) << "shard " << s << " on the front's rank";
  }
  auto per_host = layout.ranks_per_host();
  if (layout.front) {
    ASSERT_GE(layout.size(), 1);
    const RankPlan& front = layout.ranks[0];
    EXPECT_EQ(front.role, RankRole::kFront);
    EXPECT_EQ(front.host, 0);
    EXPECT_EQ(front.numa, c.topologies[0].numa[0].index);
    EXPECT_EQ(front.cores, c.topologies[0].numa[0].cores);
    EXPECT_EQ(front.threads, 1);
    EXPECT_EQ(front.memory_bytes, kFrontRankOverheadBytes);
    --per_host[0];
  }
  for (const auto& r : layout.ranks) {
    EXPECT_EQ(r.role == RankRole::kFront, layout.front && r.rank == 0) << "rank " << r.rank;
  }
  for (size_t h = 0; h < per_host.size(); ++h) {
    EXPECT_LE(per_host[h], c.hostfile.hosts[h].slots) << "host " << h << " over its slots";
  }
  std::map<std::pair<int, int>, uint64_t> used;
  std::map<std::pair<int, int>, int> binders;
  for (int rank = 0; rank < layout.size(); ++rank) {
    const RankPlan& r = layout.ranks[rank];
    EXPECT_EQ(r.rank, rank);
    const auto& node = c.topologies[r.host].numa[r.numa];
    ASSERT_FALSE(r.cores.empty());
    for (int core : r.cores) {
      EXPECT_TRUE(std::find(node.cores.begin(), node.cores.end(), core) != node.cores.end())
          << "rank " << rank << " binds to core " << core << " outside its NUMA node";
      if (r.role != RankRole::kFront) ++binders[{r.host, core}];
    }
    EXPECT_GE(r.threads, 1);
    if (r.role == RankRole::kShard) {
      const bool shared = std::any_of(layout.shared_nodes.begin(), layout.shared_nodes.end(), [&](int i) {
        return layout.nodes[i].host == r.host && layout.nodes[i].numa == r.numa;
      });
      if (shared) {
        EXPECT_EQ(r.cores, node.cores) << "a shard rank that shares binds its node's cores";
      } else {
        EXPECT_EQ(r.cores.size(), 1u) << "a shard rank gets one core";
      }
      EXPECT_EQ(layout.shard_rank[r.shard], rank);
      EXPECT_EQ(r.threads, 1);
    }
    used[{r.host, r.numa}] += r.memory_bytes;
  }
  for (const auto& [key, bytes] : used) {
    const auto& node = c.topologies[key.first].numa[key.second];
    EXPECT_LE(bytes, static_cast<uint64_t>(node.memory_bytes * layout.mem_fraction))
        << "host " << key.first << " NUMA node " << key.second << " over its memory";
    EXPECT_EQ(layout.node(key.first, key.second).used_bytes, bytes);
  }
  bool shared = false;
  for (const auto& [key, n] : binders) shared = shared || n > 1;
  for (const auto& r : layout.ranks) shared = shared || r.threads > static_cast<int>(r.cores.size());
  EXPECT_EQ(layout.oversubscribed, shared);
}

}  // namespace dlrm::launcher
