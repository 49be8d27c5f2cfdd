// CrossNetInt8 (oneDNN) against cross_net_int8_forward_ref, and int8 against
// the exact (double) cross network.
//
// CrossNetInt8 vs cross_net_int8_forward_ref: integer parts are exact on both
// sides, so differences come from float rounding only and spread from there,
// derived as in mlp_int8_test.cc (u = 2^-24, gamma_n = n u / (1 - n u)). Per
// layer, with dx the bound on the difference of the fp32 inputs x_l:
//  * quantising x: t = fl(x inv_x) moves by at most D = (1 + u) dx inv_x + 2 u |t| / (1 - u),
//    so its code by dq = code_spread(t, D) (0 unless t is within D of a rounding boundary)
//  * t codes: z = fl(fl(fl(acc) + bv) ov) moves by at most
//      D = |ov| (dacc (1 + gamma_3) + 2 gamma_3 (|acc| + |bv|)),  dacc = sum_i |Vq[r][i]| dq_i,
//    its code by code_spread(z, D)
//  * u = fl(fl(fl(acc) + bw) ow): du as D above, with dacc = sum_r |Wq[o][r]| dq_t[r]
//  * x' = x0 u + x_l, rounded once or twice on each side, each within gamma_2 (|x0 u| + |x_l|):
//      dx' = (1 + gamma_2) (|x0| du + dx) + 2 gamma_2 (|x0 u| + |x_l|)
// A wrong weight layout, scale, bias, code type, rounding mode or post-op
// makes many codes differ by far more than this and fails it.
//
// int8 vs exact arithmetic: see int8_layer_bound and Int8VsExact below.
#include "dlrm/dense/cross_net_int8.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cross_net_test_util.h"
#include "dlrm/common/error.h"
#include "dlrm/dense/calibration.h"
#include "mlp_test_util.h"
#include "test_files.h"

