// Shared by the MLP and cross network tests: fp32 rounding constants, random
// inputs, the error bound of one fp32 layer (derived at the top of
// mlp_test.cc), how far a code can move (mlp_int8_test.cc), the comparison
// against a bound and the output range checks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "dlrm/common/element_type.h"
#include "dlrm/dense/mlp.h"

namespace dlrm::test {

inline constexpr double kUnitRoundoff = 1.0 / (1 << 24);
// oneDNN's exp against std::exp, absolute, for a sigmoid's value in (0, 1).
inline constexpr double kSigmoidSlack = 16 * kUnitRoundoff;

inline double gamma_n(int64_t n) { return n * kUnitRoundoff / (1.0 - n * kUnitRoundoff); }

// [batch, width] values ~ U(lo, hi).
inline std::vector<float> uniform_input(int batch, int width, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> x(static_cast<size_t>(batch) * width);
  for (float& v : x) v = dist(rng);
  return x;
}

// Per-output bound on |oneDNN - reference| after the fp32 layer `layer`, from
// the reference's input h [batch, in] and the bound delta [batch, in] on the
// difference of the inputs:
//   2 gamma_{K+1} S + (1 + gamma_{K+1}) sum_i |w_i| delta_i, then the activation's.
inline std::vector<double> fp32_layer_bound(const dense::Layer& layer, const std::vector<float>& h,
                                            const std::vector<double>& delta, int batch) {
  std::vector<double> next_delta(static_cast<size_t>(batch) * layer.out);
  const double g = gamma_n(layer.in + 1);
  for (int b = 0; b < batch; ++b) {
    for (int o = 0; o < layer.out; ++o) {
      double s = std::abs(layer.bias[o]);
      double wd = 0.0;
      for (int i = 0; i < layer.in; ++i) {
        double w = std::abs(static_cast<double>(layer.weight[static_cast<size_t>(o) * layer.in + i]));
        size_t k = static_cast<size_t>(b) * layer.in + i;
        s += w * std::abs(static_cast<double>(h[k]));
        wd += w * delta[k];
      }
      double dz = 2 * g * s + (1 + g) * wd;
      next_delta[static_cast<size_t>(b) * layer.out + o] =
          layer.act == dense::Activation::kSigmoid ? 0.25 * dz + kSigmoidSlack : dz;
    }
  }
  return next_delta;
}

// The code sat(rne(act(t))) of u8 or s8 type.
inline int code_of(double t, dense::Activation act, ElementType type) {
  if (act == dense::Activation::kRelu) t = std::max(t, 0.0);
  double lo = type == ElementType::kInt8 ? -128.0 : 0.0;
  double hi = type == ElementType::kInt8 ? 127.0 : 255.0;
  return static_cast<int>(std::nearbyint(std::clamp(t, lo, hi)));
}

// How far the code of t can move when t moves by at most d.
inline int code_spread(double t, double d, dense::Activation act, ElementType type) {
  int y = code_of(t, act, type);
  return std::max(code_of(t + d, act, type) - y, y - code_of(t - d, act, type));
}

// Expects |fast - ref| <= bound per output (reporting the first 10 that are
// not); `differ`, when given, receives how many outputs differ at all.
inline void expect_within(const std::vector<float>& fast, const std::vector<float>& ref,
                          const std::vector<double>& bound, int* differ = nullptr) {
  ASSERT_EQ(fast.size(), ref.size());
  int failures = 0, differing = 0;
  for (size_t k = 0; k < fast.size() && failures < 10; ++k) {
    double diff = std::abs(static_cast<double>(fast[k]) - ref[k]);
    if (diff != 0.0) ++differing;
    if (!(diff <= bound[k])) {
      ADD_FAILURE() << "output " << k << ": oneDNN " << fast[k] << " ref " << ref[k] << " diff " << diff << " > bound "
                    << bound[k];
      ++failures;
    }
  }
  if (differ != nullptr) *differ = differing;
}

// The outputs of a last layer with sigmoid lie in [0, 1], with ReLU in [0, inf).
inline void check_output_range(const std::vector<float>& out, dense::Activation last) {
  if (last == dense::Activation::kSigmoid) {
    for (float v : out) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << v;
  }
  if (last == dense::Activation::kRelu) {
    for (float v : out) ASSERT_GE(v, 0.0f);
  }
}

}  // namespace dlrm::test
