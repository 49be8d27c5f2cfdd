#include "dlrm/launcher/layout.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <tuple>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"

namespace dlrm::launcher {
namespace {

struct NodeState {
  int host = 0;
  int numa = 0;
  int cores = 0;
  uint64_t capacity = 0;
  uint64_t used = 0;
  uint64_t reserved = 0;    // for the front, before any shard
  std::vector<int> shards;  // in placement order
  int dense = 0;
  bool shards_share = false;  // its shard ranks share the dense ranks' cores (the shard-core rule)
  uint64_t free() const { return capacity > used ? capacity - used : 0; }
  int free_cores() const { return shards_share ? cores : std::max(0, cores - static_cast<int>(shards.size())); }
};

uint64_t shard_need(uint64_t bytes) { return bytes + kShardRankOverheadBytes; }


std::string node_name(const Hostfile& hostfile, const NodeState& node) {
  return fmt::format("host {} NUMA node {}", hostfile.hosts[node.host].name, node.numa);
}

// The node with the lowest key(i) among those on a host with a slot left and
// with `need` bytes free, or -1.
template <class Key>
int lowest_fitting_node(const std::vector<NodeState>& nodes, const std::vector<int>& slots_left, uint64_t need,
                        Key key) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    if (slots_left[nodes[i].host] <= 0 || nodes[i].free() < need) continue;
    if (best < 0 || key(i) < key(best)) best = i;
  }
  return best;
}

// Places every shard (largest first); returns the shard that did not fit, or -1.
int place_shards(std::vector<NodeState>& nodes, std::vector<int>& slots_left, const std::vector<int>& order,
                 const ModelNeeds& model, bool spread) {
  for (int shard : order) {
    uint64_t need = shard_need(model.shard_bytes[shard]);
    auto key = [&](int i) {
      const auto& n = nodes[i];
      if (spread) {
        return std::make_tuple(n.free_cores() > 0 ? 0 : 1, static_cast<int64_t>(n.shards.size()),
                               -static_cast<int64_t>(n.free()), i);
      }
      return std::make_tuple(0, int64_t{0}, -static_cast<int64_t>(n.free()), i);
    };
    const int best = lowest_fitting_node(nodes, slots_left, need, key);
    if (best < 0) return shard;
    nodes[best].shards.push_back(shard);
    nodes[best].used += need;
    --slots_left[nodes[best].host];
  }
  return -1;
}

uint64_t dense_need(const ModelNeeds& model) { return model.dense_bytes + kDenseRankOverheadBytes; }

// The shard-core rule (layout.h) for every NUMA node that holds shards; a
// note per such node gives the figures and the choice.
void choose_shard_cores(std::vector<NodeState>& nodes, const Hostfile& hostfile, const ModelNeeds& model,
                        const LayoutOptions& options, std::vector<std::string>& notes) {
  int all_cores = 0;
  for (const auto& node : nodes) all_cores += node.cores;
  const double mlp_rate = kMlpFlopsPerCoreSecond * (options.int8_mlp ? kInt8MlpSpeedup : 1.0);
  for (auto& node : nodes) {
    const int k = static_cast<int>(node.shards.size());
    if (k == 0 || node.cores == 0) continue;
    if (!model.work_known()) {
      node.shards_share = options.shard_cores == ShardCores::kShared;
      continue;
    }
    double pool_bytes = 0;
    for (int shard : node.shards) pool_bytes += model.shard_pool_bytes_per_pair[shard];
    const double mlp_us = 1e6 * model.mlp_flops_per_pair / mlp_rate * node.cores / std::max(1, all_cores);
    const ShardCoreEstimate e = estimate_shard_cores(node.cores, k, 1e6 * pool_bytes / kPoolBytesPerCoreSecond, mlp_us);
    const bool own = options.shard_cores == ShardCores::kAuto ? e.own : options.shard_cores == ShardCores::kOwn;
    node.shards_share = !own;
    const std::string mine = k == 1 ? "a core of its own" : fmt::format("{} of their own", plural(k, "core"));
    const std::string own_text = std::isfinite(e.own_us) ? fmt::format("{:.2f} us/pair with {}", e.own_us, mine)
                                                         : fmt::format("{} would leave the dense ranks none", mine);
    notes.push_back(fmt::format(
        "{}: {} {} (--shard-cores {}): pooling {:.0f} B/pair ({:.2f} us) against {:.2f} us of MLPs per pair; "
        "estimated {:.2f} us/pair sharing, {}",
        node_name(hostfile, node), plural(k, "shard rank"),
        own ? (k == 1 ? "gets a core of its own" : "get cores of their own")
            : (k == 1 ? "shares the dense ranks' cores" : "share the dense ranks' cores"),
        to_string(options.shard_cores), pool_bytes, e.pool_us, e.mlp_us, e.shared_us, own_text));
  }
}