namespace dlrm::dense {
namespace {

using test::code_spread;
using test::expect_within;
using test::gamma_n;
using test::kUnitRoundoff;
using test::kCrossCases;
using test::random_cross_layers;
using test::uniform_input;

ActivationRanges calibrate(const std::vector<CrossLayer>& layers, const std::vector<float>& x0, int batch,
                           CalibratorOptions options = {}) {
  CrossCalibrator calibrator(layers, options);
  calibrator.observe(x0.data(), batch);
  return calibrator.ranges();
}

// Per-output bound on |CrossNetInt8 - cross_net_int8_forward_ref| as derived at the top of this file.
std::vector<double> int8_error_bound(const QuantizedCrossNet& q, const std::vector<float>& x0,
                                     const CrossNetInt8Trace& trace, int batch) {
  const double u = kUnitRoundoff, g2 = gamma_n(2), g3 = gamma_n(3);
  const int width = q.width();
  std::vector<double> dx(static_cast<size_t>(batch) * width, 0.0);
  for (size_t l = 0; l < q.layers.size(); ++l) {
    const QuantizedCrossLayer& ql = q.layers[l];
    const CrossNetInt8Trace::Step& step = trace.layers[l];
    std::vector<int> dq(dx.size()), dqt(static_cast<size_t>(ql.rank));
    for (size_t k = 0; k < dx.size(); ++k) {
      const double t = step.scaled_x[k];
      const double d = (1 + u) * dx[k] * ql.x_inv_scale + 2 * u * std::abs(t) / (1 - u);
      dq[k] = code_spread(t, d, Activation::kNone, ql.x_type);
    }
    std::vector<double> next(dx.size());
    for (int b = 0; b < batch; ++b) {
      const size_t row = static_cast<size_t>(b) * width;
      for (int r = 0; r < ql.rank; ++r) {
        int64_t dacc = 0;
        for (int i = 0; i < width; ++i) dacc += std::abs(ql.v[static_cast<size_t>(r) * width + i]) * dq[row + i];
        const size_t k = static_cast<size_t>(b) * ql.rank + r;
        const double d = std::abs(static_cast<double>(ql.v_output_scale[r])) *
                         (static_cast<double>(dacc) * (1 + g3) +
                          2 * g3 * (std::abs(static_cast<double>(step.t_acc[k])) + std::abs(ql.v_bias[r])));
        dqt[r] = code_spread(step.t_pre[k], d, Activation::kNone, ql.t_type);
      }
      for (int o = 0; o < width; ++o) {
        int64_t dacc = 0;
        for (int r = 0; r < ql.rank; ++r) dacc += std::abs(ql.w[static_cast<size_t>(o) * ql.rank + r]) * dqt[r];
        const size_t k = row + o;
        const double du = std::abs(static_cast<double>(ql.w_output_scale[o])) *
                          (static_cast<double>(dacc) * (1 + g3) +
                           2 * g3 * (std::abs(static_cast<double>(step.u_acc[k])) + std::abs(ql.w_bias[o])));
        const double a0 = std::abs(static_cast<double>(x0[k]));
        next[k] = (1 + g2) * (a0 * du + dx[k]) +
                  2 * g2 * (a0 * std::abs(static_cast<double>(step.u[k])) + std::abs(static_cast<double>(step.x[k])));
      }
    }
    dx.swap(next);
  }
  return dx;
}

// x0 drawn from one of two distributions: U(-1, 1) (s8 codes everywhere), or
// U(0, 1) (u8 codes for x_0; the cross layers' outputs are signed anyway).
std::vector<float> case_input(int batch, int width, bool non_negative, uint32_t seed) {
  return uniform_input(batch, width, non_negative ? 0.0f : -1.0f, 1.0f, seed);
}

void check_int8_against_ref(const std::vector<CrossLayer>& layers, bool non_negative, bool bias_correction,
                            int batch, uint32_t seed) {
  const int width = layers.front().width;
  const ActivationRanges ranges = calibrate(layers, case_input(1024, width, non_negative, seed), 1024);
  // Evaluation inputs 1.5x wider than the calibration's so that saturation is exercised.
  std::vector<float> x0 = case_input(batch, width, non_negative, seed + 1);
  for (float& v : x0) v *= 1.5f;
  const CrossNetInt8Options options{.bias_correction = bias_correction};
  const QuantizedCrossNet q = quantize_cross_net(layers, ranges, options);
  EXPECT_EQ(q.layers[0].x_type, non_negative ? ElementType::kUint8 : ElementType::kInt8);
  std::vector<float> ref(x0.size(), -5.0f);
  CrossNetInt8Trace trace;
  cross_net_int8_forward_ref(q, x0.data(), batch, ref.data(), &trace);
  CrossNetInt8 net(layers, ranges, options);
  EXPECT_EQ(net.width(), width);
  std::vector<float> fast(x0.size(), -7.0f);
  net.forward(x0.data(), batch, fast.data());
  int differ = 0;
  expect_within(fast, ref, int8_error_bound(q, x0, trace, batch), &differ);
  std::printf("  %d of %zu outputs differ from the reference at all\n", differ, fast.size());
}

class CrossNetInt8VsRef : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(CrossNetInt8VsRef, WithinDerivedBound) {
  const test::CrossCase& c = kCrossCases[std::get<0>(GetParam())];
  const int batch = std::get<1>(GetParam());
  const bool non_negative = std::get<2>(GetParam()) == 1;
  const uint32_t seed = 4000 + std::get<0>(GetParam());
  std::printf("case %s (X %d, R %d, %d layers) batch %d x0 %s seed %u\n", c.name, c.width, c.rank, c.layers, batch,
              non_negative ? "U(0, 1)" : "U(-1, 1)", seed);
  check_int8_against_ref(random_cross_layers(c.width, c.rank, c.layers, seed), non_negative, true, batch, seed + 1);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CrossNetInt8VsRef,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kCrossCases))),
                                            ::testing::Values(1, 7, 64, 300), ::testing::Values(0, 1)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int, int>>& info) {
                           return std::string(kCrossCases[std::get<0>(info.param)].name) + "_batch" +
                                  std::to_string(std::get<1>(info.param)) +
                                  (std::get<2>(info.param) == 1 ? "_u8" : "_s8");
                         });

