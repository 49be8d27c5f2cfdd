// MlpInt8 (oneDNN) against mlp_int8_forward_ref, and int8 against fp32.
//
// MlpInt8 vs mlp_int8_forward_ref. Integer parts are exact on both sides
// (int32 accumulation of u8/s8 x s8 products, including oneDNN's s8-source
// compensation), so differences come only from float rounding and spread
// from there. With u = 2^-24 and gamma_n = n u / (1 - n u), per element:
//  * quantising fp32 input x (difference delta from earlier layers) by t = fl(x / s):
//      |t_fast - t_ref| <= D = (1 + u) delta / s + 2 u |t_ref| / (1 - u)
//  * an int8 layer's z = fl(fl(fl(acc) + bq) * os) is within gamma_3 (|acc| + |bq|) |os| of
//    (acc + bq) os, and acc differs by at most dacc = sum_i |Wq[o][i]| dq[i], so
//      |z_fast - z_ref| <= D = |os| (dacc (1 + gamma_3) + 2 gamma_3 (|acc_ref| + |bq|))
//  * a code y = sat(rne(act(t))) is monotone in t, so from the reference's own t
//      dq <= max(y(t + D) - y(t), y(t) - y(t - D))
//    which is 0 unless t lies within D of a rounding boundary: codes must
//    match exactly except at near-ties, where they may differ by one (and
//    that difference is carried to the next layer through dacc).
//  * fp32 outputs: ReLU is 1-Lipschitz, sigmoid 1/4-Lipschitz plus 16 u for
//    oneDNN's exp against std::exp; fp32 layers as in mlp_test.cc:
//      2 gamma_{K+1} S + (1 + gamma_{K+1}) sum_i |w_i| delta_i.
// A wrong weight layout, scale, bias, code type or rounding mode makes many
// codes differ by far more than this and fails it.
//
// int8 vs fp32 (accuracy): see Int8VsFp32.DlrmPredictions.
#include "dlrm/dense/mlp_int8.h"

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

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/dense/calibration.h"
#include "dlrm/dense/interaction.h"
#include "dlrm/dense/mlp.h"
#include "mlp_test_util.h"