uint64_t front_need(const LayoutOptions& options) { return options.front ? kFrontRankOverheadBytes : 0; }

// The options, the shard count and the slots: one rank per shard plus a dense rank.
void check_request(const Hostfile& hostfile, const ModelNeeds& model, const LayoutOptions& options) {
  DLRM_CHECK(options.mem_fraction > 0 && options.mem_fraction <= 1,
             "--mem-fraction must be in (0, 1], got {}", options.mem_fraction);
  DLRM_CHECK(options.dense_per_node >= 0, "--dense-per-node must be >= 0, got {}", options.dense_per_node);
  DLRM_CHECK(options.threads_per_dense >= 0, "--threads-per-dense must be >= 0, got {}", options.threads_per_dense);
  const int shards = static_cast<int>(model.shard_bytes.size());
  DLRM_CHECK(shards >= 1, "the model has no shards; re-create it with dlrm-shard");
  const int hosts = static_cast<int>(hostfile.hosts.size());
  int slots = hostfile.total_slots();
  DLRM_CHECK(slots >= shards + 1,
             "too few slots in {}: the model has {} so the job needs at least {} ranks ({} + 1 dense), but its {} "
             "{} {}; raise slots= or add hosts",
             hostfile.source, plural(shards, "shard"), shards + 1, plural(shards, "shard rank"),
             plural(hosts, "host"), hosts == 1 ? "gives" : "give", plural(slots, "slot"));
}

// One NodeState per NUMA node of every host, in host order; the first
// (the first host's first NUMA node) holds the front's memory, if any.
std::vector<NodeState> make_nodes(const Hostfile& hostfile, const std::vector<HostTopology>& topologies,
                                  const LayoutOptions& options) {
  std::vector<NodeState> nodes;
  for (int h = 0; h < static_cast<int>(hostfile.hosts.size()); ++h) {
    DLRM_CHECK(!topologies[h].numa.empty(), "host {} ({} line {}) has no NUMA node with cores in its topology",
               hostfile.hosts[h].name, hostfile.source, hostfile.hosts[h].line);
    for (const auto& numa : topologies[h].numa) {
      NodeState node;
      node.host = h;
      node.numa = numa.index;
      node.cores = static_cast<int>(numa.cores.size());
      node.capacity = static_cast<uint64_t>(static_cast<double>(numa.memory_bytes) * options.mem_fraction);
      nodes.push_back(node);
    }
  }
  NodeState& first = nodes.front();
  first.reserved = front_need(options);
  DLRM_CHECK(first.reserved <= first.capacity,
             "no room for the scenario's front (rank 0, {}) on {}, the first host's first NUMA node: it offers {} "
             "({:.0f}% of its memory); put a host with more memory first in {}",
             format_binary_bytes(first.reserved), node_name(hostfile, first), format_binary_bytes(first.capacity),
             options.mem_fraction * 100, hostfile.source);
  return nodes;
}