TEST(CrossNetInt8, DlrmV2ShapeWithinDerivedBound) {
  const uint32_t seed = 4100;
  std::printf("DLRM-v2 shape (X 3456, R 512, 3 layers) batch 2 seed %u\n", seed);
  check_int8_against_ref(random_cross_layers(3456, 512, 3, seed), false, true, 2, seed + 1);
}

TEST(CrossNetInt8, WithoutBiasCorrectionWithinDerivedBound) {
  const uint32_t seed = 4200;
  std::printf("seed %u\n", seed);
  check_int8_against_ref(random_cross_layers(432, 8, 2, seed), false, false, 64, seed + 1);
}

// Hand-checked quantisation of one layer: code types, scales, weight codes,
// biases and output scales, and the reference's arithmetic on them.
TEST(QuantizeCrossNet, TinyByHand) {
  CrossLayer layer;
  layer.width = 2;
  layer.rank = 1;
  layer.v = {1.0f, -0.5f};     // s_v = 1/127: codes 127, rne(-63.5) = -64
  layer.w = {2.0f, 0.25f};     // rows of one value: s_w = 2/127 and 0.25/127, codes 127
  layer.bias = {0.5f, -1.0f};
  ActivationRanges ranges;
  ranges.samples = kMinCalibrationSamples;
  // x: seen negative, clip 127/64: s8, s_x = 1/64. t: never negative, clip 255/32: u8, s_t = 1/32.
  // Zero means: no bias correction.
  ranges.layers = {{2, -1.0f, 127.0f / 64, 127.0f / 64, 127.0f / 64, {0.0f, 0.0f}},
                   {1, 0.0f, 255.0f / 32, 255.0f / 32, 255.0f / 32, {0.0f}}};
  const QuantizedCrossNet q = quantize_cross_net({layer}, ranges);
  ASSERT_EQ(q.layers.size(), 1u);
  const QuantizedCrossLayer& ql = q.layers[0];
  EXPECT_EQ(ql.x_type, ElementType::kInt8);
  EXPECT_EQ(ql.t_type, ElementType::kUint8);
  EXPECT_EQ(ql.x_scale, 1.0f / 64);
  EXPECT_EQ(ql.x_inv_scale, 64.0f);
  EXPECT_EQ(ql.t_scale, 1.0f / 32);
  EXPECT_EQ(ql.v, (std::vector<int8_t>{127, -64}));
  EXPECT_EQ(ql.w, (std::vector<int8_t>{127, 127}));
  EXPECT_EQ(ql.v_bias[0], 0.0f);
  EXPECT_FLOAT_EQ(ql.v_output_scale[0], (1.0 / 64) * (1.0 / 127) / (1.0 / 32));
  EXPECT_FLOAT_EQ(ql.w_bias[0], 0.5 / ((1.0 / 32) * (2.0 / 127)));
  EXPECT_FLOAT_EQ(ql.w_bias[1], -1.0 / ((1.0 / 32) * (0.25 / 127)));
  EXPECT_FLOAT_EQ(ql.w_output_scale[1], (1.0 / 32) * (0.25 / 127));

  // x0 = (1, 0.5): codes (64, 32); acc = 64 * 127 - 32 * 64 = 6080; t = 6080 / 254 = 23.94 -> 24;
  // acc_w = 24 * 127 = 3048 for both rows: u = (3048 + bw) * ow = 24 / 32 * (2, 0.25) + (0.5, -1)
  // = (2, -0.8125); x1 = x0 * u + x0 = (3, 0.09375). fp32: t = 0.75, the same u and x1.
  const float x0[2] = {1.0f, 0.5f};
  float ref[2], fast[2];
  CrossNetInt8Trace trace;
  cross_net_int8_forward_ref(q, x0, 1, ref, &trace);
  EXPECT_EQ(trace.layers[0].x_codes, (std::vector<int32_t>{64, 32}));
  EXPECT_EQ(trace.layers[0].t_acc, (std::vector<int32_t>{6080}));
  EXPECT_EQ(trace.layers[0].t_codes, (std::vector<int32_t>{24}));
  EXPECT_EQ(trace.layers[0].u_acc, (std::vector<int32_t>{3048, 3048}));
  CrossNetInt8(q).forward(x0, 1, fast);
  for (const float* out : {ref, fast}) {
    EXPECT_FLOAT_EQ(out[0], 3.0f);
    EXPECT_FLOAT_EQ(out[1], 0.09375f);
  }
}

