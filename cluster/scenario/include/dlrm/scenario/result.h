// What a scenario run measured, judged by LoadGen's rules, and its
// mlperf_log_summary.txt-shaped summary.
//
// latency(q) = completed_ns - scheduled_ns  (server: the Poisson schedule;
//              offline: 0 for every query; single-stream: when it was issued)
//   offline        samples/s = queries / (last completion)            (LoadGen's "samples" are queries)
//                  min duration: last completion >= min_duration
//   server         completed samples/s = (n - 1) / last completion
//                  scheduled samples/s = (n - 1) / last scheduled time
//                  VALID iff p99 <= bound, last scheduled >= min_duration,
//                  n >= min_query_count, early stopping (early_stopping.h)
//   single-stream  metric: the 90th percentile latency and its early-stopping
//                  estimate; min duration: last issue >= min_duration
// Percentiles 50, 90, 95, 97, 99, 99.9 by percentile_index().
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dlrm/scenario/settings.h"

namespace dlrm::scenario {

struct QueryRecord {
  int64_t id = 0;
  int32_t pairs = 0;
  int64_t scheduled_ns = 0, issued_ns = 0, completed_ns = 0;  // from the run's start, one monotonic clock
};

struct LatencyPercentile {
  double q = 0;
  int64_t ns = 0;
};

struct ScenarioResult {
  Settings settings;
  bool interrupted = false;  // stopped by a signal: what ran, never VALID
  int64_t queries = 0;       // issued and completed
  int64_t pairs = 0;
  double last_completed_s = 0, last_scheduled_s = 0, last_issued_s = 0;
  int64_t min_ns = 0, max_ns = 0;
  double mean_ns = 0;
  std::vector<LatencyPercentile> percentiles;  // 0.5, 0.9, 0.95, 0.97, 0.99, 0.999
  double samples_per_s = 0;            // offline: queries / last completion; server: completed (n - 1) / last
  double scheduled_samples_per_s = 0;  // server
  double pairs_per_s = 0;              // pairs / last completion
  int64_t metric_ns = 0;               // single-stream: the 90th percentile latency
  // Constraints.
  bool has_perf_constraint = false;  // server
  bool perf_ok = true, duration_ok = false, queries_ok = false, early_ok = true;
  int64_t overlatency = 0, early_needed = 0, early_discarded = 0, early_estimate_ns = 0;
  bool valid() const { return !interrupted && perf_ok && duration_ok && queries_ok && early_ok; }
  int64_t percentile_ns(double q) const;
};

// `records`: every query issued (each completed).
ScenarioResult evaluate(const Settings& settings, std::vector<QueryRecord> records, bool interrupted);

// The summary (the lines of LoadGen's mlperf_log_summary.txt that apply,
// then dlrm-cluster's own: pairs per second, pairs per query).
std::string summary_text(const ScenarioResult& result, const std::string& sut_name);

// query_id,pairs,scheduled_ns,issued_ns,completed_ns: one line per query (staged).
void write_latency_log(const std::filesystem::path& path, const std::vector<QueryRecord>& records);

}  // namespace dlrm::scenario