// The whole model against the whole memory first: the clearest message.
void check_total_memory(const Hostfile& hostfile, const std::vector<HostTopology>& topologies,
                        const std::vector<NodeState>& nodes, const ModelNeeds& model, const LayoutOptions& options) {
  uint64_t memory = 0, capacity = 0;
  for (const auto& topology : topologies) {
    for (const auto& numa : topology.numa) memory += numa.memory_bytes;
  }
  for (const auto& node : nodes) capacity += node.capacity;
  const int shards = static_cast<int>(model.shard_bytes.size());
  const int hosts = static_cast<int>(hostfile.hosts.size());
  const uint64_t dense = dense_need(model);
  const uint64_t front = front_need(options);
  uint64_t shard_total = 0, need = dense + front;
  for (uint64_t bytes : model.shard_bytes) {
    shard_total += bytes;
    need += shard_need(bytes);
  }
  DLRM_CHECK(need <= capacity,
             "the model does not fit the memory of the hosts given: its {} need {} ({} of rows + {} per shard "
             "rank) and a dense rank {} more{}, {} in all; the {} of {} in {} offer {} ({:.0f}% of {}), short by {}. "
             "Add hosts, use hosts with more memory, or raise --mem-fraction (now {:.2f})",
             plural(shards, "shard"), format_binary_bytes(need - dense - front), format_binary_bytes(shard_total),
             format_binary_bytes(kShardRankOverheadBytes), format_binary_bytes(dense),
             front > 0 ? fmt::format(", the scenario's front {}", format_binary_bytes(front)) : "",
             format_binary_bytes(need),
             plural(static_cast<int>(nodes.size()), "NUMA node"), plural(hosts, "host"), hostfile.source,
             format_binary_bytes(capacity), options.mem_fraction * 100, format_binary_bytes(memory), format_binary_bytes(need - capacity),
             options.mem_fraction);
}

// Shards largest first, spread over the NUMA nodes; if that fails, by free
// memory (with a note); if that fails too, throws naming the shard that fits
// nowhere. Returns the slots left on each host.
std::vector<int> place_all_shards(std::vector<NodeState>& nodes, const Hostfile& hostfile, const ModelNeeds& model,
                                  const LayoutOptions& options, std::vector<std::string>& notes) {
  const int shards = static_cast<int>(model.shard_bytes.size());
  const int hosts = static_cast<int>(hostfile.hosts.size());
  std::vector<int> order(shards);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return model.shard_bytes[a] > model.shard_bytes[b]; });
  std::vector<int> slots_left(hosts);
  auto reset = [&] {
    for (int h = 0; h < hosts; ++h) slots_left[h] = hostfile.hosts[h].slots;
    for (auto& node : nodes) {
      node.shards.clear();
      node.used = node.reserved;
    }
  };
  reset();
  if (place_shards(nodes, slots_left, order, model, /*spread=*/true) < 0) return slots_left;
  reset();
  const int failed = place_shards(nodes, slots_left, order, model, /*spread=*/false);
  if (failed >= 0) {
    uint64_t largest_free = 0, largest_capacity = 0, shard_total = 0;
    for (uint64_t bytes : model.shard_bytes) shard_total += bytes;
    const NodeState* where = &nodes.front();
    for (const auto& node : nodes) {
      largest_capacity = std::max(largest_capacity, node.capacity);
      if (slots_left[node.host] > 0 && node.free() >= largest_free) {
        largest_free = node.free();
        where = &node;
      }
    }
    uint64_t per_shard = largest_capacity > kShardRankOverheadBytes ? largest_capacity - kShardRankOverheadBytes : 1;
    uint64_t suggest = std::max<uint64_t>(shards + 1, (shard_total + per_shard - 1) / per_shard * 2);
    DLRM_FAIL("shard {} ({}) does not fit any NUMA node: once the larger shards are placed, the most memory left "
              "on a NUMA node with a free slot is {} ({}); a node holds at most {} ({:.0f}% of its memory). "
              "Re-shard into more, smaller shards (dlrm-shard ... --shards {}), add hosts, or raise --mem-fraction",
              failed, format_binary_bytes(model.shard_bytes[failed]), format_binary_bytes(largest_free), node_name(hostfile, *where),
              format_binary_bytes(largest_capacity), options.mem_fraction * 100, suggest);
  }
  notes.push_back("shards were placed by free memory (spreading them evenly over NUMA nodes did not fit)");
  return slots_left;
}

// Dense ranks each node wants: --dense-per-node, or one where a core is
// free; fewer where the memory left does not hold them (with a note).
std::vector<int> dense_wanted(const std::vector<NodeState>& nodes, const Hostfile& hostfile, const ModelNeeds& model,
                              const LayoutOptions& options, std::vector<std::string>& notes) {
  const uint64_t dense = dense_need(model);
  std::vector<int> want(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto& node = nodes[i];
    want[i] = options.dense_per_node > 0 ? options.dense_per_node : (node.free_cores() > 0 ? 1 : 0);
    int room = static_cast<int>(std::min<uint64_t>(node.free() / dense, 1 << 20));
    if (want[i] > room) {
      notes.push_back(fmt::format("{}: memory for {} of the {} wanted ({} each)", node_name(hostfile, node),
                                  plural(room, "dense rank"), want[i], format_binary_bytes(dense)));
      want[i] = room;
    }
  }
  return want;
}