// Plans cached per batch size (and thread count) give what a fresh CrossNetInt8 gives.
TEST(CrossNetInt8, PrepareAndReuseAcrossBatchSizes) {
  const uint32_t seed = 4300;
  std::printf("seed %u\n", seed);
  const std::vector<CrossLayer> layers = random_cross_layers(432, 8, 3, seed);
  const ActivationRanges ranges = calibrate(layers, uniform_input(1024, 432, -1.0f, 1.0f, seed + 1), 1024);
  std::vector<float> x0 = uniform_input(300, 432, -1.0f, 1.0f, seed + 2);
  CrossNetInt8 reused(layers, ranges);
  reused.prepare(256);
  reused.prepare(7);
  const int threads = omp_get_max_threads();
  for (int round = 0; round < 2; ++round) {
    for (int batch : {256, 7, 300, 1, 256}) {
      for (int t : {1, threads}) {
        omp_set_num_threads(t);
        std::vector<float> got(static_cast<size_t>(batch) * 432, -1.0f), want(got.size(), -2.0f);
        reused.forward(x0.data(), batch, got.data());
        CrossNetInt8 fresh(layers, ranges);
        fresh.forward(x0.data(), batch, want.data());
        ASSERT_EQ(got, want) << "batch " << batch << " threads " << t;
      }
    }
  }
  omp_set_num_threads(threads);
  CrossNetInt8 moved(std::move(reused));
  const QuantizedCrossNet q = quantize_cross_net(layers, ranges);
  std::vector<float> got(static_cast<size_t>(256) * 432), ref(got.size());
  moved.forward(x0.data(), 256, got.data());
  CrossNetInt8Trace trace;
  cross_net_int8_forward_ref(q, x0.data(), 256, ref.data(), &trace);
  x0.resize(got.size());
  expect_within(got, ref, int8_error_bound(q, x0, trace, 256));
}

TEST(CrossNetInt8, ZeroBatchIsNoopAndBadArgumentsThrow) {
  const std::vector<CrossLayer> layers = random_cross_layers(8, 2, 2, 5);
  CrossNetInt8 net(layers, calibrate(layers, uniform_input(1024, 8, -1, 1, 6), 1024));
  float dst = 3.0f;
  net.forward(nullptr, 0, &dst);
  EXPECT_EQ(dst, 3.0f);
  std::vector<float> x0(16, 1.0f), out(16);
  EXPECT_THROW(net.forward(x0.data(), -1, out.data()), Error);
  EXPECT_ERROR_WITH(net.forward(x0.data(), 2, nullptr), "CrossNetInt8::forward", "null");
  EXPECT_ERROR_WITH(net.forward(x0.data(), 2, x0.data() + 3), "CrossNetInt8::forward", "overlaps x0");
  EXPECT_ERROR_WITH(cross_net_int8_forward_ref(net.quantized(), x0.data(), 2, x0.data()), "overlaps x0");
  EXPECT_ERROR_WITH(net.prepare(0), "CrossNetInt8::prepare", "positive");
  QuantizedCrossNet broken = net.quantized();
  broken.layers[1].w_bias.pop_back();
  EXPECT_ERROR_WITH(CrossNetInt8{broken}, "CrossNetInt8 cross layer 1", "do not match");
  EXPECT_ERROR_WITH(CrossNetInt8{QuantizedCrossNet{}}, "CrossNetInt8", "no layers");
}

