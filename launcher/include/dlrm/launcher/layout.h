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
//
// A scenario run (LayoutOptions::front; dlrm-cluster --scenario) adds the
// front, which issues the queries: world rank 0, on the first host of the
// hostfile, bound to all cores of that host's first NUMA node, one thread,
// kFrontRankOverheadBytes reserved on that node before the shards are placed.
// Shard s is then rank s + 1 and the dense ranks follow; DLRM_SHARD_RANKS
// names ranks >= 1. The front is one thread that sleeps between polls, so it
// takes no core and no slot from the other ranks: shards and dense ranks get
// the slots and cores they would get without it (only its memory counts, so
// a tie between NUMA nodes may go the other way), the slot check stays
// shards + 1, the hostfile written for mpirun counts it on the first host
// (beyond that host's slots= if need be), and the cores it shares do not
// make the layout oversubscribed.
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
// The front of a scenario run: query state, latency records, the labels.
inline constexpr uint64_t kFrontRankOverheadBytes = 64ull << 20;

struct LayoutOptions {
  int dense_per_node = 0;     // dense ranks per NUMA node; 0: one per NUMA node with a free core
  int threads_per_dense = 0;  // 0: one per core the dense rank binds to
  double mem_fraction = 0.9;  // share of a NUMA node's memory the layout may plan for
  bool front = false;         // a scenario run: world rank 0 is the front
};

struct ModelNeeds {
  std::vector<uint64_t> shard_bytes;  // embedding bytes of each shard
  uint64_t dense_bytes = 0;           // MLP weights (each dense rank holds a copy)
};

enum class RankRole { kFront, kShard, kDense };
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
  bool front = false;                    // rank 0 is a scenario run's front
  std::vector<NodeUse> nodes;
  std::vector<std::string> notes;  // decisions worth telling the user (oversubscription, reductions)
  bool oversubscribed = false;
  double mem_fraction = 0.9;

  int size() const { return static_cast<int>(ranks.size()); }
  int dense_ranks() const;
  int hosts_used() const;
  std::vector<int> ranks_per_host() const;
  const NodeUse& node(int host, int numa) const;
  // "0,2,4,6" ("1,2,3" with a front): the value of DLRM_SHARD_RANKS.
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

// The human table: host, numa, rank, role (front, shard, dense), shard, cores, threads, shard bytes, node memory.
std::string layout_table(const Layout& layout);

}  // namespace dlrm::launcher