// Host by host, the wanted dense ranks in turns over the host's nodes (most
// free cores first) while the host has slots; a note names a host whose
// slots ran out.
void place_dense(std::vector<NodeState>& nodes, std::vector<int>& slots_left, const std::vector<int>& want,
                 const Hostfile& hostfile, const ModelNeeds& model, std::vector<std::string>& notes) {
  const uint64_t dense = dense_need(model);
  for (int h = 0; h < static_cast<int>(hostfile.hosts.size()); ++h) {
    std::vector<int> mine;
    int wanted = 0;
    for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
      if (nodes[i].host == h) {
        mine.push_back(i);
        wanted += want[i];
      }
    }
    std::stable_sort(mine.begin(), mine.end(),
                     [&](int a, int b) { return nodes[a].free_cores() > nodes[b].free_cores(); });
    int given = 0;
    for (bool progress = true; progress && slots_left[h] > 0;) {
      progress = false;
      for (int i : mine) {
        if (nodes[i].dense < want[i] && slots_left[h] > 0) {
          ++nodes[i].dense;
          nodes[i].used += dense;
          --slots_left[h];
          ++given;
          progress = true;
        }
      }
    }
    if (given < wanted) {
      notes.push_back(fmt::format("host {}: its {} leave room for {} of the {} wanted ({} line {})",
                                  hostfile.hosts[h].name, plural(hostfile.hosts[h].slots, "slot"),
                                  plural(given, "dense rank"), wanted, hostfile.source, hostfile.hosts[h].line));
    }
  }
}

// No dense rank yet: one on the node with the most free cores (then the
// fewest shards, the most free memory) that holds it; throws if none does.
void ensure_one_dense(std::vector<NodeState>& nodes, std::vector<int>& slots_left, const ModelNeeds& model) {
  int dense_total = 0;
  for (const auto& node : nodes) dense_total += node.dense;
  if (dense_total > 0) return;
  const uint64_t dense = dense_need(model);
  const int best = lowest_fitting_node(nodes, slots_left, dense, [&](int i) {
    const auto& n = nodes[i];
    return std::make_tuple(-n.free_cores(), static_cast<int64_t>(n.shards.size()), -static_cast<int64_t>(n.free()),
                           i);
  });
  DLRM_CHECK(best >= 0,
             "no room for a dense rank: no NUMA node with a free slot has {} left for one (dense weights {} + {} "
             "working memory) after the shards; add hosts or slots, or raise --mem-fraction",
             format_binary_bytes(dense), format_binary_bytes(model.dense_bytes), format_binary_bytes(kDenseRankOverheadBytes));
  ++nodes[best].dense;
  nodes[best].used += dense;
  --slots_left[nodes[best].host];
}

struct DenseBinding {
  std::vector<int> cores;
  int threads = 1;
};

// Cores and threads of a node's `d` dense ranks, given its `cores` and the
// `free_cores` the shard ranks left; notes say where ranks share cores or
// cores stay idle.
std::vector<DenseBinding> bind_dense(int d, const std::vector<int>& cores, const std::vector<int>& free_cores,
                                     int threads_per_dense, const std::string& where,
                                     std::vector<std::string>& notes) {
  const int c = static_cast<int>(cores.size());
  const int f = static_cast<int>(free_cores.size());
  const int t = threads_per_dense;
  std::vector<DenseBinding> out(d);
  if (d > 0 && f == 0) {
    for (int i = 0; i < d; ++i) {
      out[i].cores = cores;
      out[i].threads = t > 0 ? t : 1;
    }
    notes.push_back(fmt::format("{}: no core left for {}; {} the node's {} with the shard ranks (oversubscribed)",
                                where, plural(d, "dense rank"), d == 1 ? "it shares" : "they share",
                                plural(c, "core")));
  } else if (d > 0 && t > 0) {
    for (int i = 0; i < d; ++i) {
      auto& block = out[i].cores;
      for (int j = 0; j < std::min(t, f); ++j) block.push_back(free_cores[(i * t + j) % f]);
      std::sort(block.begin(), block.end());
      block.erase(std::unique(block.begin(), block.end()), block.end());
      out[i].threads = t;
    }
    if (d * t > f) {
      notes.push_back(fmt::format("{}: {} x {} threads need {} cores but {} are free (oversubscribed)", where,
                                  plural(d, "dense rank"), t, d * t, f));
    } else if (d * t < f) {
      notes.push_back(fmt::format("{}: {} stay idle (--threads-per-dense {})", where, plural(f - d * t, "core"), t));
    }
  } else if (d > 0 && d > f) {
    for (int i = 0; i < d; ++i) out[i].cores = {free_cores[i % f]};
    notes.push_back(fmt::format("{}: {} share {} (oversubscribed)", where, plural(d, "dense rank"),
                                plural(f, "free core")));
  } else if (d > 0) {
    int begin = 0;
    for (int i = 0; i < d; ++i) {
      int size = f / d + (i < f % d ? 1 : 0);
      out[i].cores.assign(free_cores.begin() + begin, free_cores.begin() + begin + size);
      out[i].threads = size;
      begin += size;
    }
  }
  return out;
}