namespace dlrm::dense {
namespace {

using test::check_output_range;
using test::code_spread;
using test::expect_within;
using test::fp32_layer_bound;
using test::gamma_n;
using test::kSigmoidSlack;
using test::kUnitRoundoff;
using test::uniform_input;

// DLRM's create_mlp initialisation: W ~ N(0, sqrt(2 / (in + out))) (Glorot
// normal), b ~ N(0, sqrt(1 / out)).
std::vector<Layer> dlrm_layers(const std::vector<int>& widths, Activation last, uint32_t seed,
                               Activation hidden = Activation::kRelu) {
  std::mt19937 rng(seed);
  std::vector<Layer> layers;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    Layer layer;
    layer.in = widths[l];
    layer.out = widths[l + 1];
    std::normal_distribution<float> w(0.0f, std::sqrt(2.0f / static_cast<float>(layer.in + layer.out)));
    std::normal_distribution<float> b(0.0f, std::sqrt(1.0f / static_cast<float>(layer.out)));
    layer.weight.resize(static_cast<size_t>(layer.in) * layer.out);
    for (float& v : layer.weight) v = w(rng);
    layer.bias.resize(layer.out);
    for (float& v : layer.bias) v = b(rng);
    layer.act = l + 2 == widths.size() ? last : hidden;
    layers.push_back(std::move(layer));
  }
  return layers;
}

// Criteo-like dense input: log(1 + count), counts heavy-tailed with many zeros.
std::vector<float> dense_features(int batch, int width, uint32_t seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<float> count(1.0f, 2.0f);
  std::bernoulli_distribution missing(0.3);
  std::vector<float> x(static_cast<size_t>(batch) * width);
  for (float& v : x) v = missing(rng) ? 0.0f : std::log1p(std::floor(count(rng)));
  return x;
}

ActivationRanges calibrate(const std::vector<Layer>& layers, const std::vector<float>& src, int batch,
                           CalibratorOptions options = {}) {
  Calibrator calibrator(layers, options);
  calibrator.observe(src.data(), batch);
  return calibrator.ranges();
}

// Per-output bound on |MlpInt8 - mlp_int8_forward_ref| as derived at the top of this file.
std::vector<double> int8_error_bound(const QuantizedMlp& q, const MlpInt8Trace& trace, int batch) {
  const double u = kUnitRoundoff;
  std::vector<double> delta(static_cast<size_t>(batch) * q.in(), 0.0);  // fp32 activations
  std::vector<int> dcode;                                               // codes
  for (size_t l = 0; l < q.layers.size(); ++l) {
    const QuantizedLayer& ql = q.layers[l];
    const MlpInt8Trace::Step& step = trace.layers[l];
    const size_t n_out = static_cast<size_t>(batch) * ql.out;
    if (!ql.int8) {
      delta = fp32_layer_bound(ql.fp32, step.src, delta, batch);
      continue;
    }
    if (ql.quantize_src) {
      dcode.assign(step.scaled_src.size(), 0);
      for (size_t k = 0; k < dcode.size(); ++k) {
        double t = step.scaled_src[k];
        double d = (1 + u) * delta[k] * ql.src_inv_scale + 2 * u * std::abs(t) / (1 - u);
        dcode[k] = code_spread(t, d, Activation::kNone, ql.src_type);
      }
    }
    std::vector<double> next_delta;
    std::vector<int> next_code;
    if (ql.dst_type == ElementType::kFp32) {
      next_delta.resize(n_out);
    } else {
      next_code.resize(n_out);
    }
    const double g3 = gamma_n(3);
    for (int b = 0; b < batch; ++b) {
      for (int o = 0; o < ql.out; ++o) {
        int64_t dacc = 0;
        for (int i = 0; i < ql.in; ++i) {
          dacc += static_cast<int64_t>(std::abs(ql.weight[static_cast<size_t>(o) * ql.in + i])) *
                  dcode[static_cast<size_t>(b) * ql.in + i];
        }
        size_t k = static_cast<size_t>(b) * ql.out + o;
        double os = std::abs(static_cast<double>(ql.output_scale[o]));
        double d = os * (static_cast<double>(dacc) * (1 + g3) +
                         2 * g3 * (std::abs(static_cast<double>(step.acc[k])) + std::abs(ql.bias[o])));
        if (ql.dst_type != ElementType::kFp32) {
          next_code[k] = code_spread(step.pre[k], d, ql.act, ql.dst_type);
        } else {
          next_delta[k] = ql.act == Activation::kSigmoid ? 0.25 * d + kSigmoidSlack : d;
        }
      }
    }
    if (ql.dst_type == ElementType::kFp32) {
      delta.swap(next_delta);
    } else {
      dcode.swap(next_code);
    }
  }
  return delta;
}

struct Int8Case {
  const char* name;
  std::vector<int> widths;
  Activation last;
  Activation hidden;
  bool signed_input;
};

const Int8Case kCases[] = {
    {"dlrm_bottom", {13, 512, 256, 128}, Activation::kRelu, Activation::kRelu, false},
    {"dlrm_top", {479, 1024, 1024, 512, 256, 1}, Activation::kSigmoid, Activation::kRelu, true},
    {"small_top", {367, 64, 32, 1}, Activation::kSigmoid, Activation::kRelu, true},
    // No activation anywhere: signed codes (s8 destinations) between layers.
    {"odd_widths_no_act", {5, 33, 17, 3}, Activation::kNone, Activation::kNone, true},
    {"single_layer", {16, 16}, Activation::kRelu, Activation::kRelu, false},
};

std::vector<float> case_input(const Int8Case& c, int batch, uint32_t seed) {
  if (c.widths.front() == 13) return dense_features(batch, 13, seed);
  return uniform_input(batch, c.widths.front(), c.signed_input ? -1.0f : 0.0f, 1.0f, seed);
}

// Which layers run in fp32: none, the last, the first and the last; per-layer
// fallback (fp32_layers): layer 1 between int8 layers (dequantise, fp32,
// quantise again), and layers 1 and 2 in a row before an int8 last layer.
const MlpInt8Options kPrecisions[] = {
    {.last_layer_fp32 = false},
    {.last_layer_fp32 = true},
    {.first_layer_fp32 = true, .last_layer_fp32 = true},
    {.last_layer_fp32 = true, .fp32_layers = {1}},
    {.last_layer_fp32 = false, .fp32_layers = {1, 2}},
};
const char* const kPrecisionNames[] = {"all_int8", "fp32_last", "fp32_first_last", "fallback_1", "fallback_1_2"};

class MlpInt8VsRef : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(MlpInt8VsRef, WithinDerivedBound) {
  const Int8Case& c = kCases[std::get<0>(GetParam())];
  const int batch = std::get<1>(GetParam());
  const MlpInt8Options& options = kPrecisions[std::get<2>(GetParam())];
  const uint32_t seed = 2000 + std::get<0>(GetParam());
  std::printf("case %s batch %d %s seed %u\n", c.name, batch, kPrecisionNames[std::get<2>(GetParam())], seed);
  std::vector<Layer> layers = dlrm_layers(c.widths, c.last, seed, c.hidden);
  std::vector<float> cal = case_input(c, 1024, seed + 1);
  ActivationRanges ranges = calibrate(layers, cal, 1024);
  // Evaluation inputs 1.5x wider than the calibration's so that saturation is exercised.
  std::vector<float> src = case_input(c, batch, seed + 2);
  for (float& v : src) v *= 1.5f;
  QuantizedMlp q = quantize_mlp(layers, ranges, options);
  for (int l : options.fp32_layers) {
    if (static_cast<size_t>(l) < q.layers.size()) {
      ASSERT_FALSE(q.layers[l].int8) << "layer " << l << " falls back";
    }
  }
  std::vector<float> ref(static_cast<size_t>(batch) * c.widths.back());
  MlpInt8Trace trace;
  mlp_int8_forward_ref(q, src.data(), batch, ref.data(), &trace);
  MlpInt8 mlp(layers, ranges, options);
  EXPECT_EQ(mlp.in(), c.widths.front());
  EXPECT_EQ(mlp.out(), c.widths.back());
  std::vector<float> fast(ref.size(), -7.0f);
  mlp.forward(src.data(), batch, fast.data());
  int differ = 0;
  expect_within(fast, ref, int8_error_bound(q, trace, batch), &differ);
  std::printf("  %d of %zu outputs differ from the reference at all\n", differ, fast.size());
  check_output_range(fast, c.last);
}

INSTANTIATE_TEST_SUITE_P(Shapes, MlpInt8VsRef,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kCases))),
                                            ::testing::Values(1, 7, 256, 300),
                                            ::testing::Range(0, static_cast<int>(std::size(kPrecisions)))),
                         [](const ::testing::TestParamInfo<std::tuple<int, int, int>>& info) {
                           return std::string(kCases[std::get<0>(info.param)].name) + "_batch" +
                                  std::to_string(std::get<1>(info.param)) + "_" +
                                  kPrecisionNames[std::get<2>(info.param)];
                         });

