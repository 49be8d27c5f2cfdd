#include "dlrm/common/stats.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "dlrm/common/error.h"

namespace dlrm {

namespace {

using Wide = unsigned __int128;

// Maps a float to an unsigned key with the same order (-0 and +0 share a key,
// so they tie as they compare equal).
uint32_t ordered_key(float score) {
  if (score == 0.0f) score = 0.0f;
  uint32_t bits = std::bit_cast<uint32_t>(score);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// twice_u / (2 P N), NaN for one class.
double auc_from_counts(Wide twice_u, uint64_t positives, uint64_t negatives) {
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  long double pairs = static_cast<long double>(positives) * static_cast<long double>(negatives);
  return static_cast<double>(static_cast<long double>(twice_u) / (2.0L * pairs));
}

}  // namespace

double roc_auc(const float* scores, const int32_t* labels, int64_t n) {
  if (n <= 0) return std::numeric_limits<double>::quiet_NaN();
  // One sort of (score key, label) packed in 64 bits: ties are runs of equal
  // upper bits. Within a run of p positives and q negatives above `below`
  // negatives, each positive beats `below` negatives and ties q of them, so
  //   2U += p * (2 * below + q)
  // which equals the average-rank formula and stays an exact integer.
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(scores[i])) return std::numeric_limits<double>::quiet_NaN();
    keys[i] = (static_cast<uint64_t>(ordered_key(scores[i])) << 1) | (labels[i] != 0 ? 1u : 0u);
  }
  std::sort(keys.begin(), keys.end());
  Wide twice_u = 0;
  uint64_t below = 0, positives = 0;
  for (size_t i = 0; i < keys.size();) {
    const uint64_t score_key = keys[i] >> 1;
    uint64_t p = 0, q = 0;
    for (; i < keys.size() && (keys[i] >> 1) == score_key; ++i) {
      if (keys[i] & 1u) {
        ++p;
      } else {
        ++q;
      }
    }
    twice_u += static_cast<Wide>(p) * (2 * static_cast<Wide>(below) + q);
    below += q;
    positives += p;
  }
  return auc_from_counts(twice_u, positives, below);
}

double roc_auc_ref(const float* scores, const int32_t* labels, int64_t n) {
  Wide twice_u = 0;
  uint64_t positives = 0, negatives = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(scores[i])) return std::numeric_limits<double>::quiet_NaN();
    if (labels[i] != 0) {
      ++positives;
    } else {
      ++negatives;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] == 0) continue;
    for (int64_t j = 0; j < n; ++j) {
      if (labels[j] != 0) continue;
      if (scores[i] > scores[j]) {
        twice_u += 2;
      } else if (scores[i] == scores[j]) {
        twice_u += 1;
      }
    }
  }
  return auc_from_counts(twice_u, positives, negatives);
}

double percentile(std::vector<double> values, double q) {
  DLRM_CHECK(q >= 0.0 && q <= 100.0, "percentile {} is outside [0, 100]", q);
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double pos = q / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

}  // namespace dlrm
