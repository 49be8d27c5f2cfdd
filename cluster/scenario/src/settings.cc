#include "dlrm/scenario/settings.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "dlrm/common/error.h"

namespace dlrm::scenario {

Scenario parse_scenario(const std::string& name) {
  if (name == "offline") return Scenario::kOffline;
  if (name == "server") return Scenario::kServer;
  if (name == "single-stream") return Scenario::kSingleStream;
  DLRM_FAIL("unknown --scenario '{}'; choose offline, server or single-stream", name);
}

const char* to_string(Scenario scenario) {
  switch (scenario) {
    case Scenario::kOffline: return "offline";
    case Scenario::kServer: return "server";
    case Scenario::kSingleStream: return "single-stream";
  }
  return "?";
}

const char* loadgen_name(Scenario scenario) {
  switch (scenario) {
    case Scenario::kOffline: return "Offline";
    case Scenario::kServer: return "Server";
    case Scenario::kSingleStream: return "SingleStream";
  }
  return "?";
}

Mode parse_mode(const std::string& name) {
  if (name == "performance") return Mode::kPerformance;
  if (name == "accuracy") return Mode::kAccuracy;
  DLRM_FAIL("unknown --mode '{}'; choose performance or accuracy", name);
}

const char* to_string(Mode mode) { return mode == Mode::kPerformance ? "performance" : "accuracy"; }
const char* loadgen_name(Mode mode) { return mode == Mode::kPerformance ? "PerformanceOnly" : "AccuracyOnly"; }

int QuerySize::max_pairs() const {
  switch (kind) {
    case Kind::kOne: return 1;
    case Kind::kFixed: return fixed;
    case Kind::kMlperf: return *std::max_element(std::begin(kMlperfQuantiles), std::end(kMlperfQuantiles));
  }
  return 1;
}

double QuerySize::mean_pairs() const {
  if (kind != Kind::kMlperf) return max_pairs();
  return std::accumulate(std::begin(kMlperfQuantiles), std::end(kMlperfQuantiles), 0.0) / 20.0;
}

std::string QuerySize::describe() const {
  return kind == Kind::kMlperf ? "mlperf" : std::to_string(max_pairs());
}

QuerySize parse_query_size(const std::string& text) {
  QuerySize size;
  if (text == "mlperf") return size;
  char* end = nullptr;
  const long n = std::strtol(text.c_str(), &end, 10);
  DLRM_CHECK(!text.empty() && end && *end == '\0' && n >= 1 && n <= (1 << 20),
             "--pairs-per-query '{}' is not 1, a pair count (1 .. 1048576) or mlperf", text);
  size.kind = n == 1 ? QuerySize::Kind::kOne : QuerySize::Kind::kFixed;
  size.fixed = static_cast<int>(n);
  return size;
}

Settings Settings::quick(Scenario scenario) {
  Settings s;
  s.scenario = scenario;
  s.min_duration_s = 10;
  switch (scenario) {
    case Scenario::kServer:
      s.target_qps = 100;
      s.min_query_count = 100;
      break;
    case Scenario::kOffline: s.min_query_count = 1; break;
    case Scenario::kSingleStream: s.min_query_count = 64; break;
  }
  return s;
}

Settings Settings::mlperf(Scenario scenario) {
  Settings s = quick(scenario);
  s.min_duration_s = 600;
  s.latency_bound_ms = 60;
  if (scenario == Scenario::kOffline) s.min_query_count = 24576;
  return s;
}

void Settings::validate(int64_t samples) const {
  DLRM_CHECK(std::isfinite(target_qps) && target_qps >= 0, "--target-qps must be a positive rate, got {}",
             target_qps);
  DLRM_CHECK(scenario != Scenario::kServer || target_qps > 0,
             "--target-qps must be positive for the server scenario, got {}; e.g. --target-qps 100", target_qps);
  DLRM_CHECK(std::isfinite(latency_bound_ms) && latency_bound_ms > 0,
             "--latency-bound-ms must be positive, got {}", latency_bound_ms);
  DLRM_CHECK(std::isfinite(min_duration_s) && min_duration_s >= 0, "--min-duration-s must be >= 0, got {}",
             min_duration_s);
  DLRM_CHECK(min_query_count >= 0, "--min-query-count must be >= 0, got {}", min_query_count);
  DLRM_CHECK(max_wait_us >= 0, "--max-wait-us must be >= 0, got {}", max_wait_us);
  DLRM_CHECK(!find_peak || scenario == Scenario::kServer,
             "--find-peak searches the server scenario's highest valid QPS; use it with --scenario server, not {}",
             to_string(scenario));
  DLRM_CHECK(!find_peak || mode == Mode::kPerformance, "--find-peak needs --mode performance");
  DLRM_CHECK(samples >= pairs.max_pairs(),
             "the data holds {} samples but a query may need {} (--pairs-per-query {}); use more samples or "
             "smaller queries",
             samples, pairs.max_pairs(), pairs.describe());
}

std::string Settings::describe() const {
  return fmt::format(
      "scenario = {}, mode = {}, target_qps = {}, latency bound = {} ms, min duration = {} s, min query count = "
      "{}, pairs per query = {}, max wait = {} us, seed = {}",
      to_string(scenario), to_string(mode), target_qps, latency_bound_ms, min_duration_s, min_query_count,
      pairs.describe(), max_wait_us, seed);
}

}  // namespace dlrm::scenario
