// LoadGen's arithmetic and the scenario settings, against hand-computed cases
// (tests/scenario/README-style derivations in the comments).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "dlrm/common/error.h"
#include "dlrm/scenario/batcher.h"
#include "dlrm/scenario/early_stopping.h"
#include "dlrm/scenario/queries.h"
#include "dlrm/scenario/result.h"
#include "dlrm/scenario/settings.h"
#include "test_files.h"

namespace dlrm::scenario {
namespace {

constexpr uint64_t kSeed = 20261206;

// Gaps of a Poisson process at rate r are Exponential(r): mean 1/r and
// coefficient of variation 1. Over n gaps the sample mean has standard
// deviation (1/r)/sqrt(n) and the sample standard deviation about
// (1/r) sqrt(2/n) (exponential kurtosis 9: var(s^2) ~ 8 sigma^4 / n); the
// bounds below are 5 standard deviations.
TEST(Arrivals, PoissonGapsHaveTheRateAndCvOfOne) {
  std::printf("seed %llu\n", static_cast<unsigned long long>(kSeed));
  for (double qps : {10.0, 1000.0, 250000.0}) {
    PoissonArrivals arrivals(qps, kSeed);
    const int n = 200000;
    std::vector<double> gaps(n);
    int64_t last = 0;
    for (int i = 0; i < n; ++i) {
      const int64_t t = arrivals.next_ns();
      ASSERT_GE(t, last);
      gaps[i] = (t - last) * 1e-9;
      last = t;
    }
    const double mean = std::accumulate(gaps.begin(), gaps.end(), 0.0) / n;
    double var = 0;
    for (double g : gaps) var += (g - mean) * (g - mean);
    const double sd = std::sqrt(var / (n - 1));
    EXPECT_NEAR(mean * qps, 1.0, 5.0 / std::sqrt(n)) << "qps " << qps;
    EXPECT_NEAR(sd / mean, 1.0, 5.0 * std::sqrt(2.0 / n) + 2e-9 * qps) << "qps " << qps;  // + ns rounding
  }
}

TEST(Arrivals, SameSeedSameSchedule) {
  PoissonArrivals a(100, kSeed), b(100, kSeed), c(100, kSeed + 1);
  bool differ = false;
  for (int i = 0; i < 100; ++i) {
    const int64_t x = a.next_ns();
    EXPECT_EQ(x, b.next_ns());
    differ |= x != c.next_ns();
  }
  EXPECT_TRUE(differ);
}

// MLPerf's aggregated queries: every draw is one of the 20 quantiles, each
// about 1/20 of the time, mean 270.
TEST(QuerySizes, MlperfQuantiles) {
  QuerySizer sizer(parse_query_size("mlperf"), kSeed);
  std::map<int, int> counts;
  const int n = 100000;
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    const int pairs = sizer.next();
    counts[pairs]++;
    sum += pairs;
  }
  std::set<int> allowed(std::begin(kMlperfQuantiles), std::end(kMlperfQuantiles));
  for (const auto& [pairs, count] : counts) EXPECT_TRUE(allowed.count(pairs)) << pairs;
  // 200 is 12 of the 20 quantiles: p = 0.6, sd of the count sqrt(n p (1-p)) = 155.
  EXPECT_NEAR(counts[200], 0.6 * n, 5 * 155);
  // The mean of a draw: 270, sd of one draw 150 (by the quantiles), so of the mean 150/sqrt(n) = 0.47.
  EXPECT_NEAR(sum / n, 270.0, 5 * 0.48);
  EXPECT_DOUBLE_EQ(parse_query_size("mlperf").mean_pairs(), 270.0);
  EXPECT_EQ(parse_query_size("1").max_pairs(), 1);
  EXPECT_EQ(parse_query_size("37").max_pairs(), 37);
}

TEST(QuerySizes, BadValuesNameTheOption) {
  for (const char* bad : {"0", "-3", "x", "", "12k", "2000000"}) {
    EXPECT_ERROR_WITH(parse_query_size(bad), "--pairs-per-query");
  }
}

TEST(Queries, AccuracyModeCoversEverySampleOnce) {
  Settings s = Settings::quick(Scenario::kServer);
  s.mode = Mode::kAccuracy;
  QueryGenerator gen(s, 1001);
  std::vector<int> seen(1001, 0);
  int64_t last_scheduled = 0;
  while (auto q = gen.next()) {
    EXPECT_GE(q->scheduled_ns, last_scheduled);
    last_scheduled = q->scheduled_ns;
    for (int64_t i = q->first_sample; i < q->first_sample + q->pairs; ++i) seen.at(i)++;
  }
  for (int i = 0; i < 1001; ++i) EXPECT_EQ(seen[i], 1) << "sample " << i;
}

TEST(Queries, PerformanceModeStaysInsideTheSamples) {
  Settings s = Settings::quick(Scenario::kOffline);
  QueryGenerator gen(s, 800);
  for (int k = 0; k < 10000; ++k) {
    auto q = gen.next();
    ASSERT_TRUE(q);
    EXPECT_EQ(q->id, k);
    EXPECT_GE(q->first_sample, 0);
    EXPECT_LE(q->first_sample + q->pairs, 800);
    EXPECT_EQ(q->scheduled_ns, 0);
  }
}

// Percentile q of n sorted values: sorted[floor(n q)] (LoadGen), never past the end.
TEST(Percentile, IndexIsFloorOfNq) {
  EXPECT_EQ(percentile_index(100, 0.99), 99);
  EXPECT_EQ(percentile_index(1000, 0.99), 990);
  EXPECT_EQ(percentile_index(7, 0.5), 3);
  EXPECT_EQ(percentile_index(1, 0.999), 0);
  EXPECT_EQ(percentile_index(10, 0.999), 9);
  EXPECT_EQ(percentile_index(10, 1.0), 9);
}

// I_x(a, b) by the continued fraction against the plain binomial sum.
TEST(EarlyStopping, BetaRegularizedMatchesBinomialSums) {
  for (double x : {0.5, 0.9, 0.99, 0.999}) {
    for (int64_t a : {1, 2, 10, 44, 459, 700}) {
      for (int64_t b : {1, 2, 3, 20}) {
        const double want = beta_regularized_ref(x, a, b);
        EXPECT_NEAR(beta_regularized(x, static_cast<double>(a), static_cast<double>(b)), want, 1e-12 + 1e-9 * want)
            << "x " << x << " a " << a << " b " << b;
      }
    }
  }
}

// Hand-computed with exact binomial sums: the smallest h with
// P(at most t of h + t over | p) < 0.01.
TEST(EarlyStopping, MinPassingQueries) {
  EXPECT_EQ(min_passing_queries(0, 0.99), 459);  // 0.99^459 = 0.00992 < 0.01 <= 0.99^458
  EXPECT_EQ(min_passing_queries(1, 0.99), 661);
  EXPECT_EQ(min_passing_queries(2, 0.99), 836);
  EXPECT_EQ(min_passing_queries(0, 0.9), 44);
  EXPECT_EQ(min_passing_queries(1, 0.9), 63);
  EXPECT_EQ(min_passing_queries(2, 0.9), 79);
  EXPECT_EQ(min_passing_queries(3, 0.9), 94);
}

std::vector<int64_t> one_to(int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 1);
  return v;
}