TEST(CrossNetInt8, RangesMustFitTheLayers) {
  const std::vector<CrossLayer> layers = random_cross_layers(12, 4, 2, 9);
  const ActivationRanges good = calibrate(layers, uniform_input(1024, 12, -1, 1, 10), 1024);
  EXPECT_NO_THROW(CrossNetInt8(layers, good));
  ActivationRanges fewer = good;
  fewer.layers.pop_back();
  EXPECT_ERROR_WITH(CrossNetInt8(layers, fewer), "CrossNetInt8", "3 cross ranges", "need 4");
  ActivationRanges rank = good;
  rank.layers[3].width = 5;
  rank.layers[3].mean.resize(5, 0.0f);
  EXPECT_ERROR_WITH(CrossNetInt8(layers, rank), "CrossNetInt8", "cross layer 1's t = V x is 5 wide", "rank is 4");
  ActivationRanges few = good;
  few.samples = 1000;
  EXPECT_ERROR_WITH(CrossNetInt8(layers, few), "1000 samples", "at least 1024");
  EXPECT_NO_THROW(CrossNetInt8(layers, few, {.min_calibration_samples = 1000}));
  std::vector<CrossLayer> broken = layers;
  broken[1].bias.pop_back();
  EXPECT_ERROR_WITH(CrossNetInt8(broken, good), "CrossNetInt8 cross layer 1", "bias");
  // An activation never seen non-zero still quantises (to zero) without dividing by zero.
  ActivationRanges zero = good;
  zero.layers[1] = {4, 0.0f, 0.0f, 0.0f, 0.0f, std::vector<float>(4, 0.0f)};
  const QuantizedCrossNet q = quantize_cross_net(layers, zero);
  EXPECT_TRUE(std::isnormal(q.layers[0].t_scale));
}

TEST(CrossNetInt8, ImplementationsAreNotReference) {
  const std::vector<CrossLayer> layers = random_cross_layers(3456, 512, 1, 11);
  CrossNetInt8 net(layers, calibrate(layers, uniform_input(1024, 3456, -1.0f, 1.0f, 12), 1024));
  for (int batch : {1, 256}) {
    for (const std::string& name : net.implementations(batch)) {
      std::printf("  batch %d %s\n", batch, name.c_str());
      EXPECT_EQ(name.find("ref"), std::string::npos) << name;
    }
  }
}

