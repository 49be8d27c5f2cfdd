#include "dlrm/scenario/result.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "dlrm/common/error.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/scenario/early_stopping.h"

namespace dlrm::scenario {

namespace {

constexpr double kServerPercentile = 0.99;
constexpr double kSingleStreamPercentile = 0.9;
constexpr double kReported[] = {0.5, 0.9, 0.95, 0.97, 0.99, 0.999};

double seconds(int64_t ns) { return static_cast<double>(ns) * 1e-9; }

void judge(const Settings& s, const std::vector<int64_t>& sorted, ScenarioResult& r) {
  const auto n = static_cast<int64_t>(sorted.size());
  r.queries_ok = n >= s.min_query_count;
  switch (s.scenario) {
    case Scenario::kOffline:
      r.duration_ok = r.last_completed_s >= s.min_duration_s;
      break;
    case Scenario::kServer: {
      r.has_perf_constraint = true;
      const auto bound_ns = static_cast<int64_t>(std::llround(s.latency_bound_ms * 1e6));
      r.perf_ok = n > 0 && r.percentile_ns(kServerPercentile) <= bound_ns;
      r.duration_ok = r.last_scheduled_s >= s.min_duration_s;
      const ServerEarlyStopping es = server_early_stopping(sorted, bound_ns, kServerPercentile);
      r.early_ok = es.satisfied;
      r.overlatency = es.overlatency;
      r.early_needed = es.needed;
      break;
    }
    case Scenario::kSingleStream: {
      r.duration_ok = r.last_issued_s >= s.min_duration_s;
      const SingleStreamEarlyStopping es = single_stream_early_stopping(sorted, kSingleStreamPercentile);
      r.early_ok = es.satisfied;
      r.early_needed = es.needed;
      r.early_discarded = es.discarded;
      r.early_estimate_ns = es.estimate_ns;
      r.metric_ns = n > 0 ? r.percentile_ns(kSingleStreamPercentile) : 0;
      break;
    }
  }
}

}  // namespace

int64_t ScenarioResult::percentile_ns(double q) const {
  for (const auto& p : percentiles) {
    if (p.q == q) return p.ns;
  }
  DLRM_FAIL("percentile {} was not computed", q);
}

ScenarioResult evaluate(const Settings& settings, std::vector<QueryRecord> records, bool interrupted) {
  ScenarioResult r;
  r.settings = settings;
  r.interrupted = interrupted;
  r.queries = static_cast<int64_t>(records.size());
  std::vector<int64_t> sorted;
  sorted.reserve(records.size());
  int64_t last_completed = 0, last_scheduled = 0, last_issued = 0;
  for (const QueryRecord& q : records) {
    r.pairs += q.pairs;
    sorted.push_back(q.completed_ns - q.scheduled_ns);
    last_completed = std::max(last_completed, q.completed_ns);
    last_scheduled = std::max(last_scheduled, q.scheduled_ns);
    last_issued = std::max(last_issued, q.issued_ns);
  }
  std::sort(sorted.begin(), sorted.end());
  r.last_completed_s = seconds(last_completed);
  r.last_scheduled_s = seconds(last_scheduled);
  r.last_issued_s = seconds(last_issued);
  const int64_t n = r.queries;
  if (n > 0) {
    r.min_ns = sorted.front();
    r.max_ns = sorted.back();
    r.mean_ns = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(n);
    for (double q : kReported) r.percentiles.push_back({q, sorted[percentile_index(n, q)]});
  }
  if (r.last_completed_s > 0) r.pairs_per_s = static_cast<double>(r.pairs) / r.last_completed_s;
  if (settings.scenario == Scenario::kOffline) {
    r.samples_per_s = r.last_completed_s > 0 ? static_cast<double>(n) / r.last_completed_s : 0;
  } else if (settings.scenario == Scenario::kServer && n > 1) {
    r.samples_per_s = r.last_completed_s > 0 ? static_cast<double>(n - 1) / r.last_completed_s : 0;
    r.scheduled_samples_per_s = r.last_scheduled_s > 0 ? static_cast<double>(n - 1) / r.last_scheduled_s : 0;
  }
  judge(settings, sorted, r);
  return r;
}

namespace {

std::string yes_no(bool ok) { return ok ? "Yes" : "NO"; }

std::string early_stopping_lines(const ScenarioResult& r) {
  const Settings& s = r.settings;
  if (s.scenario == Scenario::kServer) {
    if (r.early_ok) return " * Run successful.\n";
    return fmt::format(" * Run unsuccessful.\n * Processed {} queries.\n * Would need to run at least {} more "
                       "queries,\n with the run being successful if every additional\n query were under latency.\n",
                       r.queries, r.early_needed - r.queries);
  }
  if (!r.early_ok) {
    return fmt::format(" * Only processed {} queries.\n * Need to process at least {} queries for early stopping.\n",
                       r.queries, r.early_needed);
  }
  return fmt::format(" * Processed at least {} queries ({}).\n * Would discard {} highest latency queries.\n"
                     " * Early stopping 90.0th percentile estimate: {}\n",
                     r.early_needed, r.queries, r.early_discarded, r.early_estimate_ns);
}

std::string metric_line(const ScenarioResult& r) {
  switch (r.settings.scenario) {
    case Scenario::kOffline: return fmt::format("Samples per second: {:.2f}\n", r.samples_per_s);
    case Scenario::kServer: return fmt::format("Completed samples per second    : {:.2f}\n", r.samples_per_s);
    case Scenario::kSingleStream: return fmt::format("90.0th percentile latency (ns) : {}\n", r.metric_ns);
  }
  return {};
}

std::string parameters(const ScenarioResult& r) {
  const Settings& s = r.settings;
  std::string out;
  out += fmt::format("scenario : {}\nmode : {}\n", loadgen_name(s.scenario), loadgen_name(s.mode));
  out += fmt::format("pairs_per_query : {} (mean {:.1f})\n", s.pairs.describe(), s.pairs.mean_pairs());
  if (s.scenario != Scenario::kSingleStream) out += fmt::format("target_qps : {}\n", s.target_qps);
  if (s.scenario == Scenario::kServer) {
    out += fmt::format("target_latency (ns): {}\n", std::llround(s.latency_bound_ms * 1e6));
  }
  out += fmt::format("min_duration (ms): {}\n", std::llround(s.min_duration_s * 1e3));
  out += fmt::format("min_query_count : {}\n", s.min_query_count);
  out += fmt::format("max_wait (us): {}\n", s.max_wait_us);
  out += fmt::format("seed : {}\n", s.seed);
  return out;
}

}  // namespace

std::string summary_text(const ScenarioResult& r, const std::string& sut_name) {
  const char* rule = "================================================\n";
  std::string out;
  out += fmt::format("{}MLPerf Results Summary\n{}", rule, rule);
  out += fmt::format("SUT name : {}\nScenario : {}\nMode     : {}\n", sut_name, loadgen_name(r.settings.scenario),
                     loadgen_name(r.settings.mode));
  if (r.settings.mode == Mode::kAccuracy) {
    // As LoadGen: an accuracy run is judged by its predictions, not its times.
    out += "Accuracy run: every sample scored once; no performance result (judge it by the accuracy line)\n";
  } else {
    out += metric_line(r);
    out += fmt::format("Result is : {}\n", r.valid() ? "VALID" : "INVALID");
    if (r.has_perf_constraint) out += fmt::format("  Performance constraints satisfied : {}\n", yes_no(r.perf_ok));
    out += fmt::format("  Min duration satisfied : {}\n", yes_no(r.duration_ok));
    out += fmt::format("  Min queries satisfied : {}\n", yes_no(r.queries_ok));
    out += fmt::format("  Early stopping satisfied: {}\n", yes_no(r.early_ok));
    if (r.settings.scenario != Scenario::kOffline) out += "Early Stopping Result:\n" + early_stopping_lines(r);
  }
  if (r.interrupted) out += "Interrupted: the run was stopped by a signal; these are the queries that completed\n";
  out += fmt::format("\n{}Additional Stats\n{}", rule, rule);
  if (r.settings.scenario == Scenario::kServer) {
    out += fmt::format("Scheduled samples per second : {:.2f}\n", r.scheduled_samples_per_s);
  }
  out += fmt::format("Min latency (ns)                : {}\n", r.min_ns);
  out += fmt::format("Max latency (ns)                : {}\n", r.max_ns);
  out += fmt::format("Mean latency (ns)               : {:.0f}\n", r.mean_ns);
  for (const auto& p : r.percentiles) {
    out += fmt::format("{:.2f} percentile latency (ns)   : {}\n", p.q * 100, p.ns);
  }
  out += fmt::format("Queries                         : {}\n", r.queries);
  out += fmt::format("Pairs                           : {}\n", r.pairs);
  out += fmt::format("Pairs per second                : {:.0f}\n", r.pairs_per_s);
  out += fmt::format("\n{}Test Parameters Used\n{}", rule, rule);
  out += parameters(r);
  return out;
}

void write_latency_log(const std::filesystem::path& path, const std::vector<QueryRecord>& records) {
  std::string text = "query_id,pairs,scheduled_ns,issued_ns,completed_ns\n";
  for (const QueryRecord& q : records) {
    text += fmt::format("{},{},{},{},{}\n", q.id, q.pairs, q.scheduled_ns, q.issued_ns, q.completed_ns);
  }
  write_text_file(path, text);
}

}  // namespace dlrm::scenario
