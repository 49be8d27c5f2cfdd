// dlrm-cluster's scenario options (--scenario and the LoadGen settings).
#pragma once

#include <CLI/CLI.hpp>

#include <limits>
#include <optional>
#include <string>

#include "dlrm/cluster/run.h"
#include "dlrm/common/error.h"
#include "dlrm/scenario/settings.h"

namespace dlrm::tools {

// The scenario options as given; applied over the scenario's defaults.
struct ScenarioCli {
  std::string scenario, mode = "performance", pairs;
  std::optional<double> target_qps, latency_bound_ms, min_duration_s;
  std::optional<int64_t> min_query_count, max_wait_us;
  uint64_t seed = 1;
  bool find_peak = false, mlperf_defaults = false, no_progress = false;
  std::filesystem::path summary, latency_log;
  std::vector<CLI::Option*> options;  // all but --scenario: refused without it
};

inline void add_scenario_options(CLI::App& app, ScenarioCli& cli) {
  app.add_option("--scenario", cli.scenario,
                 "queries as they arrive, by MLPerf's rules: offline, server or single-stream (rank 0 becomes the "
                 "front that issues them: run shards + dense + 1 ranks)")
      ->check(CLI::IsMember({"offline", "server", "single-stream"}));
  auto add = [&](CLI::Option* o) { cli.options.push_back(o); };
  add(app.add_option("--target-qps", cli.target_qps,
                     "server: Poisson arrivals per second (default 100); offline: the expected rate (default: "
                     "measured by the warm-up)"));
  add(app.add_option("--latency-bound-ms", cli.latency_bound_ms, "server: the p99 latency bound (default 60)"));
  add(app.add_option("--min-duration-s", cli.min_duration_s, "the shortest valid run (default 10; MLPerf 600)"));
  add(app.add_option("--min-query-count", cli.min_query_count,
                     "the fewest queries of a valid run (default: server 100, single-stream 64, offline 1)"));
  add(app.add_option("--pairs-per-query", cli.pairs,
                     "pairs (candidate items) per query: 1, a count N, or mlperf (MLPerf's sizes, mean 270; the "
                     "default)"));
  add(app.add_option("--max-wait-us", cli.max_wait_us,
                     "the dynamic batcher sends a partial batch once its oldest pair has waited this long "
                     "(default 1000)"));
  add(app.add_option("--mode", cli.mode,
                     "performance, or accuracy: every sample exactly once, predictions in sample order (--out, "
                     "--reference, AUC)")
          ->check(CLI::IsMember({"performance", "accuracy"})));
  add(app.add_option("--seed", cli.seed, "seed of the query sizes, samples and arrivals")->capture_default_str());
  add(app.add_option("--summary", cli.summary, "write the mlperf_log_summary.txt-shaped summary here"));
  add(app.add_option("--latency-log", cli.latency_log,
                     "write query_id,pairs,scheduled_ns,issued_ns,completed_ns per query (CSV)"));
  add(app.add_flag("--find-peak", cli.find_peak,
                   "server: the highest VALID --target-qps, by bisection from the offline rate"));
  add(app.add_flag("--mlperf-defaults", cli.mlperf_defaults,
                   "MLPerf's official settings: 600 s, 60 ms, the minimum query counts"));
  add(app.add_flag("--no-progress", cli.no_progress, "no progress line"));
}

// The scenario to run, or nullopt without --scenario. Throws
// CLI::ValidationError (printed by rank 0) for scenario options without
// --scenario and for values refused before any rank starts (QPS or bound
// <= 0, --find-peak outside server, bad --pairs-per-query).
inline std::optional<cluster::ScenarioOptions> scenario_options(const ScenarioCli& cli) {
  if (cli.scenario.empty()) {
    for (const CLI::Option* o : cli.options) {
      if (o->count() > 0) throw CLI::ValidationError(o->get_name(), "needs --scenario offline|server|single-stream");
    }
    return std::nullopt;
  }
  try {
    cluster::ScenarioOptions out;
    const scenario::Scenario s = scenario::parse_scenario(cli.scenario);
    scenario::Settings& settings = out.settings;
    settings = cli.mlperf_defaults ? scenario::Settings::mlperf(s) : scenario::Settings::quick(s);
    settings.mode = scenario::parse_mode(cli.mode);
    if (cli.target_qps) settings.target_qps = *cli.target_qps;
    if (cli.latency_bound_ms) settings.latency_bound_ms = *cli.latency_bound_ms;
    if (cli.min_duration_s) settings.min_duration_s = *cli.min_duration_s;
    if (cli.min_query_count) settings.min_query_count = *cli.min_query_count;
    if (cli.max_wait_us) settings.max_wait_us = *cli.max_wait_us;
    if (!cli.pairs.empty()) settings.pairs = scenario::parse_query_size(cli.pairs);
    settings.seed = cli.seed;
    settings.find_peak = cli.find_peak;
    settings.validate(std::numeric_limits<int64_t>::max());  // the data's size is checked once it is known
    out.summary = cli.summary;
    out.latency_log = cli.latency_log;
    out.progress = !cli.no_progress;
    return out;
  } catch (const Error& e) {
    throw CLI::ValidationError("--scenario", e.what());
  }
}

}  // namespace dlrm::tools