// int8 against exact arithmetic. Each int8 layer l is compared with the
// fp32 layer computed exactly (double) on the same input, the int8
// reference's x_l, against a worst-case bound derived from the quantisation
// (per layer, so that the bound does not compound through the layers):
//  * x is quantised to xq_i = s_x q_i: |xq_i - x_i| <= s_x |q_i - t_i| + 3 u |x_i| =: rho_i
//    (t_i = x_i inv_x as computed: rounding, or saturation beyond the clip)
//  * V is rounded to Vh = s_v Vq, and its bias correction is c_v = -bv s_x s_v:
//      T_r = sum_i Vh_ri xq_i - c_v[r] is what (acc + bv) ov s_t means exactly, and
//      |T_r - t_r| <= sum_i (|Vh_ri - V_ri| |xq_i| + |V_ri| rho_i) + |c_v[r]|
//    the computed z = fl(fl(acc + bv) ov) is within gamma_4 (|acc| + |bv|) |ov| of T_r / s_t
//    (gamma_4: three operations and the rounding of ov itself), and the code is |qt - z|
//    further: E_t[r] = s_t (|qt - z| + gamma_4 (|acc| + |bv|) |ov|) + that sum
//  * u likewise with W, the t codes tq = s_t qt and c_w = b - bw s_t s_w:
//      E_u[o] = gamma_4 (|acc| + |bw|) |ow| + sum_r (|Wh_or - W_or| |tq_r| + |W_or| E_t[r]) + |c_w[o]|
//  * x' = x0 u + x: |x'_int8 - x'_exact| <= |x0_o| E_u[o] + gamma_2 (|x0_o u_o| + |x_o|)
// CrossNetInt8 is within int8_error_bound of the reference (tested above).
// The bound is worst case (every rounding error of a sum pointing the same
// way): at small shapes it is 5-8% of the outputs' rms (measured) and a
// wrong scale, a lost bias or a post-op on the wrong operand exceeds it; at
// DLRM-v2's 3456 x 512 it is of the order of the outputs themselves, so
// there only the end-to-end check of the typical error is informative
// (Int8VsExact).
std::vector<double> int8_layer_bound(const CrossLayer& layer, const QuantizedCrossLayer& ql,
                                     const std::vector<float>& x0, const CrossNetInt8Trace::Step& step, int batch) {
  const double u = kUnitRoundoff, g2 = gamma_n(2), g4 = gamma_n(4);
  const int width = ql.width;
  std::vector<double> bound(static_cast<size_t>(batch) * width), et(static_cast<size_t>(ql.rank));
  for (int b = 0; b < batch; ++b) {
    const size_t row = static_cast<size_t>(b) * width;
    for (int r = 0; r < ql.rank; ++r) {
      const double sv = ql.v_scale[r];
      double sum = std::abs(static_cast<double>(ql.v_bias[r]) * ql.x_scale * sv);
      for (int i = 0; i < width; ++i) {
        const size_t vi = static_cast<size_t>(r) * width + i;
        const double xq = static_cast<double>(ql.x_scale) * step.x_codes[row + i];
        const double rho = ql.x_scale * std::abs(step.x_codes[row + i] - static_cast<double>(step.scaled_x[row + i])) +
                           3 * u * std::abs(static_cast<double>(step.x[row + i]));
        sum += std::abs(sv * ql.v[vi] - layer.v[vi]) * std::abs(xq) + std::abs(layer.v[vi]) * rho;
      }
      const size_t k = static_cast<size_t>(b) * ql.rank + r;
      const double z = step.t_pre[k];
      et[r] = ql.t_scale * (std::abs(step.t_codes[k] - z) +
                            g4 * (std::abs(static_cast<double>(step.t_acc[k])) + std::abs(ql.v_bias[r])) *
                                std::abs(ql.v_output_scale[r])) +
              sum;
    }
    for (int o = 0; o < width; ++o) {
      const double sw = ql.w_scale[o];
      const size_t k = row + o;
      double eu = g4 * (std::abs(static_cast<double>(step.u_acc[k])) + std::abs(ql.w_bias[o])) *
                      std::abs(ql.w_output_scale[o]) +
                  std::abs(layer.bias[o] - static_cast<double>(ql.w_bias[o]) * ql.t_scale * sw);
      for (int r = 0; r < ql.rank; ++r) {
        const size_t wi = static_cast<size_t>(o) * ql.rank + r;
        const double tq = static_cast<double>(ql.t_scale) * step.t_codes[static_cast<size_t>(b) * ql.rank + r];
        eu += std::abs(sw * ql.w[wi] - layer.w[wi]) * std::abs(tq) + std::abs(layer.w[wi]) * et[r];
      }
      const double a0 = std::abs(static_cast<double>(x0[k]));
      bound[k] = a0 * eu + g2 * (a0 * std::abs(static_cast<double>(step.u[k])) + std::abs(static_cast<double>(step.x[k])));
    }
  }
  return bound;
}