// Hand-checked quantisation: scales, weight codes, bias, code types and
// round-half-to-even at the input.
TEST(QuantizeMlp, TinyByHand) {
  Layer a;
  a.in = 2;
  a.out = 2;
  a.weight = {1.0f, -0.5f,   // output 0: s_w = 1/127, codes 127, rne(-63.5) = -64
              0.25f, 2.0f};  // output 1: s_w = 2/127, codes rne(15.875) = 16, 127
  a.bias = {0.5f, -1.0f};
  a.act = Activation::kRelu;
  Layer b;
  b.in = 2;
  b.out = 1;
  b.weight = {1.0f, 1.0f};
  b.bias = {0.0f};
  b.act = Activation::kSigmoid;
  ActivationRanges ranges;
  ranges.samples = kMinCalibrationSamples;
  // Input clip 255/64: s_x = 1/64 and the quantiser multiplies by exactly 64.
  const float clip0 = 255.0f / 64;
  // Zero column means: no bias correction.
  ranges.layers = {{2, 0.0f, clip0, clip0, clip0, {0.0f, 0.0f}}, {2, 0.0f, 8.0f, 8.0f, 8.0f, {0.0f, 0.0f}}};
  QuantizedMlp q = quantize_mlp({a, b}, ranges, {.last_layer_fp32 = false});
  ASSERT_EQ(q.layers.size(), 2u);
  const QuantizedLayer& l0 = q.layers[0];
  const QuantizedLayer& l1 = q.layers[1];
  EXPECT_TRUE(l0.int8 && l1.int8);
  EXPECT_TRUE(l0.quantize_src);
  EXPECT_FALSE(l1.quantize_src);
  EXPECT_EQ(l0.src_type, ElementType::kUint8);
  EXPECT_EQ(l0.dst_type, ElementType::kUint8);
  EXPECT_EQ(l1.dst_type, ElementType::kFp32);
  EXPECT_EQ(l0.src_scale, 1.0f / 64);
  EXPECT_EQ(l0.src_inv_scale, 64.0f);
  EXPECT_EQ(l1.src_scale, static_cast<float>(8.0 / 255));
  EXPECT_EQ(l0.weight, (std::vector<int8_t>{127, -64, 16, 127}));
  EXPECT_EQ(l0.weight_scale[0], static_cast<float>(1.0 / 127));
  EXPECT_EQ(l0.weight_scale[1], static_cast<float>(2.0 / 127));
  EXPECT_FLOAT_EQ(l0.bias[0], 0.5 * 64 * 127);
  EXPECT_FLOAT_EQ(l0.bias[1], -1.0 * 64 * 127 / 2);
  EXPECT_FLOAT_EQ(l0.output_scale[1], (1.0 / 64) * (2.0 / 127) / (8.0 / 255));
  EXPECT_FLOAT_EQ(l1.output_scale[0], (8.0 / 255) * (1.0 / 127));

  // 127.5 / 64 scales to the tie 127.5 -> 128 (even), 126.5 / 64 to 126.5 -> 126 (even);
  // 5 saturates to 255, -1 to 0.
  const float src[4] = {127.5f / 64, 126.5f / 64, 5.0f, -1.0f};
  MlpInt8Trace trace;
  float ref[2], fast[2];
  mlp_int8_forward_ref(q, src, 2, ref, &trace);
  EXPECT_EQ(trace.layers[0].scaled_src[0], 127.5f);
  EXPECT_EQ(trace.layers[0].scaled_src[1], 126.5f);
  EXPECT_EQ(trace.layers[0].codes, (std::vector<int32_t>{128, 126, 255, 0}));
  // Sample 1: acc = 255 * 127 = 32385 and 255 * 16 = 4080.
  EXPECT_EQ(trace.layers[0].acc[2], 32385);
  EXPECT_EQ(trace.layers[0].acc[3], 4080);
  MlpInt8 mlp(q);
  mlp.forward(src, 2, fast);
  // Same codes and accumulators; the sigmoid is oneDNN's against std::exp.
  for (int b = 0; b < 2; ++b) EXPECT_NEAR(fast[b], ref[b], kSigmoidSlack) << "sample " << b;
  // Against fp32: sample 0 is (1.99, 1.98): layer 0 gives 1.50 and 3.45, well inside layer 1's range.
  float fp32[2];
  mlp_forward_ref({a, b}, src, 2, fp32);
  EXPECT_NEAR(fast[0], fp32[0], 0.01);
}