TEST(EarlyStopping, Server) {
  // No query over: 459 are enough.
  EXPECT_FALSE(server_early_stopping(one_to(458), 1000, 0.99).satisfied);
  EXPECT_TRUE(server_early_stopping(one_to(459), 1000, 0.99).satisfied);
  // One over (latency 662 > bound 661): 661 within plus the one.
  auto one_over = server_early_stopping(one_to(661), 660, 0.99);
  EXPECT_EQ(one_over.overlatency, 1);
  EXPECT_EQ(one_over.needed, 662);
  EXPECT_FALSE(one_over.satisfied);
  EXPECT_TRUE(server_early_stopping(one_to(662), 661, 0.99).satisfied);
}

TEST(EarlyStopping, SingleStream) {
  EXPECT_FALSE(single_stream_early_stopping(one_to(63), 0.9).satisfied);
  auto at64 = single_stream_early_stopping(one_to(64), 0.9);
  EXPECT_TRUE(at64.satisfied);
  EXPECT_EQ(at64.needed, 64);
  EXPECT_EQ(at64.estimate_ns, 64);  // t* = 1: sorted[n - 1]
  auto at100 = single_stream_early_stopping(one_to(100), 0.9);
  EXPECT_EQ(at100.discarded, 2);     // t* = 3
  EXPECT_EQ(at100.estimate_ns, 98);  // sorted[97]
  auto at1000 = single_stream_early_stopping(one_to(1000), 0.9);
  EXPECT_EQ(at1000.discarded, 77);     // t* = 78
  EXPECT_EQ(at1000.estimate_ns, 923);  // sorted[922]
}

