// The layout as text: role names, core lists, the Open MPI rankfile and the
// human table.
#include "dlrm/launcher/layout.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "dlrm/common/format.h"

namespace dlrm::launcher {

const char* to_string(RankRole role) {
  switch (role) {
    case RankRole::kFront:
      return "front";
    case RankRole::kShard:
      return "shard";
    case RankRole::kDense:
      break;
  }
  return "dense";
}

std::string cores_text(const std::vector<int>& cores) {
  std::string out;
  for (size_t i = 0; i < cores.size();) {
    size_t j = i;
    while (j + 1 < cores.size() && cores[j + 1] == cores[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j == i ? std::to_string(cores[i]) : fmt::format("{}-{}", cores[i], cores[j]);
    i = j + 1;
  }
  return out;
}

std::string rankfile_text(const Layout& layout) {
  std::string out = "# Open MPI rankfile written by dlrm-launch: logical core indices per host\n";
  for (const auto& r : layout.ranks) {
    out += fmt::format("rank {}={} slot={}\n", r.rank, layout.hostfile.hosts[r.host].name, cores_text(r.cores));
  }
  return out;
}

std::string layout_table(const Layout& layout) {
  std::string out;
  auto per_host = layout.ranks_per_host();
  for (size_t h = 0; h < layout.hostfile.hosts.size(); ++h) {
    out += fmt::format("host {}: {} slots, {} ({}){}\n", layout.hostfile.hosts[h].name, layout.hostfile.hosts[h].slots,
                       layout.topologies[h].summary(), layout.topologies[h].origin,
                       per_host[h] == 0 ? "; no rank placed here" : "");
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"host", "numa", "rank", "role", "shard", "cores", "threads", "shard bytes",
                  fmt::format("node memory (planned / {:.0f}%)", layout.mem_fraction * 100)});
  // Rows host by host, NUMA node by NUMA node: the front, shards, dense ranks.
  std::vector<const RankPlan*> order;
  for (const auto& r : layout.ranks) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](const RankPlan* a, const RankPlan* b) {
    return std::make_tuple(a->host, a->numa, a->role, a->rank) < std::make_tuple(b->host, b->numa, b->role, b->rank);
  });
  std::pair<int, int> last{-1, -1};
  for (const RankPlan* rank : order) {
    const RankPlan& r = *rank;
    std::string memory;
    if (std::make_pair(r.host, r.numa) != last) {
      const auto& node = layout.node(r.host, r.numa);
      memory = fmt::format("{} / {}", format_binary_bytes(node.used_bytes), format_binary_bytes(node.capacity_bytes));
      last = {r.host, r.numa};
    }
    bool shard = r.role == RankRole::kShard;
    rows.push_back({layout.hostfile.hosts[r.host].name, std::to_string(r.numa), std::to_string(r.rank),
                    to_string(r.role), shard ? std::to_string(r.shard) : "-", cores_text(r.cores),
                    std::to_string(r.threads),
                    shard ? format_binary_bytes(r.memory_bytes - kShardRankOverheadBytes) : "-", memory});
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line = " ";
    for (size_t c = 0; c < row.size(); ++c) {
      bool right = c == 2 || c == 6 || c == 7;
      line += ' ';
      line += right ? fmt::format("{:>{}}", row[c], width[c]) : fmt::format("{:<{}}", row[c], width[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  out += fmt::format("{} ranks on {}: {}{} shard + {} dense; DLRM_SHARD_RANKS={}{}\n", layout.size(),
                     plural(layout.hosts_used(), "host"), layout.front ? "1 front + " : "",
                     layout.shard_rank.size(), layout.dense_ranks(),
                     layout.shard_ranks_env(), layout.oversubscribed ? " (oversubscribed: ranks share cores)" : "");
  for (const auto& note : layout.notes) out += "note: " + note + "\n";
  return out;
}

}  // namespace dlrm::launcher