// With inputs that are exact codes (integers, s_x = 1) only the weights are
// rounded; bias correction then removes the output's mean error over the
// calibration set, which without it is a clear systematic shift.
TEST(QuantizeMlp, BiasCorrectionRemovesTheMeanWeightError) {
  const uint32_t seed = 91;
  std::printf("seed %u\n", seed);
  std::vector<Layer> layers = dlrm_layers({64, 32}, Activation::kNone, seed);
  layers[0].act = Activation::kNone;
  const int n = 2048;
  std::mt19937 rng(seed + 1);
  std::vector<float> src(static_cast<size_t>(n) * 64);
  // Column i ~ U{0, .., 255} with a column-dependent mean (so the shift does not average out).
  for (int b = 0; b < n; ++b) {
    for (int i = 0; i < 64; ++i) {
      std::binomial_distribution<int> code(255, (i + 1) / 65.0);
      src[static_cast<size_t>(b) * 64 + i] = static_cast<float>(code(rng));
    }
  }
  ActivationRanges ranges = calibrate(layers, src, n);
  ranges.layers[0].clip = 255.0f;  // s_x = 1: every input is a code
  std::vector<float> fp32(static_cast<size_t>(n) * 32);
  mlp_forward_ref(layers, src.data(), n, fp32.data());
  for (bool correct : {false, true}) {
    QuantizedMlp q = quantize_mlp(layers, ranges, {.last_layer_fp32 = false, .bias_correction = correct});
    ASSERT_EQ(q.layers[0].src_scale, 1.0f);
    std::vector<float> int8(fp32.size());
    MlpInt8(q).forward(src.data(), n, int8.data());
    double worst_shift = 0, spread = 0;
    for (int o = 0; o < 32; ++o) {
      double shift = 0;
      for (int b = 0; b < n; ++b) {
        size_t k = static_cast<size_t>(b) * 32 + o;
        shift += int8[k] - static_cast<double>(fp32[k]);
        spread = std::max(spread, std::abs(static_cast<double>(fp32[k])));
      }
      worst_shift = std::max(worst_shift, std::abs(shift / n));
    }
    std::printf("bias correction %d: worst mean shift of an output %.3e (outputs up to %.1f)\n", correct, worst_shift,
                spread);
    // The corrected shift is float rounding only: |bq| (up to ~1e6 accumulator units) to 2^-24
    // relative, a few 1e-5 here, against about 1e-2 uncorrected.
    if (correct) {
      EXPECT_LT(worst_shift, 1e-4 * spread);
    } else {
      EXPECT_GT(worst_shift, 1e-3 * spread);
    }
  }
}

// Plans cached per batch size and thread count give what a fresh MlpInt8 gives.
TEST(MlpInt8, PrepareAndReuseAcrossBatchSizes) {
  const uint32_t seed = 78;
  std::printf("seed %u\n", seed);
  std::vector<Layer> layers = dlrm_layers({479, 1024, 1024, 512, 256, 1}, Activation::kSigmoid, seed);
  std::vector<float> cal = uniform_input(1024, 479, -1.0f, 1.0f, seed + 1);
  ActivationRanges ranges = calibrate(layers, cal, 1024);
  std::vector<float> src = uniform_input(300, 479, -1.0f, 1.0f, seed + 2);
  MlpInt8 reused(layers, ranges);
  reused.prepare(256);
  reused.prepare(7);
  const int threads = omp_get_max_threads();
  for (int round = 0; round < 2; ++round) {
    for (int batch : {256, 7, 300, 1, 256}) {
      for (int t : {1, threads}) {
        omp_set_num_threads(t);
        std::vector<float> got(batch, -1.0f), want(batch, -2.0f);
        reused.forward(src.data(), batch, got.data());
        MlpInt8 fresh(layers, ranges);
        fresh.forward(src.data(), batch, want.data());
        for (int b = 0; b < batch; ++b) ASSERT_EQ(got[b], want[b]) << "batch " << batch << " threads " << t;
      }
    }
  }
  omp_set_num_threads(threads);
  MlpInt8 moved(std::move(reused));
  QuantizedMlp q = quantize_mlp(layers, ranges);
  std::vector<float> got(256), ref(256);
  moved.forward(src.data(), 256, got.data());
  MlpInt8Trace trace;
  mlp_int8_forward_ref(q, src.data(), 256, ref.data(), &trace);
  expect_within(got, ref, int8_error_bound(q, trace, 256));
}

TEST(MlpInt8, ZeroBatchIsNoopAndBadArgumentsThrow) {
  std::vector<Layer> layers = dlrm_layers({4, 8, 2}, Activation::kNone, 5);
  ActivationRanges ranges = calibrate(layers, uniform_input(1024, 4, -1, 1, 6), 1024);
  MlpInt8 mlp(layers, ranges);
  float dst = 3.0f;
  mlp.forward(nullptr, 0, &dst);
  EXPECT_EQ(dst, 3.0f);
  EXPECT_THROW(mlp.forward(nullptr, -1, &dst), Error);
  EXPECT_THROW(mlp.forward(nullptr, 1, &dst), Error);
  EXPECT_THROW(mlp.prepare(0), Error);
}

