#include "dlrm/tune/layouts.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"

namespace dlrm::tune {

launcher::LayoutOptions layout_options(const TrialConfig& config, bool int8_mlp) {
  launcher::LayoutOptions options;
  options.shard_cores = launcher::parse_shard_cores(config.shard_cores);
  options.dense_per_node = config.dense_per_node;
  options.threads_per_dense = config.threads_per_dense;
  options.int8_mlp = int8_mlp;
  return options;
}

std::string layout_label(const launcher::Layout& layout) {
  std::map<int, int> dense_by_threads;
  for (const auto& r : layout.ranks) {
    if (r.role == launcher::RankRole::kDense) ++dense_by_threads[r.threads];
  }
  std::string dense;
  for (const auto& [threads, n] : dense_by_threads) {
    dense += fmt::format("{}{} dense x {}", dense.empty() ? "" : " + ", n, threads);
  }
  const int shards = static_cast<int>(layout.shard_rank.size());
  const bool shared = !layout.shared_nodes.empty();
  return fmt::format("{} ({}) + {}{}", plural(shards, "shard"), shared ? "shares cores" : "own cores", dense,
                     layout.oversubscribed && !shared ? " (oversubscribed)" : "");
}

std::vector<CandidateLayout> candidate_layouts(const launcher::Hostfile& hostfile,
                                               const std::vector<launcher::HostTopology>& topologies,
                                               const launcher::ModelNeeds& model, bool int8_mlp) {
  const std::vector<TrialConfig> tries = {{.shard_cores = "auto"},
                                          {.shard_cores = "own"},
                                          {.shard_cores = "shared"},
                                          {.shard_cores = "shared", .dense_per_node = 2},
                                          {.shard_cores = "own", .dense_per_node = 2}};
  std::vector<CandidateLayout> out;
  std::set<std::string> seen;
  std::string first_error;
  for (const auto& t : tries) {
    try {
      const launcher::Layout layout = choose_layout(hostfile, topologies, model, layout_options(t, int8_mlp));
      std::string signature = rankfile_text(layout);
      for (const auto& r : layout.ranks) signature += fmt::format(" {}:{}", r.rank, r.threads);
      if (seen.insert(signature).second) out.push_back({t, layout_label(layout)});
    } catch (const Error& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  DLRM_CHECK(!out.empty(), "no layout fits the model on the hosts of {}: {}", hostfile.source, first_error);
  return out;
}

}  // namespace dlrm::tune