// The cross layers [first, last) in double on the fp32 weights, from x (x0 for first = 0).
std::vector<double> exact_cross_layers(const std::vector<CrossLayer>& layers, size_t first, size_t last,
                                       const std::vector<float>& x0, const std::vector<float>& x_first, int batch) {
  const int width = layers.front().width;
  std::vector<double> x(x_first.begin(), x_first.end()), next(x.size());
  for (size_t l = first; l < last; ++l) {
    const CrossLayer& layer = layers[l];
    std::vector<double> t(static_cast<size_t>(layer.rank));
    for (int b = 0; b < batch; ++b) {
      const size_t row = static_cast<size_t>(b) * width;
      for (int r = 0; r < layer.rank; ++r) {
        t[r] = 0;
        for (int i = 0; i < width; ++i) t[r] += x[row + i] * layer.v[static_cast<size_t>(r) * width + i];
      }
      for (int o = 0; o < width; ++o) {
        double uo = layer.bias[o];
        for (int r = 0; r < layer.rank; ++r) uo += t[r] * layer.w[static_cast<size_t>(o) * layer.rank + r];
        next[row + o] = x0[row + o] * uo + x[row + o];
      }
    }
    x.swap(next);
  }
  return x;
}

// Every int8 layer within the worst-case bound of the exact layer on the
// same input, and the whole int8 network (oneDNN) against the exact one in
// relative L2, on evaluation samples drawn apart from the calibration's.
// Expected typical error: s8 codes of x (step clip / 127 with clip about
// 1.7x the rms of x ~ U(-1, 1)) and of V and W (step max |row| / 127, about
// 1.7x their rms / 127) each add noise of about 0.4% of a product's rms; the
// t codes (clip = abs_max, several times t's rms) about 1%; in quadrature
// about 1% per layer's u, diluted in x0 u + x_l. Measured with the seeds
// below: 0.3-0.5% relative L2 after 2-3 layers. Required: < 2%.
TEST(Int8VsExact, LayersWithinWorstCaseBoundNetworkWithinExpectedNoise) {
  struct Shape {
    int width, rank, layers;
  };
  for (const Shape& shape : {Shape{432, 8, 2}, Shape{64, 32, 3}, Shape{3456, 512, 3}}) {
    const uint32_t seed = 4400 + static_cast<uint32_t>(shape.width);
    const int n_cal = 2048, batch = shape.width > 1000 ? 4 : 256;
    std::printf("X %d R %d %d layers, batch %d, seed %u\n", shape.width, shape.rank, shape.layers, batch, seed);
    const std::vector<CrossLayer> layers = random_cross_layers(shape.width, shape.rank, shape.layers, seed);
    const ActivationRanges ranges = calibrate(layers, uniform_input(n_cal, shape.width, -1.0f, 1.0f, seed + 1), n_cal);
    const std::vector<float> x0 = uniform_input(batch, shape.width, -1.0f, 1.0f, seed + 2);
    const QuantizedCrossNet q = quantize_cross_net(layers, ranges);
    std::vector<float> ref(x0.size()), fast(x0.size());
    CrossNetInt8Trace trace;
    cross_net_int8_forward_ref(q, x0.data(), batch, ref.data(), &trace);
    for (size_t l = 0; l < layers.size(); ++l) {
      const std::vector<double> exact = exact_cross_layers(layers, l, l + 1, x0, trace.layers[l].x, batch);
      const std::vector<double> bound = int8_layer_bound(layers[l], q.layers[l], x0, trace.layers[l], batch);
      const std::vector<float>& got = l + 1 < layers.size() ? trace.layers[l + 1].x : ref;
      double worst = 0, bound_sum = 0, norm2 = 0;
      for (size_t k = 0; k < exact.size(); ++k) {
        const double d = std::abs(got[k] - exact[k]);
        ASSERT_LE(d, bound[k]) << "layer " << l << " output " << k << ": int8 " << got[k] << " exact " << exact[k];
        worst = std::max(worst, d / bound[k]);
        bound_sum += bound[k];
        norm2 += exact[k] * exact[k];
      }
      std::printf("  layer %zu: largest error / bound %.3f; mean bound / rms output %.3f\n", l, worst,
                  bound_sum / static_cast<double>(exact.size()) / std::sqrt(norm2 / static_cast<double>(exact.size())));
    }
    CrossNetInt8(q).forward(x0.data(), batch, fast.data());
    const std::vector<double> exact = exact_cross_layers(layers, 0, layers.size(), x0, x0, batch);
    double err2 = 0, norm2 = 0;
    for (size_t k = 0; k < exact.size(); ++k) {
      err2 += (fast[k] - exact[k]) * (fast[k] - exact[k]);
      norm2 += exact[k] * exact[k];
    }
    const double rel_l2 = std::sqrt(err2 / norm2);
    std::printf("  CrossNetInt8 against exact: relative L2 error %.3e\n", rel_l2);
    EXPECT_LT(rel_l2, 2e-2);
  }
}