TEST(MlpInt8, RangesMustFitTheLayers) {
  std::vector<Layer> layers = dlrm_layers({13, 64, 16}, Activation::kRelu, 9);
  ActivationRanges good = calibrate(layers, dense_features(1024, 13, 10), 1024);
  EXPECT_NO_THROW(MlpInt8(layers, good));

  ActivationRanges fewer = good;
  fewer.layers.pop_back();
  EXPECT_ERROR_WITH(MlpInt8(layers, fewer), "MlpInt8", "1 layers but the MLP has 2");
  ActivationRanges wide = good;
  wide.layers[1].width = 65;
  wide.layers[1].mean.resize(65, 0.0f);
  EXPECT_ERROR_WITH(MlpInt8(layers, wide), "MlpInt8", "layer 1 is 65 wide", "takes 64 inputs");
  ActivationRanges few = good;
  few.samples = 1000;
  EXPECT_ERROR_WITH(MlpInt8(layers, few), "MlpInt8", "1000 samples", "at least 1024");
  EXPECT_NO_THROW(MlpInt8(layers, few, {.min_calibration_samples = 1000}));
  std::vector<Layer> broken = layers;
  broken[1].bias.pop_back();
  EXPECT_ERROR_WITH(MlpInt8(broken, good), "MlpInt8 layer 1");
  // An input never seen non-zero still quantises (to zero) without dividing by zero.
  ActivationRanges zero = good;
  zero.layers[0] = {13, 0.0f, 0.0f, 0.0f, 0.0f, std::vector<float>(13, 0.0f)};
  QuantizedMlp q = quantize_mlp(layers, zero);
  EXPECT_TRUE(std::isnormal(q.layers[0].src_scale));
}

// Inputs that are at least p% exact zeros (mostly empty rows, and the ReLU
// outputs of mostly negative pre-activations after them) have a percentile
// clip of 0; quantize_mlp then takes abs_max, as for the default method, and
// the oneDNN result stays within the derived bound of the reference.
TEST(MlpInt8, PercentileCalibrationOfMostlyZeroInputs) {
  const uint32_t seed = 93;
  std::printf("seed %u\n", seed);
  std::vector<Layer> layers = dlrm_layers({8, 32, 4}, Activation::kRelu, seed);
  for (float& b : layers[0].bias) b = -0.25f;  // a zero row gives relu(-0.25) = 0 everywhere
  // Rows in U(0, 1) where b % every == 0, zero elsewhere.
  auto input = [](int batch, int every, uint32_t s) {
    std::vector<float> x = uniform_input(batch, 8, 0.0f, 1.0f, s);
    for (int b = 0; b < batch; ++b) {
      if (b % every != 0) std::fill_n(x.begin() + static_cast<size_t>(b) * 8, 8, 0.0f);
    }
    return x;
  };
  // One row in 128 non-zero: both layers' inputs are more than 99% zeros.
  ActivationRanges ranges =
      calibrate(layers, input(1024, 128, seed + 1), 1024, {.method = RangeMethod::kPercentile, .percentile = 99.0});
  const MlpInt8Options options{.last_layer_fp32 = false};
  QuantizedMlp q = quantize_mlp(layers, ranges, options);
  for (size_t l = 0; l < 2; ++l) {
    ASSERT_GT(ranges.layers[l].abs_max, 0.0f) << "layer " << l << "'s input must not be all zeros";
    EXPECT_EQ(ranges.layers[l].clip, 0.0f) << "layer " << l;
    EXPECT_TRUE(q.layers[l].int8) << "layer " << l;
    EXPECT_EQ(q.layers[l].src_scale, static_cast<float>(ranges.layers[l].abs_max / 255.0)) << "layer " << l;
  }
  MlpInt8 mlp(layers, ranges, options);
  const int batch = 256;
  std::vector<float> src = input(batch, 2, seed + 2);
  std::vector<float> ref(static_cast<size_t>(batch) * 4), fast(ref.size(), -7.0f);
  MlpInt8Trace trace;
  mlp_int8_forward_ref(q, src.data(), batch, ref.data(), &trace);
  mlp.forward(src.data(), batch, fast.data());
  expect_within(fast, ref, int8_error_bound(q, trace, batch));
  check_output_range(fast, Activation::kRelu);
}

// The DLRM dense path (bottom MLP, dot interaction, top MLP) with DLRM's
// initialisation, Criteo-like dense features and unit-norm embedding rows;
// calibration and evaluation samples are drawn apart from one distribution.
struct DlrmDense {
  InteractionShape shape{26, 128, false};
  std::vector<Layer> bottom, top;
  std::vector<float> cal_dense, cal_top;  // calibration inputs of both MLPs (fp32 path)
  int n_cal = 4096;

  explicit DlrmDense(uint32_t seed) {
    bottom = dlrm_layers({13, 512, 256, 128}, Activation::kRelu, seed);
    top = dlrm_layers({shape.width(), 1024, 1024, 512, 256, 1}, Activation::kSigmoid, seed + 1);
    cal_dense = dense_features(n_cal, 13, seed + 2);
    cal_top = top_input(cal_dense, embeddings(n_cal, seed + 3), n_cal);
  }

  // Rows ~ N(0, 1/sqrt(dim)): unit norm, dot products of order 0.1 of both signs.
  std::vector<float> embeddings(int batch, uint32_t seed) const {
    std::mt19937 rng(seed);
    std::normal_distribution<float> e(0.0f, 1.0f / std::sqrt(static_cast<float>(shape.dim)));
    std::vector<float> emb(static_cast<size_t>(batch) * shape.tables * shape.dim);
    for (float& v : emb) v = e(rng);
    return emb;
  }

