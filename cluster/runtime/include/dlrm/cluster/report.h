// What a cluster run measured: REPORT.json for machines, a table for people.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dlrm/cluster/roles.h"
#include "dlrm/scenario/result.h"

namespace dlrm::cluster {

// Pipeline stages timed on each rank. Dense ranks: read_input .. top_mlp
// (local_pool: pooling the rows themselves, --exchange-transport pool);
// shard ranks: shard_wait (waiting for requests or for the answer to go out)
// and pool. exchange_* is time spent waiting for an all-to-all to complete.
enum class Stage : int {
  kReadInput,
  kRoute,
  kExchangeIndices,
  kBottomMlp,
  kExchangePooled,
  kLocalPool,
  kAssemble,
  kInteraction,
  kTopMlp,
  kShardWait,
  kPool,
  kCount
};
inline constexpr int kStageCount = static_cast<int>(Stage::kCount);
const char* stage_name(Stage stage);
bool is_dense_stage(Stage stage);

struct RankReport {
  int rank = 0;
  Role role = Role::kDense;
  int index = 0;  // shard or dense index
  std::string host;
  int threads = 1;
  uint64_t peak_rss_bytes = 0;
  uint64_t embedding_bytes = 0;           // bytes of rows the rank holds
  uint64_t embedding_resident_bytes = 0;  // of those, resident in memory (mincore)
  int64_t samples = 0;                    // samples predicted (dense ranks)
  double load_seconds = 0;
  std::array<double, kStageCount> stage_seconds{};
};

// A scenario run (--scenario): LoadGen's judgement of the run reported, and
// with --find-peak every server trial of the search.
struct ScenarioTrial {
  double target_qps = 0;
  bool valid = false;
  double p99_ms = 0;
  double samples_per_s = 0;
};
struct ScenarioReport {
  scenario::ScenarioResult result;   // the run reported (with --find-peak: the peak's trial)
  double offline_samples_per_s = 0;  // --find-peak: the offline rate the search started from
  double offline_seconds = 0;        // --find-peak: how long that offline trial ran
  std::vector<ScenarioTrial> trials;
  std::optional<double> peak_qps;
  std::string summary;  // mlperf_log_summary.txt-shaped
};

struct Report {
  std::string model;
  std::string data;
  std::string dtype;
  std::string plan;
  int batch = 0;
  int shards = 0;
  int dense_ranks = 0;
  int64_t batches = 0;  // per dense rank (the largest count)
  int64_t pairs = 0;
  double seconds = 0;
  double pairs_per_s = 0;
  double load_seconds = 0;  // start to first batch
  std::optional<double> auc;
  std::optional<double> reference_max_abs_diff;
  std::optional<double> reference_auc;  // AUC of --reference's predictions on the same labels
  double auc_budget = 0;                // allowed relative loss against reference_auc
  std::optional<bool> auc_within_budget;
  std::string mlp = "fp32";
  std::string interaction = "fp32";  // precision of the interaction's products
  std::string exchange_type = "fp32";  // element type of pooled rows on the wire
  std::string exchange_transport = "alltoall";  // how they crossed: alltoall, shm, shm+alltoall or pool
  double latency_p50_ms = 0, latency_p95_ms = 0, latency_p99_ms = 0;
  std::vector<std::pair<std::string, double>> stage_seconds;  // mean over the ranks running each stage
  uint64_t index_bytes = 0;   // dense -> shard, all ranks, incl. per-batch headers and counts
  uint64_t pooled_bytes = 0;  // shard -> dense
  double exchange_bytes_per_pair = 0;
  double index_bytes_per_pair = 0;    // the part of it going out (indices) ...
  double pooled_bytes_per_pair = 0;   // ... and coming back (pooled rows)
  // 4 * the data's lookups per pair + tables * dim * element bytes: the indices out, one row per table back
  double minimum_bytes_per_pair = 0;
  std::vector<RankReport> ranks;
  std::optional<ScenarioReport> scenario;
};

std::string report_json(const Report& report);
// Written atomically.
void write_report(const Report& report, const std::filesystem::path& path);
// The human summary: a few lines and a small per-rank table.
std::string report_table(const Report& report);
// What crossed between the ranks, for people: bytes per pair against the
// minimum and how, or that the dense ranks pooled the rows themselves (pool).
std::string exchange_summary(const Report& report);

}  // namespace dlrm::cluster
