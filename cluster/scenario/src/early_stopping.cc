#include "dlrm/scenario/early_stopping.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "dlrm/common/error.h"

namespace dlrm::scenario {

namespace {

// The continued fraction of I_x(a, b) (modified Lentz), valid for x < (a + 1) / (a + b + 2).
double beta_fraction(double x, double a, double b) {
  constexpr double kTiny = 1e-300, kEps = 1e-15;
  constexpr int kIterations = 100000;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double f = d;
  for (int m = 1; m <= kIterations; ++m) {
    const double m2 = 2.0 * m;
    double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + num * d;
    c = 1.0 + num / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    f *= d * c;
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + num * d;
    c = 1.0 + num / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    f *= delta;
    if (std::fabs(delta - 1.0) < kEps) return f;
  }
  return f;
}

}  // namespace

double beta_regularized(double x, double a, double b) {
  DLRM_CHECK(a > 0 && b > 0 && x >= 0 && x <= 1, "beta_regularized({}, {}, {}) is outside its domain", x, a, b);
  if (x == 0 || x == 1) return x;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) return std::exp(log_front) * beta_fraction(x, a, b) / a;
  return 1.0 - std::exp(log_front) * beta_fraction(1.0 - x, b, a) / b;
}

double beta_regularized_ref(double x, int64_t a, int64_t b) {
  // I_x(a, b) = P(Binomial(a + b - 1, x) >= a), summed term by term in log space.
  const int64_t n = a + b - 1;
  double sum = 0;
  for (int64_t k = a; k <= n; ++k) {
    const double log_term = std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) +
                            k * std::log(x) + (n - k) * std::log1p(-x);
    sum += std::exp(log_term);
  }
  return sum;
}

double early_stopping_odds(int64_t h, int64_t t, double p) {
  return beta_regularized(p, static_cast<double>(h), static_cast<double>(t + 1));
}

int64_t min_passing_queries(int64_t t, double p, double confidence) {
  DLRM_CHECK(t >= 0 && p > 0 && p < 1 && confidence > 0 && confidence < 1,
             "min_passing_queries(t = {}, p = {}, confidence = {}) is outside its domain", t, p, confidence);
  const double target = 1.0 - confidence;
  int64_t lo = 1, hi = 1;
  while (early_stopping_odds(hi, t, p) >= target) hi *= 2;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (early_stopping_odds(mid, t, p) < target) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

int64_t percentile_index(int64_t n, double q) {
  DLRM_ASSERT(n > 0);
  return std::min<int64_t>(static_cast<int64_t>(std::floor(static_cast<double>(n) * q)), n - 1);
}

ServerEarlyStopping server_early_stopping(const std::vector<int64_t>& sorted_ns, int64_t bound_ns, double p) {
  ServerEarlyStopping es;
  const auto n = static_cast<int64_t>(sorted_ns.size());
  es.overlatency = sorted_ns.end() - std::upper_bound(sorted_ns.begin(), sorted_ns.end(), bound_ns);
  es.needed = min_passing_queries(es.overlatency, p) + es.overlatency;
  es.satisfied = n >= es.needed;
  return es;
}

SingleStreamEarlyStopping single_stream_early_stopping(const std::vector<int64_t>& sorted_ns, double p) {
  SingleStreamEarlyStopping es;
  const auto n = static_cast<int64_t>(sorted_ns.size());
  es.needed = min_passing_queries(1, p) + 1;
  if (n < es.needed) return es;
  int64_t t = 1;
  for (int64_t i = 2; i <= n; ++i) {
    if (n < min_passing_queries(i, p) + i) {
      t = i - 1;
      break;
    }
  }
  es.satisfied = true;
  es.discarded = t - 1;
  es.estimate_ns = sorted_ns[n - t];
  return es;
}

}  // namespace dlrm::scenario