  std::vector<float> top_input(const std::vector<float>& dense, const std::vector<float>& emb, int batch) const {
    std::vector<float> x(static_cast<size_t>(batch) * shape.dim);
    Mlp(bottom).forward(dense.data(), batch, x.data());
    std::vector<float> t(static_cast<size_t>(batch) * shape.width());
    interaction_dot(shape, x.data(), EmbeddingRows::block(emb.data(), shape.tables, shape.dim), batch, t.data(), shape.width());
    return t;
  }

  // An untrained top MLP predicts nearly the same for everyone (here within
  // about 0.05); a trained CTR model spreads its logits. This rescales the last
  // layer so that the logits have mean -1.1 (CTR about 0.25) and standard
  // deviation 1.5 on the calibration set, which also scales the int8 noise
  // reaching the logit by the same factor (about 50): a stress, not a model.
  void spread_logits() {
    std::vector<Layer> logits_mlp = top;
    logits_mlp.back().act = Activation::kNone;
    std::vector<float> logits(n_cal);
    Mlp(logits_mlp).forward(cal_top.data(), n_cal, logits.data());
    double mean = 0, sq = 0;
    for (float z : logits) mean += z;
    mean /= n_cal;
    for (float z : logits) sq += (z - mean) * (z - mean);
    const double gain = 1.5 / std::sqrt(sq / n_cal);
    for (float& w : top.back().weight) w = static_cast<float>(w * gain);
    top.back().bias[0] = static_cast<float>((top.back().bias[0] - mean) * gain - 1.1);
    std::printf("last layer rescaled by %.1f\n", gain);
  }

  struct Int8 {
    MlpInt8 bottom, top;
  };
  Int8 quantize(const CalibratorOptions& cal, const MlpInt8Options& bottom_opt, const MlpInt8Options& top_opt) {
    ActivationRanges bottom_ranges = calibrate(bottom, cal_dense, n_cal, cal);
    ActivationRanges top_ranges = calibrate(top, cal_top, n_cal, cal);
    EXPECT_FALSE(bottom_ranges.layers[0].is_signed()) << "log1p features are >= 0";
    EXPECT_TRUE(top_ranges.layers[0].is_signed()) << "the interaction output has negative dot products";
    return Int8{MlpInt8(bottom, bottom_ranges, bottom_opt), MlpInt8(top, top_ranges, top_opt)};
  }

  // Predictions of the int8 path; `x` receives the bottom MLP's output.
  std::vector<float> predict(Int8& m, const std::vector<float>& dense, const std::vector<float>& emb, int batch,
                             std::vector<float>& x) const {
    x.assign(static_cast<size_t>(batch) * shape.dim, 0.0f);
    std::vector<float> t(static_cast<size_t>(batch) * shape.width()), p(batch);
    m.bottom.forward(dense.data(), batch, x.data());
    interaction_dot(shape, x.data(), EmbeddingRows::block(emb.data(), shape.tables, shape.dim), batch, t.data(), shape.width());
    m.top.forward(t.data(), batch, p.data());
    return p;
  }
};

struct Variant {
  const char* name;
  CalibratorOptions calibration;
  MlpInt8Options bottom, top;
  double stress_max;  // bound on max |p_int8 - p_fp32| in DlrmAucWithSpreadLogits
};

// Clipping (mse, percentile) trades a larger error on the few samples beyond
// the clip for a smaller one on the rest: their worst case is looser.
const Variant kVariants[] = {
    {"default (max, fp32 last)", {}, {}, {}, 0.2},
    {"int8 last layers", {}, {.last_layer_fp32 = false}, {.last_layer_fp32 = false}, 0.2},
    {"mse clip", {.method = RangeMethod::kMse}, {}, {}, 0.4},
    {"percentile 99.999", {.method = RangeMethod::kPercentile, .percentile = 99.999}, {}, {}, 0.4},
    {"recommended: fp32 first (bottom)", {}, {.first_layer_fp32 = true}, {}, 0.2},
    {"fp32 first layers (both)", {}, {.first_layer_fp32 = true}, {.first_layer_fp32 = true}, 0.2},
};

// One variant's int8 predictions p against the fp32 ones; x is its bottom MLP's output.
struct VariantRun {
  std::vector<float> p, x;
  double max_diff = 0, sum_diff = 0;  // of |p - p_fp32|
};

VariantRun run_variant(DlrmDense& model, const Variant& v, const std::vector<float>& dense,
                       const std::vector<float>& emb, int n, const std::vector<float>& p_fp32) {
  DlrmDense::Int8 int8 = model.quantize(v.calibration, v.bottom, v.top);
  VariantRun r;
  r.p = model.predict(int8, dense, emb, n, r.x);
  for (int b = 0; b < n; ++b) {
    double d = std::abs(static_cast<double>(r.p[b]) - p_fp32[b]);
    r.max_diff = std::max(r.max_diff, d);
    r.sum_diff += d;
  }
  return r;
}

double relative_l2(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, norm = 0;
  for (size_t k = 0; k < got.size(); ++k) {
    err += (got[k] - static_cast<double>(want[k])) * (got[k] - static_cast<double>(want[k]));
    norm += want[k] * static_cast<double>(want[k]);
  }
  return std::sqrt(err / norm);
}