// Server runs: n queries scheduled every 1 ms from 1 ms, each taking `latency`.
std::vector<QueryRecord> server_records(int n, int64_t latency_ns) {
  std::vector<QueryRecord> r(n);
  for (int i = 0; i < n; ++i) {
    r[i].id = i;
    r[i].pairs = 10;
    r[i].scheduled_ns = r[i].issued_ns = (i + 1) * 1000000LL;
    r[i].completed_ns = r[i].scheduled_ns + latency_ns;
  }
  return r;
}

TEST(Evaluate, ServerValidFarBelowTheBoundInvalidAbove) {
  Settings s = Settings::quick(Scenario::kServer);
  s.min_duration_s = 0.5;
  s.latency_bound_ms = 10;
  auto ok = evaluate(s, server_records(600, 2000000), false);
  EXPECT_TRUE(ok.valid());
  EXPECT_TRUE(ok.perf_ok);
  EXPECT_EQ(ok.percentile_ns(0.99), 2000000);
  EXPECT_NEAR(ok.scheduled_samples_per_s, 599 / 0.6, 1e-9);
  EXPECT_NEAR(ok.samples_per_s, 599 / 0.602, 1e-9);
  EXPECT_NEAR(ok.pairs_per_s, 6000 / 0.602, 1e-6);
  auto slow = evaluate(s, server_records(600, 20000000), false);
  EXPECT_FALSE(slow.valid());
  EXPECT_FALSE(slow.perf_ok);
  EXPECT_FALSE(slow.early_ok);
  // Too short, too few: both reported.
  s.min_duration_s = 1;
  s.min_query_count = 1000;
  auto short_run = evaluate(s, server_records(600, 2000000), false);
  EXPECT_FALSE(short_run.duration_ok);
  EXPECT_FALSE(short_run.queries_ok);
  EXPECT_FALSE(short_run.valid());
  const std::string text = summary_text(short_run, "dlrm-cluster");
  for (const char* line : {"SUT name : dlrm-cluster", "Scenario : Server", "Mode     : PerformanceOnly",
                           "Completed samples per second", "Result is : INVALID",
                           "Performance constraints satisfied : Yes", "Min duration satisfied : NO",
                           "Min queries satisfied : NO", "Early stopping satisfied: Yes",
                           "Scheduled samples per second", "99.90 percentile latency (ns)", "min_duration (ms): 1000"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  EXPECT_FALSE(evaluate(s, server_records(600, 2000000), true).valid()) << "interrupted runs are never VALID";
  const std::string stopped = summary_text(evaluate(s, server_records(600, 2000000), true), "x");
  EXPECT_NE(stopped.find("Interrupted"), std::string::npos) << stopped;
  // Accuracy mode: LoadGen judges no performance result, and neither do we.
  s.mode = Mode::kAccuracy;
  const std::string accuracy = summary_text(evaluate(s, server_records(600, 2000000), false), "x");
  EXPECT_EQ(accuracy.find("Result is"), std::string::npos) << accuracy;
  EXPECT_NE(accuracy.find("Mode     : AccuracyOnly"), std::string::npos) << accuracy;
  EXPECT_NE(accuracy.find("no performance result"), std::string::npos) << accuracy;
}

TEST(Evaluate, OfflineAndSingleStreamMetrics) {
  Settings off = Settings::quick(Scenario::kOffline);
  off.min_duration_s = 0.1;
  std::vector<QueryRecord> r(10);
  for (int i = 0; i < 10; ++i) r[i] = {i, 100, 0, 0, (i + 1) * 20000000LL};  // the last completes at 0.2 s
  auto o = evaluate(off, r, false);
  EXPECT_NEAR(o.samples_per_s, 50.0, 1e-9);
  EXPECT_NEAR(o.pairs_per_s, 5000.0, 1e-9);
  EXPECT_TRUE(o.valid());
  EXPECT_NE(summary_text(o, "x").find("Samples per second: 50.00"), std::string::npos);

  Settings ss = Settings::quick(Scenario::kSingleStream);
  ss.min_duration_s = 0;
  std::vector<QueryRecord> q(100);
  int64_t t = 0;
  for (int i = 0; i < 100; ++i) {  // latencies 1..100 us, one after the other
    q[i] = {i, 1, t, t, t + (i + 1) * 1000LL};
    t = q[i].completed_ns;
  }
  auto s1 = evaluate(ss, q, false);
  EXPECT_EQ(s1.metric_ns, 91000);           // sorted[floor(100 * 0.9)]
  EXPECT_EQ(s1.early_estimate_ns, 98000);   // early stopping: sorted[97]
  EXPECT_TRUE(s1.valid());
  EXPECT_NE(summary_text(s1, "x").find("90.0th percentile latency (ns) : 91000"), std::string::npos);
}

TEST(Batcher, FullBatchesAtOnceAndPartialOnesAfterTheWait) {
  DynamicBatcher batcher(256, 1000000);  // 1 ms
  batcher.add({0, 200, 0, 0}, 0);
  EXPECT_FALSE(batcher.ready(0));
  EXPECT_FALSE(batcher.ready(999999));
  EXPECT_TRUE(batcher.ready(1000000));
  batcher.add({1, 100, 500, 0}, 10);
  EXPECT_TRUE(batcher.ready(10));  // 300 pairs queued: a full batch
  std::vector<PairRef> batch;
  batcher.take(batch);
  ASSERT_EQ(batch.size(), 256u);
  EXPECT_EQ(batch[0].query, 0);
  EXPECT_EQ(batch[199].pair, 199);
  EXPECT_EQ(batch[200].query, 1);  // query 1's pairs span two batches
  EXPECT_EQ(batch[200].sample, 500);
  EXPECT_EQ(batch[255].pair, 55);
  EXPECT_EQ(batcher.queued(), 44);
  EXPECT_EQ(batcher.deadline_ns(), 10 + 1000000);
  batcher.take(batch);
  ASSERT_EQ(batch.size(), 44u);
  EXPECT_EQ(batch[0].pair, 56);
  EXPECT_EQ(batch[43].sample, 599);
  EXPECT_FALSE(batcher.ready(INT64_MAX));
}

TEST(Batcher, TakeStopsAtTheShareAskedFor) {
  // The front spreads a step's pairs over the dense ranks: 300 queued over
  // 2 ranks is 150 each, not 256 + 44.
  DynamicBatcher batcher(256, 0);
  batcher.add({0, 300, 0, 0}, 0);
  std::vector<PairRef> batch;
  batcher.take(batch, 150);
  ASSERT_EQ(batch.size(), 150u);
  EXPECT_EQ(batch[149].pair, 149);
  batcher.take(batch, 1000);  // never more than a batch
  ASSERT_EQ(batch.size(), 150u);
  EXPECT_EQ(batch[0].pair, 150);
  EXPECT_EQ(batcher.queued(), 0);
}

TEST(Settings, BadValuesAreRefusedNamingTheOption) {
  Settings s = Settings::quick(Scenario::kServer);
  s.target_qps = 0;
  EXPECT_ERROR_WITH(s.validate(1000), "--target-qps");
  s = Settings::quick(Scenario::kServer);
  s.latency_bound_ms = -1;
  EXPECT_ERROR_WITH(s.validate(1000), "--latency-bound-ms");
  s = Settings::quick(Scenario::kOffline);
  s.find_peak = true;
  EXPECT_ERROR_WITH(s.validate(1000), "--find-peak", "offline");
  s = Settings::quick(Scenario::kServer);
  EXPECT_ERROR_WITH(s.validate(500), "holds 500 samples but a query may need 700");
  EXPECT_NO_THROW(s.validate(700));
  EXPECT_ERROR_WITH(parse_scenario("batch"), "offline, server or single-stream");
  EXPECT_ERROR_WITH(parse_mode("fast"), "performance or accuracy");
  EXPECT_EQ(Settings::mlperf(Scenario::kServer).min_duration_s, 600);
  EXPECT_EQ(Settings::mlperf(Scenario::kOffline).min_query_count, 24576);
}

}  // namespace
}  // namespace dlrm::scenario
