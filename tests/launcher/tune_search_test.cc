// dlrm-tune's search against a synthetic machine: bounded, finds the
// optimum of a unimodal batch curve and a better precision, resumes exactly
// where it stopped, and the results files read back.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "dlrm/common/error.h"
#include "dlrm/tune/report.h"
#include "dlrm/tune/search.h"
#include "dlrm/tune/trial.h"
#include "test_files.h"

namespace dlrm::tune {
namespace {

SearchSpace two_layouts() {
  SearchSpace space;
  space.layouts = {TrialConfig{.shard_cores = "auto"}, TrialConfig{.shard_cores = "own"}};
  return space;
}

// The synthetic machine: pairs/s peaks at batch 1024 for "auto" (a unimodal
// curve in log2(batch)), "own" is 0.6 of it, bf16 exchange adds 10%, the
// alltoall transport loses 20%, int8 MLPs double it.
double machine(const TrialConfig& c) {
  const double x = std::log2(static_cast<double>(c.batch)) - 10;
  double pairs = 50000 * std::exp(-0.1 * x * x) * (c.shard_cores == "own" ? 0.6 : 1.0);
  if (c.exchange_dtype == "bf16") pairs *= 1.1;
  if (c.exchange_transport == "alltoall") pairs *= 0.8;
  if (c.mlp == "int8") pairs *= 2;
  return pairs;
}

TrialResult measured(const PlannedTrial& p, const std::function<double(const TrialConfig&)>& f) {
  TrialResult r;
  r.config = p.config;
  r.stage = p.stage;
  r.layout = "layout " + p.config.layout_key();
  r.ok = true;
  r.pairs_per_s = f(p.config);
  r.mlp_bound_pairs_per_s = 60000;
  r.ratio = r.pairs_per_s / r.mlp_bound_pairs_per_s;
  r.seconds = 10;
  return r;
}

// Runs the search to the end (or `limit` trials) from `results`.
void run(const SearchSpace& space, TuneResults& results, const std::function<double(const TrialConfig&)>& f,
         int limit = 1000) {
  for (std::optional<PlannedTrial> p; limit-- > 0 && (p = next_trial(space, results));) {
    ASSERT_EQ(results.find(p->config.key()), nullptr) << "a trial proposed twice: " << p->config.key();
    results.trials.push_back(measured(*p, f));
  }
}

TEST(TuneSearch, StartsFromTheDefaultAndFindsTheOptimum) {
  const SearchSpace space = two_layouts();
  TuneResults results;
  run(space, results, machine);
  ASSERT_FALSE(results.trials.empty());
  EXPECT_EQ(results.trials[0].config.key(), "auto/0/0 b256 fp32 auto fp32 #1");
  EXPECT_EQ(results.trials[0].stage, "default");
  EXPECT_EQ(results.trials[1].config.layout_key(), "own/0/0");
  const std::optional<TrialConfig> best = best_settings(results);
  ASSERT_TRUE(best);
  EXPECT_EQ(best->settings_key(), "auto/0/0 b1024 bf16 auto fp32");
  // Bounded: far fewer than the 2 x 6 x 3 x 2 = 72 combinations.
  EXPECT_LE(static_cast<int>(results.trials.size()), planned_trials(space) + 4);
  EXPECT_LT(results.trials.size(), 30u);
  int confirms = 0;
  for (const auto& t : results.trials) confirms += t.config.run == 2 ? 1 : 0;
  EXPECT_EQ(confirms, space.confirm);
}

TEST(TuneSearch, Int8WhenCalibratedMovesTheBatchAgain) {
  SearchSpace space = two_layouts();
  space.mlps = {"fp32", "int8"};
  // With int8 MLPs the best batch is 2048 (their curve peaks later).
  auto f = [](const TrialConfig& c) {
    TrialConfig shifted = c;
    if (c.mlp == "int8") shifted.batch = std::max(64, c.batch / 2);
    return machine(shifted) * (c.mlp == "int8" ? 2 : 1);
  };
  TuneResults results;
  run(space, results, f);
  ASSERT_TRUE(best_settings(results));
  EXPECT_EQ(best_settings(results)->settings_key(), "auto/0/0 b2048 bf16 auto int8");
}

TEST(TuneSearch, FailedTrialsAreSkippedNotRepeated) {
  const SearchSpace space = two_layouts();
  TuneResults results;
  for (std::optional<PlannedTrial> p; (p = next_trial(space, results));) {
    TrialResult r = measured(*p, machine);
    if (p->config.exchange_dtype == "fp16") {
      r.ok = false;
      r.error = "exited with code 1";
    }
    results.trials.push_back(r);
  }
  EXPECT_NE(best_settings(results)->exchange_dtype, "fp16");
}

// Stopped after k trials, written and read back, resumed: the same trials in
// the same order as an uninterrupted search.
TEST(TuneSearch, ResumeContinuesExactly) {
  const SearchSpace space = two_layouts();
  TuneResults whole;
  run(space, whole, machine);
  for (int k : {1, 2, 5, 9}) {
    TuneResults part;
    part.settings = {"/m", "/h", "/d", std::nullopt};
    run(space, part, machine, k);
    TuneResults resumed = parse_results(results_json(part), "results.json");
    EXPECT_EQ(resumed.settings, part.settings);
    run(space, resumed, machine);
    ASSERT_EQ(resumed.trials.size(), whole.trials.size()) << "stopped after " << k;
    for (size_t i = 0; i < whole.trials.size(); ++i) {
      EXPECT_EQ(resumed.trials[i].config.key(), whole.trials[i].config.key()) << i;
      EXPECT_EQ(resumed.trials[i].stage, whole.trials[i].stage) << i;
    }
  }
}

TEST(TuneResultsFiles, JsonRoundTripAndCsv) {
  TuneResults results;
  results.settings = {"/models/tb1m", "/h", "/data.bin", 60.0};
  PlannedTrial p{TrialConfig{.shard_cores = "shared", .batch = 512}, "layout"};
  TrialResult a = measured(p, machine);
  a.layout = "1 shard (shares cores), 1 dense x 2";  // a comma: quoted in the CSV
  a.peak_qps = 180.5;
  a.valid = true;
  a.p99_ms = 41.25;
  TrialResult b = measured({TrialConfig{.exchange_dtype = "bf16"}, "precision"}, machine);
  b.ok = false;
  b.error = "dlrm-launch exited with code 1; see \"x.log\"";
  results.trials = {a, b};
  const TuneResults back = parse_results(results_json(results), "results.json");
  EXPECT_EQ(results_json(back), results_json(results));
  EXPECT_EQ(back.trials[0].peak_qps, 180.5);
  EXPECT_EQ(back.trials[0].valid, true);
  EXPECT_FALSE(back.trials[1].valid.has_value());
  const std::string csv = results_csv(results);
  EXPECT_NE(csv.substr(0, csv.find('\n')).find(",pairs_per_s,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("1,layout,\"1 shard (shares cores), 1 dense x 2\",shared,0,0,512,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",180.5,1,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\"dlrm-launch exited with code 1; see \"\"x.log\"\"\""), std::string::npos) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
}

TEST(TuneResultsFiles, BadFilesNameTheField) {
  TuneResults results;
  results.trials = {measured({TrialConfig{}, "default"}, machine)};
  std::string text = results_json(results);
  EXPECT_ERROR_WITH(parse_results("{", "r.json"), "r.json is not a valid dlrm-tune results file", "--out");
  std::string wrong_key = text;
  wrong_key.replace(wrong_key.find("b256"), 4, "b512");
  EXPECT_ERROR_WITH(parse_results(wrong_key, "r.json"), "field dlrm_tune_results.trials[0].key",
                    "does not match the trial's settings");
  std::string twice = text;
  const size_t begin = twice.find("{", twice.find("\"trials\"")), end = twice.rfind("}", twice.rfind("]"));
  twice.insert(end + 1, "," + twice.substr(begin, end + 1 - begin));
  EXPECT_ERROR_WITH(parse_results(twice, "r.json"), "is listed twice");
  std::string version = text;
  version.replace(version.find("\"format_version\": 1"), 19, "\"format_version\": 2");
  EXPECT_ERROR_WITH(parse_results(version, "r.json"), "format_version");
}

TEST(TuneReport, TunedFromResultsAndClosest) {
  TuneResults results;
  results.settings.model = "/m";
  EXPECT_FALSE(tuned_from_results(results));
  run(two_layouts(), results, machine);
  const auto tuned = tuned_from_results(results);
  ASSERT_TRUE(tuned);
  EXPECT_EQ(tuned->launch.shard_cores, "auto");
  EXPECT_EQ(tuned->cluster.batch, 1024);
  EXPECT_EQ(tuned->cluster.exchange_dtype, "bf16");
  EXPECT_EQ(tuned->objective, "throughput");
  EXPECT_DOUBLE_EQ(tuned->measured.pairs_per_s, score(results, *best_settings(results)));
  EXPECT_NE(summary_table(results, 3).find("pairs/s"), std::string::npos);
  // A latency bound that nothing met: every trial invalid, pairs 0.
  TuneResults none;
  none.settings.latency_bound_ms = 5;
  for (int b : {256, 512, 1024}) {
    TrialResult r = measured({TrialConfig{.batch = b}, "layout"}, machine);
    r.pairs_per_s = 0;
    r.valid = false;
    r.p99_ms = 1000.0 / b;
    none.trials.push_back(r);
  }
  EXPECT_FALSE(tuned_from_results(none));
  const auto lines = closest_trials(none, 2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("b1024"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("lowest p99 1.0 ms"), std::string::npos) << lines[0];
  EXPECT_EQ(minutes_text(65.4), "1:05");
}

}  // namespace
}  // namespace dlrm::tune