// Exact ROC AUC (ties count one half).
double auc(const std::vector<float>& p, const std::vector<int>& label) {
  std::vector<size_t> order(p.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  double rank_sum = 0, positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && p[order[j]] == p[order[i]]) ++j;
    double rank = 0.5 * static_cast<double>(i + 1 + j);
    for (size_t k = i; k < j; ++k) {
      if (label[order[k]]) {
        rank_sum += rank;
        positives += 1;
      }
    }
    i = j;
  }
  double negatives = static_cast<double>(p.size()) - positives;
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

// Int8 against fp32 mlp_forward_ref / interaction_dot_ref, DLRM's random
// initialisation as is, 1024 evaluation samples.
//
// Expectation: an s8 weight (step max_i |W[o][i]| / 127, about 4 sigma / 127
// for Gaussian rows) has rounding noise of about 0.9% of the row's rms, and a
// u8 activation (step clip / 255, clip about 8x the rms of ReLU outputs) about
// 0.9% of its rms; in quadrature about 1.3% per layer, so through the int8
// layers the activations reach 1-3% relative L2 error (measured: bottom output
// 0.8-1.2%). The untrained logits vary by about 0.2 around their mean, so a
// prediction moves by about 1/4 * 3% * 0.2 ~ 1.5e-3 at most. Measured with
// seed 4242 over the variants below: max |p_int8 - p_fp32| 0.8e-3 to 2.1e-3,
// mean 1.8e-4 to 3.5e-4. Required: max < 1e-2, mean < 1e-3, bottom output
// relative L2 error < 2e-2; a wrong scale or a lost bias misses these by far.
TEST(Int8VsFp32, DlrmPredictionsXavier) {
  const uint32_t seed = 4242;
  std::printf("seed %u\n", seed);
  DlrmDense model(seed);
  const int n = 1024;
  std::vector<float> dense = dense_features(n, 13, seed + 4);
  std::vector<float> emb = model.embeddings(n, seed + 5);
  std::vector<float> x_fp32(static_cast<size_t>(n) * 128), top_in(static_cast<size_t>(n) * model.shape.width());
  std::vector<float> p_fp32(n);
  mlp_forward_ref(model.bottom, dense.data(), n, x_fp32.data());
  interaction_dot_ref(model.shape, x_fp32.data(), EmbeddingRows::block(emb.data(), model.shape.tables, model.shape.dim), n,
                      top_in.data(), model.shape.width());
  mlp_forward_ref(model.top, top_in.data(), n, p_fp32.data());
  std::printf("fp32 predictions span [%.3f, %.3f]\n", *std::min_element(p_fp32.begin(), p_fp32.end()),
              *std::max_element(p_fp32.begin(), p_fp32.end()));
  for (const Variant& v : kVariants) {
    const VariantRun r = run_variant(model, v, dense, emb, n, p_fp32);
    std::printf("%-34s bottom output rel. L2 error %.2e; predictions max |diff| %.2e mean %.2e\n", v.name,
                relative_l2(r.x, x_fp32), r.max_diff, r.sum_diff / n);
    EXPECT_LT(r.max_diff, 1e-2) << v.name;
    EXPECT_LT(r.sum_diff / n, 1e-3) << v.name;
    EXPECT_LT(relative_l2(r.x, x_fp32), 2e-2) << v.name;
  }
}

// The same with the logits spread like a trained CTR model's (spread_logits),
// labels drawn from the fp32 predictions (AUC about 0.81, near Criteo's 0.80)
// and 32768 evaluation samples; the fp32 side is the oneDNN Mlp here (within
// about 1e-6 of mlp_forward_ref, mlp_test.cc), 4 orders below what is measured.
// This scales the int8 noise at the logit by about 57 against the test above.
// Measured with seed 4243: AUC ratio int8 / fp32 0.9990 to 0.9998 across the
// variants (differences of 5e-4 between variants are within what another
// seed changes), mean |diff| 6e-3 to 1.1e-2, max 0.04 to 0.08 (0.16 to 0.22
// with clipping). Bias correction matters here: without it the mean |diff| is
// 1.4e-2 to 2.4e-2, nearly all of it a systematic shift of the logit.
// Required: ratio >= 0.998, mean < 3e-2, max below the variant's bound. The
// accuracy budget of real serving (MLPerf: 0.999 of the fp32 AUC) is checked
// on real data by the cluster; this only shows int8 can get there.
TEST(Int8VsFp32, DlrmAucWithSpreadLogits) {
  const uint32_t seed = 4243;
  std::printf("seed %u\n", seed);
  DlrmDense model(seed);
  model.spread_logits();
  const int n = 32768;
  std::vector<float> dense = dense_features(n, 13, seed + 4);
  std::vector<float> emb = model.embeddings(n, seed + 5);
  std::vector<float> top_in = model.top_input(dense, emb, n);
  std::vector<float> p_fp32(n);
  Mlp(model.top).forward(top_in.data(), n, p_fp32.data());
  std::mt19937 rng(seed + 6);
  std::vector<int> label(n);
  for (int b = 0; b < n; ++b) label[b] = std::bernoulli_distribution(p_fp32[b])(rng);
  const double auc_fp32 = auc(p_fp32, label);
  std::printf("fp32 AUC %.5f, predictions span [%.3f, %.3f]\n", auc_fp32,
              *std::min_element(p_fp32.begin(), p_fp32.end()), *std::max_element(p_fp32.begin(), p_fp32.end()));
  for (const Variant& v : kVariants) {
    const VariantRun r = run_variant(model, v, dense, emb, n, p_fp32);
    const double ratio = auc(r.p, label) / auc_fp32;
    std::printf("%-34s AUC ratio %.5f; predictions max |diff| %.2e mean %.2e\n", v.name, ratio, r.max_diff,
                r.sum_diff / n);
    EXPECT_GE(ratio, 0.998) << v.name;
    EXPECT_LT(r.sum_diff / n, 3e-2) << v.name;
    EXPECT_LT(r.max_diff, v.stress_max) << v.name;
  }
}

