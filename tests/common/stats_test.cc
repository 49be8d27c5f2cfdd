// ROC AUC (sorted ranks vs the O(P N) pair count) and percentiles.
#include "dlrm/common/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "dlrm/common/error.h"

using dlrm::percentile;
using dlrm::roc_auc;
using dlrm::roc_auc_ref;

namespace {

double auc(const std::vector<float>& scores, const std::vector<int32_t>& labels) {
  EXPECT_EQ(scores.size(), labels.size());
  return roc_auc(scores.data(), labels.data(), static_cast<int64_t>(scores.size()));
}
double auc_ref(const std::vector<float>& scores, const std::vector<int32_t>& labels) {
  return roc_auc_ref(scores.data(), labels.data(), static_cast<int64_t>(scores.size()));
}

TEST(RocAuc, HandExamples) {
  // Perfect and inverted rankings.
  EXPECT_EQ(auc({0.1f, 0.2f, 0.8f, 0.9f}, {0, 0, 1, 1}), 1.0);
  EXPECT_EQ(auc({0.9f, 0.8f, 0.2f, 0.1f}, {0, 0, 1, 1}), 0.0);
  // Pairs (pos, neg): (0.35,0.1) win, (0.35,0.4) loss, (0.8,0.1) win, (0.8,0.4) win -> 3/4.
  EXPECT_EQ(auc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.75);
  // A tie between a positive and a negative counts 1/2: pos {0.5, 0.9}, neg {0.5, 0.1}
  // -> (0.5,0.5) 1/2, (0.5,0.1) 1, (0.9,*) 2 -> 3.5 / 4.
  EXPECT_EQ(auc({0.5f, 0.9f, 0.5f, 0.1f}, {1, 1, 0, 0}), 0.875);
  // -0 and +0 are the same score.
  EXPECT_EQ(auc({-0.0f, 0.0f}, {1, 0}), 0.5);
  // Any non-zero label is positive.
  EXPECT_EQ(auc({0.1f, 0.9f}, {0, 7}), 1.0);
}

TEST(RocAuc, AllTiesIsOneHalf) {
  std::vector<float> scores(101, 0.25f);
  std::vector<int32_t> labels(101);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = i % 3 == 0;
  EXPECT_EQ(auc(scores, labels), 0.5);
  EXPECT_EQ(auc_ref(scores, labels), 0.5);
}

TEST(RocAuc, OneClassEmptyOrNaNScoreIsNaN) {
  EXPECT_TRUE(std::isnan(auc({0.1f, 0.2f, 0.3f}, {1, 1, 1})));
  EXPECT_TRUE(std::isnan(auc({0.1f, 0.2f, 0.3f}, {0, 0, 0})));
  EXPECT_TRUE(std::isnan(auc_ref({0.1f, 0.2f}, {0, 0})));
  EXPECT_TRUE(std::isnan(roc_auc(nullptr, nullptr, 0)));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(auc({0.1f, nan}, {0, 1})));
  EXPECT_TRUE(std::isnan(auc_ref({0.1f, nan}, {0, 1})));
}

// Random scores drawn from few distinct values (many ties) and from a
// continuum; both AUCs are ratios of the same exact integer pair counts, so
// they must agree to the last bit.
TEST(RocAuc, MatchesPairCountingOnRandomDataWithTies) {
  const uint64_t seed = 20240611;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  for (int distinct : {1, 2, 5, 50, 0}) {  // 0: continuous scores
    for (int n : {1, 2, 17, 1000, 3001}) {
      std::vector<float> scores(n);
      std::vector<int32_t> labels(n);
      std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
      for (int i = 0; i < n; ++i) {
        scores[i] = distinct > 0 ? static_cast<float>(rng() % distinct) * 0.125f - 1.0f : uniform(rng);
        // Labels correlated with the score so AUCs are not all near 1/2.
        labels[i] = (scores[i] + uniform(rng)) > 0.3f ? 1 : 0;
      }
      double fast = auc(scores, labels);
      double ref = auc_ref(scores, labels);
      if (std::isnan(ref)) {
        EXPECT_TRUE(std::isnan(fast)) << "distinct " << distinct << " n " << n;
      } else {
        EXPECT_EQ(fast, ref) << "distinct " << distinct << " n " << n;
        EXPECT_GE(fast, 0.0);
        EXPECT_LE(fast, 1.0);
      }
    }
  }
}

TEST(Percentile, LinearInterpolation) {
  std::vector<double> v = {5, 1, 4, 2, 3};  // sorted: 1 2 3 4 5
  EXPECT_EQ(percentile(v, 0), 1.0);
  EXPECT_EQ(percentile(v, 100), 5.0);
  EXPECT_EQ(percentile(v, 50), 3.0);
  EXPECT_EQ(percentile(v, 25), 2.0);
  // position 0.99 * 4 = 3.96 -> 4 + 0.96 * (5 - 4)
  EXPECT_DOUBLE_EQ(percentile(v, 99), 4.96);
  EXPECT_DOUBLE_EQ(percentile({10, 20}, 95), 19.5);  // numpy.percentile([10, 20], 95)
  EXPECT_EQ(percentile({7}, 99), 7.0);
  EXPECT_TRUE(std::isnan(percentile({}, 50)));
  EXPECT_THROW(percentile(v, 101), dlrm::Error);
  EXPECT_THROW(percentile(v, -1), dlrm::Error);
  EXPECT_THROW(percentile(v, std::nan("")), dlrm::Error);
}

}  // namespace