// The ranks of one NUMA node: each shard rank pinned to one core (in shard
// order), the dense ranks on the cores left.
void add_node_ranks(const NodeState& node, const std::vector<int>& cores, const std::string& where,
                    const ModelNeeds& model, const LayoutOptions& options, Layout& layout) {
  const int c = static_cast<int>(cores.size());
  const int k = static_cast<int>(node.shards.size());
  const int d = node.dense;
  if (k + d == 0) return;
  std::vector<int> shard_ids = node.shards;
  std::sort(shard_ids.begin(), shard_ids.end());
  for (int j = 0; j < k; ++j) {
    layout.ranks.push_back(RankPlan{.host = node.host,
                                    .numa = node.numa,
                                    .role = RankRole::kShard,
                                    .shard = shard_ids[j],
                                    .cores = node.shards_share ? cores : std::vector<int>{cores[j % c]},
                                    .threads = 1,
                                    .memory_bytes = shard_need(model.shard_bytes[shard_ids[j]])});
  }
  if (k > c && !node.shards_share) {
    layout.notes.push_back(
        fmt::format("{}: {} share its {} (oversubscribed)", where, plural(k, "shard rank"), plural(c, "core")));
  }
  const std::vector<int> free_cores(cores.begin() + (node.shards_share ? 0 : std::min(k, c)), cores.end());
  for (auto& binding : bind_dense(d, cores, free_cores, options.threads_per_dense, where, layout.notes)) {
    layout.ranks.push_back(RankPlan{.host = node.host,
                                    .numa = node.numa,
                                    .role = RankRole::kDense,
                                    .cores = std::move(binding.cores),
                                    .threads = binding.threads,
                                    .memory_bytes = dense_need(model)});
  }
}

// A scenario run's front: one thread on every core of the first host's first
// NUMA node, where make_nodes reserved its memory.
void add_front(const NodeState& node, const std::vector<int>& cores, Layout& layout) {
  layout.ranks.push_back(RankPlan{.host = node.host,
                                  .numa = node.numa,
                                  .role = RankRole::kFront,
                                  .cores = cores,
                                  .threads = 1,
                                  .memory_bytes = node.reserved});
  layout.front = true;
}

// World ranks: the front (if any) is rank 0; shard s is rank s, or s + 1
// after a front (dlrm-cluster's default roles, and one app context for all
// shard ranks); dense ranks follow, host by host.
void number_ranks(Layout& layout, int shards) {
  std::stable_sort(layout.ranks.begin(), layout.ranks.end(), [](const RankPlan& a, const RankPlan& b) {
    if (a.role != b.role) return a.role < b.role;  // front, shards, dense ranks
    return a.role == RankRole::kShard && a.shard < b.shard;
  });
  layout.shard_rank.assign(shards, -1);
  int dense_index = 0;
  for (int rank = 0; rank < layout.size(); ++rank) {
    auto& r = layout.ranks[rank];
    r.rank = rank;
    if (r.role == RankRole::kShard) {
      layout.shard_rank[r.shard] = rank;
    } else if (r.role == RankRole::kDense) {
      r.dense = dense_index++;
    }
  }
}

