// What a scenario run is asked to do: MLPerf LoadGen's test settings, as
// given on dlrm-cluster's command line (docs/scenarios.md explains them).
//
//   offline        every query issued at once; metric samples/s
//   server         Poisson arrivals at target_qps; VALID iff p99 latency <=
//                  latency_bound, the last query scheduled at or after
//                  min_duration, at least min_query_count queries, and
//                  LoadGen's early stopping
//   single-stream  the next query issued when the last completes; metric
//                  the 90th percentile latency (early-stopping estimate)
// A query is one user's candidates: 1 pair, a fixed N pairs, or MLPerf's
// aggregated sizes (QuerySize).
#pragma once

#include <cstdint>
#include <string>

namespace dlrm::scenario {

enum class Scenario { kOffline, kServer, kSingleStream };
enum class Mode { kPerformance, kAccuracy };

// "offline", "server", "single-stream" (LoadGen's names: "Offline", "Server", "SingleStream").
Scenario parse_scenario(const std::string& name);
const char* to_string(Scenario scenario);
const char* loadgen_name(Scenario scenario);
Mode parse_mode(const std::string& name);  // "performance", "accuracy"
const char* to_string(Mode mode);
const char* loadgen_name(Mode mode);       // "PerformanceOnly", "AccuracyOnly"

// Pairs per query: kOne (v1 style), kFixed N, or kMlperf: drawn uniformly
// from MLPerf's 20 quantiles (kMlperfQuantiles, mean 270).
struct QuerySize {
  enum class Kind { kOne, kFixed, kMlperf };
  Kind kind = Kind::kMlperf;
  int fixed = 1;
  int max_pairs() const;
  double mean_pairs() const;
  std::string describe() const;  // "1", "100", "mlperf"
};
// "1", a positive count, or "mlperf"; throws naming --pairs-per-query.
QuerySize parse_query_size(const std::string& text);
inline constexpr int kMlperfQuantiles[20] = {100, 100, 200, 200, 200, 200, 200, 200, 200, 200,
                                             200, 200, 200, 200, 300, 300, 400, 500, 600, 700};

struct Settings {
  Scenario scenario = Scenario::kServer;
  Mode mode = Mode::kPerformance;
  double target_qps = 0;         // server: arrivals per s; offline: expected queries/s (0: measured by warm-up)
  double latency_bound_ms = 60;  // server: the p99 bound
  double min_duration_s = 10;
  int64_t min_query_count = 100;
  QuerySize pairs;
  int64_t max_wait_us = 1000;  // the dynamic batcher's wait for a partial batch
  uint64_t seed = 1;
  bool find_peak = false;      // server: bisection for the highest VALID QPS

  // The settings of a quick run on a small machine (tens of seconds), or
  // MLPerf's official ones (600 s, 60 ms, the minimum counts).
  static Settings quick(Scenario scenario);
  static Settings mlperf(Scenario scenario);
  // Throws dlrm::Error naming the option and what to do: QPS <= 0, bound <=
  // 0, durations or counts < 0, a data file with fewer samples than one
  // query needs, --find-peak outside server.
  void validate(int64_t samples) const;
  // "target_qps = 100, latency bound = 60 ms, ..." for the summary.
  std::string describe() const;
};

}  // namespace dlrm::scenario
