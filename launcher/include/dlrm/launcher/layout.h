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
//   2. per NUMA node holding shards, whether they get cores of their own
//      (the shard-core rule below, or LayoutOptions::shard_cores): a shard
//      rank then binds one core of its node; otherwise it binds all of the
//      node's cores, which the dense ranks bind too (ranks share cores).
//   3. dense ranks: per node dense_per_node, or 1 if a core is free (fewer
//      where memory runs out), given in turns over a host's nodes while the
//      host has slots; at least one in all. A dense rank binds the node's
//      free cores (shared out), or threads_per_dense of them, with one
//      OpenMP thread per core bound.
//   4. too few cores: ranks share cores (oversubscribed, with a note).
//
// The shard-core rule, per NUMA node with C cores and K shard ranks, from the
// model's planned work (work.h): the node's pooling takes
//   p = sum over its shards of pool_bytes / kPoolBytesPerCoreSecond
// seconds per pair, and its share of the MLPs
//   m = mlp_flops / (kMlpFlopsPerCoreSecond * speedup) * C / (cores of all NUMA nodes)
// (speedup kInt8MlpSpeedup with int8 MLPs, else 1). Time per pair:
//   shared: m / C + p                    (a pooling rank that wakes on a core stalls the
//                                         dense rank's parallel region until it sleeps again)
//   own:    max(m / (C - K), p / K)      (pooling overlaps the MLPs; infinite when K >= C)
// Shard ranks get cores of their own iff own < shared; with the work unknown
// (ModelNeeds::work_known) they keep them as before. E.g. the terabyte
// model (26 lookups of 512 B, 4.7 MFLOP per pair) on 2 cores with 1 shard:
// shared 18.6 us, own 36.4 us -> shared; on 16 cores with 2 shards: 3.4 vs
// 2.6 us -> own.
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
#include "dlrm/launcher/work.h"

namespace dlrm::launcher {

// Resident memory a rank needs beyond its embedding rows (buffers, MPI, code)
// and what a dense rank needs beyond the dense weights (batch buffers).
inline constexpr uint64_t kShardRankOverheadBytes = 64ull << 20;
inline constexpr uint64_t kDenseRankOverheadBytes = 256ull << 20;
// The front of a scenario run: query state, latency records, the labels.
inline constexpr uint64_t kFrontRankOverheadBytes = 64ull << 20;

// Rates that turn planned work into time for the shard-core rule; only
// their ratio matters. Measured on the project's 2-core machines with the
// terabyte preset: fp32 oneDNN MLPs about 1.3e11 FLOP/s per core (60k pairs/s
// of 4.7 MFLOP on 2 cores), pooling about 6e9 B/s (6% of a 28.5k pairs/s run
// for 13.3 KB of rows per pair); int8 MLPs about 3x the fp32 bound.
inline constexpr double kPoolBytesPerCoreSecond = 6e9;
inline constexpr double kMlpFlopsPerCoreSecond = 1.3e11;
inline constexpr double kInt8MlpSpeedup = 3.0;

// Whether shard ranks get cores of their own: the rule (auto), always (own),
// never (shared).
enum class ShardCores { kAuto, kOwn, kShared };
// "auto", "own", "shared"; throws naming the choices.
ShardCores parse_shard_cores(const std::string& name);
const char* to_string(ShardCores mode);

// The rule's figures for one NUMA node (the formulas above).
struct ShardCoreEstimate {
  double pool_us = 0;     // p, microseconds per pair
  double mlp_us = 0;      // m, microseconds per pair (core-microseconds: the node's share on one core)
  double shared_us = 0;   // m / C + p
  double own_us = 0;      // max(m / (C - K), p / K); infinity when K >= C
  bool own = false;       // own_us < shared_us
};
ShardCoreEstimate estimate_shard_cores(int cores, int shards, double pool_us, double mlp_us);

struct LayoutOptions {
  int dense_per_node = 0;     // dense ranks per NUMA node; 0: one per NUMA node with a free core
  int threads_per_dense = 0;  // 0: one per core the dense rank binds to
  double mem_fraction = 0.9;  // share of a NUMA node's memory the layout may plan for
  bool front = false;         // a scenario run: world rank 0 is the front
  ShardCores shard_cores = ShardCores::kAuto;
  bool int8_mlp = false;      // the dense ranks run int8 MLPs (dlrm-cluster --mlp int8): the rule's speedup
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
  std::vector<int> shared_nodes;         // indices into `nodes` whose shard ranks share the dense ranks' cores
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
