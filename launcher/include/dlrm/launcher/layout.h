// The rank layout: which rank runs where, as what, on which cores.
//
// Input: hosts (hostfile slots, topology per host) and the model (bytes of
// each shard, bytes of the dense weights). With need(shard) = bytes +
// kShardRankOverheadBytes, need(dense) = dense bytes + kDenseRankOverheadBytes
// and capacity(node) = mem_fraction * node memory:
//   1. shards, largest first, one rank each: among the NUMA nodes whose host
//      has a slot left and whose capacity left holds the shard, the one with
//      a free core, then the fewest shards, then the most free memory. If
//      that leaves a shard without a node, all shards again by the most free
//      memory alone (a note); a shard that still fits nowhere is an error.
//      A shard rank binds one core of its node.
//   2. dense ranks: per node dense_per_node, or 1 if a core is free (fewer
//      where memory runs out), given in turns over a host's nodes while the
//      host has slots; at least one in all. A dense rank binds the node's
//      free cores (shared out), or threads_per_dense of them, with one
//      OpenMP thread per core bound.
//   3. too few cores: ranks share cores (oversubscribed, with a note).
// World ranks: shard s is rank s (dlrm-cluster's default roles); dense ranks
// follow, host by host and NUMA node by NUMA node.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dlrm/launcher/hostfile.h"
#include "dlrm/launcher/topology.h"

namespace dlrm::launcher {

// Resident memory a rank needs beyond its embedding rows (buffers, MPI, code)
// and what a dense rank needs beyond the dense weights (batch buffers).
inline constexpr uint64_t kShardRankOverheadBytes = 64ull << 20;
inline constexpr uint64_t kDenseRankOverheadBytes = 256ull << 20;

struct LayoutOptions {
  int dense_per_node = 0;     // dense ranks per NUMA node; 0: one per NUMA node with a free core
  int threads_per_dense = 0;  // 0: one per core the dense rank binds to
  double mem_fraction = 0.9;  // share of a NUMA node's memory the layout may plan for
};

struct ModelNeeds {
  std::vector<uint64_t> shard_bytes;  // embedding bytes of each shard
  uint64_t dense_bytes = 0;           // MLP weights (each dense rank holds a copy)
};

enum class RankRole { kShard, kDense };
const char* to_string(RankRole role);

struct RankPlan {
  int rank = 0;
  int host = 0;  // index into Layout::hosts
  int numa = 0;  // index into that host's topology.numa
  RankRole role = RankRole::kDense;
  int shard = -1;  // shard index (shard ranks)
  int dense = -1;  // dense index (dense ranks)
  std::vector<int> cores;
  int threads = 1;
  uint64_t memory_bytes = 0;  // planned resident memory
};

struct NodeUse {
  int host = 0;
  int numa = 0;
  uint64_t capacity_bytes = 0;  // mem_fraction * memory
  uint64_t used_bytes = 0;
};

struct Layout {
  Hostfile hostfile;
  std::vector<HostTopology> topologies;  // per host
  std::vector<RankPlan> ranks;           // by world rank
  std::vector<int> shard_rank;           // world rank of each shard
  std::vector<NodeUse> nodes;
  std::vector<std::string> notes;  // decisions worth telling the user (oversubscription, reductions)
  bool oversubscribed = false;
  double mem_fraction = 0.9;

  int size() const { return static_cast<int>(ranks.size()); }
  int dense_ranks() const;
  int hosts_used() const;
  std::vector<int> ranks_per_host() const;
  const NodeUse& node(int host, int numa) const;
  // "0,2,4,6": the value of DLRM_SHARD_RANKS.
  std::string shard_ranks_env() const;
};

// Throws dlrm::Error naming the hostfile, the host or the shard and the
// shortfall when the model cannot run on the hosts given (too few slots, too
// little memory, no room for a dense rank).
Layout choose_layout(const Hostfile& hostfile, const std::vector<HostTopology>& topologies,
                     const ModelNeeds& model, const LayoutOptions& options);

// "0-3", "0,2,5-7"
std::string cores_text(const std::vector<int>& cores);

// Open MPI rankfile: "rank N=HOST slot=CORES" per rank (logical core indices).
std::string rankfile_text(const Layout& layout);

// The human table: host, numa, rank, role, shard, cores, threads, shard bytes, node memory.
std::string layout_table(const Layout& layout);

}  // namespace dlrm::launcher
