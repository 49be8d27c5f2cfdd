// MLPerf LoadGen's early stopping, and its percentile rule.
//
// With t of n queries over the latency bound, a run may stop early when it is
// 99% sure that the true p-th percentile latency is within the bound:
//   odds(h, t, p) = I_p(h, t + 1)
//                 = P(at most t of h + t queries over | each is over with 1 - p)
//   min_passing_queries(t, p, c) = the smallest h >= 1 with odds(h, t, p) < 1 - c
//   server:        satisfied iff n >= min_passing_queries(t, p) + t
//                  (p = 0.99: 459 queries with none over, 661 with one)
//   single-stream: the estimate is sorted[n - t*], t* the largest t with
//                  n >= min_passing_queries(t, p) + t (t >= 1; LoadGen's loop);
//                  unsatisfied below min_passing_queries(1, p) + 1 queries
// Percentile q of n sorted latencies: sorted[min(floor(n q), n - 1)].
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace dlrm::scenario {

inline constexpr double kConfidence = 0.99;

// The regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1].
double beta_regularized(double x, double a, double b);
// The same as a plain binomial sum (the _ref twin, for small a + b).
double beta_regularized_ref(double x, int64_t a, int64_t b);

double early_stopping_odds(int64_t h, int64_t t, double p);
int64_t min_passing_queries(int64_t t, double p, double confidence = kConfidence);

int64_t percentile_index(int64_t n, double q);

struct ServerEarlyStopping {
  bool satisfied = false;
  int64_t overlatency = 0;  // t
  int64_t needed = 0;       // queries a run with t over must have issued
};
// `sorted_ns`: the latencies of the queries issued, ascending.
ServerEarlyStopping server_early_stopping(const std::vector<int64_t>& sorted_ns, int64_t bound_ns, double p);

struct SingleStreamEarlyStopping {
  bool satisfied = false;
  int64_t needed = 0;           // min_passing_queries(1, p) + 1
  int64_t discarded = 0;        // t* - 1 highest latencies set aside
  int64_t estimate_ns = 0;      // sorted[n - t*]
};
SingleStreamEarlyStopping single_stream_early_stopping(const std::vector<int64_t>& sorted_ns, double p);

}  // namespace dlrm::scenario