// Oversubscribed: a core bound by two ranks, or more threads than cores. The
// front, which mostly sleeps, does not count.
bool shares_cores(const Layout& layout) {
  bool shared = false;
  std::map<std::pair<int, int>, int> binders;
  for (const auto& r : layout.ranks) {
    if (r.role == RankRole::kFront) continue;
    for (int core : r.cores) {
      if (++binders[{r.host, core}] > 1) shared = true;
    }
    if (r.threads > static_cast<int>(r.cores.size())) shared = true;
  }
  return shared;
}

}  // namespace

ShardCores parse_shard_cores(const std::string& name) {
  if (name == "auto") return ShardCores::kAuto;
  if (name == "own") return ShardCores::kOwn;
  if (name == "shared") return ShardCores::kShared;
  DLRM_FAIL("unknown --shard-cores '{}'; choose auto, own or shared", name);
}

const char* to_string(ShardCores mode) {
  switch (mode) {
    case ShardCores::kOwn:
      return "own";
    case ShardCores::kShared:
      return "shared";
    case ShardCores::kAuto:
      break;
  }
  return "auto";
}

ShardCoreEstimate estimate_shard_cores(int cores, int shards, double pool_us, double mlp_us) {
  DLRM_ASSERT(cores >= 1 && shards >= 1);
  ShardCoreEstimate e;
  e.pool_us = pool_us;
  e.mlp_us = mlp_us;
  e.shared_us = mlp_us / cores + pool_us;
  e.own_us = shards < cores ? std::max(mlp_us / (cores - shards), pool_us / shards)
                            : std::numeric_limits<double>::infinity();
  e.own = e.own_us < e.shared_us;
  return e;
}

int Layout::dense_ranks() const {
  int n = 0;
  for (const auto& r : ranks) n += r.role == RankRole::kDense ? 1 : 0;
  return n;
}

std::vector<int> Layout::ranks_per_host() const {
  std::vector<int> count(hostfile.hosts.size(), 0);
  for (const auto& r : ranks) ++count[r.host];
  return count;
}

int Layout::hosts_used() const {
  auto count = ranks_per_host();
  return static_cast<int>(std::count_if(count.begin(), count.end(), [](int n) { return n > 0; }));
}

const NodeUse& Layout::node(int host, int numa) const {
  for (const auto& n : nodes) {
    if (n.host == host && n.numa == numa) return n;
  }
  DLRM_ASSERT(false);
  return nodes.front();
}

std::string Layout::shard_ranks_env() const {
  std::string out;
  for (size_t s = 0; s < shard_rank.size(); ++s) {
    if (s > 0) out += ',';
    out += std::to_string(shard_rank[s]);
  }
  return out;
}

Layout choose_layout(const Hostfile& hostfile, const std::vector<HostTopology>& topologies,
                     const ModelNeeds& model, const LayoutOptions& options) {
  DLRM_ASSERT(topologies.size() == hostfile.hosts.size());
  check_request(hostfile, model, options);
  Layout layout;
  layout.hostfile = hostfile;
  layout.topologies = topologies;
  layout.mem_fraction = options.mem_fraction;

  std::vector<NodeState> nodes = make_nodes(hostfile, topologies, options);
  check_total_memory(hostfile, topologies, nodes, model, options);
  // 1. Shards, largest first.
  std::vector<int> slots_left = place_all_shards(nodes, hostfile, model, options, layout.notes);
  // 2. Whether they get cores of their own.
  choose_shard_cores(nodes, hostfile, model, options, layout.notes);
  // 3. Dense ranks on the cores left.
  place_dense(nodes, slots_left, dense_wanted(nodes, hostfile, model, options, layout.notes), hostfile, model,
              layout.notes);
  ensure_one_dense(nodes, slots_left, model);
  // 4. Cores and threads, node by node.
  for (const auto& node : nodes) {
    add_node_ranks(node, topologies[node.host].numa[node.numa].cores, node_name(hostfile, node), model, options,
                   layout);
  }
  if (options.front) add_front(nodes.front(), topologies[0].numa[nodes.front().numa].cores, layout);
  number_ranks(layout, static_cast<int>(model.shard_bytes.size()));
  for (const auto& node : nodes) {
    if (node.shards_share) layout.shared_nodes.push_back(static_cast<int>(layout.nodes.size()));
    layout.nodes.push_back(NodeUse{node.host, node.numa, node.capacity, node.used});
  }
  layout.oversubscribed = shares_cores(layout);
  return layout;
}

}  // namespace dlrm::launcher