// Throughput of DLRM-v2's cross network (3 layers, 3456 x 512), CrossNet
// against CrossNetInt8, at batches 256 and 1024 on 1 and 2 threads, with the
// multiply-adds per second (cross_net_macs) to set against the machine's
// FMA peak. Timing is not a unit test: it runs only with
// DLRM_BENCH_CROSS_NET=1 (e.g. OMP_NUM_THREADS=2 DLRM_BENCH_CROSS_NET=1
// test_dense --gtest_filter='CrossNetBench.*'). Measured on the 2-core
// AVX-512 VNNI build machine (shared, so medians are noisy), batch 256:
// fp32 87 GMAC/s on one thread (about 90% of its AVX-512 FMA peak),
// int8 3.4x the fp32 samples/s; both scale to 2 threads.
TEST(CrossNetBench, DlrmV2Throughput) {
  const char* enabled = std::getenv("DLRM_BENCH_CROSS_NET");
  if (enabled == nullptr || std::string(enabled) != "1") GTEST_SKIP() << "set DLRM_BENCH_CROSS_NET=1 to run";
  const std::vector<CrossLayer> layers = random_cross_layers(3456, 512, 3, 31);
  const ActivationRanges ranges = calibrate(layers, uniform_input(2048, 3456, -1.0f, 1.0f, 32), 2048);
  const int64_t macs = cross_net_macs(layers);
  const int max_threads = omp_get_max_threads();
  std::printf("%-14s %6s %8s %12s %12s %12s %10s\n", "variant", "batch", "threads", "min us", "median us",
              "samples/s", "GMAC/s");
  for (int batch : {256, 1024}) {
    const std::vector<float> x0 = uniform_input(batch, 3456, -1.0f, 1.0f, 33);
    std::vector<float> dst(x0.size());
    for (int threads = 1; threads <= std::min(2, max_threads); ++threads) {
      omp_set_num_threads(threads);
      auto time = [&](const char* name, auto& net) {
        net.prepare(batch);
        std::vector<double> us;
        for (int it = 0; it < 60; ++it) {
          const auto t0 = std::chrono::steady_clock::now();
          net.forward(x0.data(), batch, dst.data());
          const auto t1 = std::chrono::steady_clock::now();
          if (it >= 10) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
        std::sort(us.begin(), us.end());
        const double median = us[us.size() / 2];
        std::printf("%-14s %6d %8d %12.1f %12.1f %12.0f %10.1f\n", name, batch, threads, us.front(), median,
                    batch / (median * 1e-6), static_cast<double>(macs) * batch / (us.front() * 1e3));
      };
      CrossNet fp32(layers);
      time("fp32 CrossNet", fp32);
      CrossNetInt8 int8(layers, ranges);
      time("CrossNetInt8", int8);
    }
  }
  omp_set_num_threads(max_threads);
}

}  // namespace
}  // namespace dlrm::dense