// Which oneDNN implementations serve the DLRM shapes (printed for the record;
// on x86 with VNNI we expect brgemm kernels, never the reference).
TEST(MlpInt8, ImplementationsAreNotReference) {
  std::vector<Layer> top = dlrm_layers({479, 1024, 1024, 512, 256, 1}, Activation::kSigmoid, 11);
  MlpInt8 mlp(top, calibrate(top, uniform_input(1024, 479, -1.0f, 1.0f, 12), 1024));
  for (const std::string& name : mlp.implementations(256)) {
    std::printf("  %s\n", name.c_str());
    EXPECT_EQ(name.find("ref"), std::string::npos) << name;
  }
}

// Throughput of the DLRM bottom + top MLPs at batch 256, fp32 Mlp against
// MlpInt8, on 1 and 2 threads. Timing is not a unit test: it runs only with
// DLRM_BENCH_MLP_INT8=1 (e.g. OMP_NUM_THREADS=2 DLRM_BENCH_MLP_INT8=1
// test_dense --gtest_filter='*Throughput*').
TEST(MlpInt8Bench, DlrmThroughput) {
  const char* enabled = std::getenv("DLRM_BENCH_MLP_INT8");
  if (enabled == nullptr || std::string(enabled) != "1") GTEST_SKIP() << "set DLRM_BENCH_MLP_INT8=1 to run";
  const int batch = 256;
  std::vector<Layer> bottom = dlrm_layers({13, 512, 256, 128}, Activation::kRelu, 21);
  std::vector<Layer> top = dlrm_layers({479, 1024, 1024, 512, 256, 1}, Activation::kSigmoid, 22);
  std::vector<float> dense = dense_features(4096, 13, 23);
  std::vector<float> top_in = uniform_input(4096, 479, -1.0f, 1.0f, 24);
  ActivationRanges bottom_ranges = calibrate(bottom, dense, 4096);
  ActivationRanges top_ranges = calibrate(top, top_in, 4096);
  std::vector<float> x(static_cast<size_t>(batch) * 128), p(batch);
  const int max_threads = omp_get_max_threads();
  std::printf("%-34s %8s %12s %12s %12s %9s\n", "variant", "threads", "min us", "median us", "samples/s", "vs fp32");
  struct Row {
    const char* name;
    MlpInt8Options bottom, top;
  };
  const Row rows[] = {
      {"int8, fp32 last layer", {}, {}},
      {"int8, int8 last layer", {.last_layer_fp32 = false}, {.last_layer_fp32 = false}},
      {"int8, fp32 first+last", {.first_layer_fp32 = true}, {.first_layer_fp32 = true}},
      {"recommended: fp32 first (bottom)", {.first_layer_fp32 = true}, {}},
  };
  for (int threads = 1; threads <= std::min(2, max_threads); ++threads) {
    omp_set_num_threads(threads);
    auto time = [&](auto& bot, auto& tp) {
      bot.prepare(batch);
      tp.prepare(batch);
      std::vector<double> us;
      for (int it = 0; it < 520; ++it) {
        const size_t off = static_cast<size_t>(it % 16) * batch;
        auto t0 = std::chrono::steady_clock::now();
        bot.forward(dense.data() + off * 13, batch, x.data());
        tp.forward(top_in.data() + off * 479, batch, p.data());
        auto t1 = std::chrono::steady_clock::now();
        if (it >= 20) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
      std::sort(us.begin(), us.end());
      return std::make_pair(us.front(), us[us.size() / 2]);
    };
    Mlp bottom_fp32(bottom), top_fp32(top);
    const auto f = time(bottom_fp32, top_fp32);
    auto row = [&](const char* name, std::pair<double, double> t) {
      std::printf("%-34s %8d %12.1f %12.1f %12.0f %8.2fx\n", name, threads, t.first, t.second,
                  batch / (t.second * 1e-6), f.second / t.second);
    };
    row("fp32 Mlp", f);
    for (const Row& r : rows) {
      MlpInt8 bottom_int8(bottom, bottom_ranges, r.bottom), top_int8(top, top_ranges, r.top);
      row(r.name, time(bottom_int8, top_int8));
      if (threads == 1 && &r == &rows[0]) {
        for (const std::string& s : bottom_int8.implementations(batch)) std::printf("  bottom %s\n", s.c_str());
        for (const std::string& s : top_int8.implementations(batch)) std::printf("  top    %s\n", s.c_str());
      }
    }
  }
  omp_set_num_threads(max_threads);
}

}  // namespace
}  // namespace dlrm::dense
