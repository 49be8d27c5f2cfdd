// Accuracy and latency statistics.
#pragma once

#include <cstdint>
#include <vector>

namespace dlrm {

// Exact ROC AUC (Mann-Whitney U with average ranks for tied scores):
//   AUC = (sum of positive ranks - P(P+1)/2) / (P N)
// labels are 0/1 (anything non-zero is positive). Returns NaN when all labels
// are of one class (or n == 0) or any score is NaN. Computed as exact integer
// pair counts, so it is exact for any n (no rounding in the rank sums).
double roc_auc(const float* scores, const int32_t* labels, int64_t n);
// Plain O(P N) pair counting (ties count 1/2): the _ref twin for tests.
double roc_auc_ref(const float* scores, const int32_t* labels, int64_t n);

// Linear-interpolated percentile (q in [0, 100]) of `values` (copied, sorted),
// as numpy.percentile's default: v[lo] + (v[hi] - v[lo]) * frac at position
// q / 100 * (n - 1). NaN for no values; throws for q outside [0, 100].
double percentile(std::vector<double> values, double q);

}  // namespace dlrm
