// Mlp (oneDNN) against mlp_forward_ref, layer checks, plan reuse.
//
// Tolerance (derived, per output): let u = 2^-24 (fp32 unit roundoff) and
// gamma_n = n u / (1 - n u). A pre-activation z = b + sum_{i<K} h_i w_i summed
// in any order in fp32 (with or without FMA) is within gamma_{K+1} * S of the
// exact value, S = |b| + sum |h_i w_i| (Higham, Accuracy and Stability, 3.1).
// The reference and oneDNN each make such an error, and their inputs h differ
// by at most delta_i (the bound of the previous layer), so with
// S_fast <= S_ref + sum |w_i| delta_i:
//   |z_fast - z_ref| <= gamma (S_fast + S_ref) + sum |w_i| delta_i
//                    <= 2 gamma_{K+1} S_ref + (1 + gamma_{K+1}) sum |w_i| delta_i.
// ReLU is 1-Lipschitz and sigmoid 1/4-Lipschitz; the sigmoid itself is evaluated
// by std::exp in the reference and by oneDNN's polynomial exp, each within a few
// ulp of a value in (0, 1): we allow kSigmoidSlack = 16 u absolute on top.
// The bound is computed in double from the reference's own activations, layer
// by layer. A wrong weight layout, a missing bias or activation, or stale
// buffers give errors of order |z| and fail it.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/dense/mlp.h"
#include "mlp_test_util.h"

namespace dlrm::dense {
namespace {

using test::check_output_range;
using test::expect_within;
using test::fp32_layer_bound;
using test::kSigmoidSlack;
using test::uniform_input;

// Layers with weights ~ U(-1, 1) / sqrt(in) so activations stay of order one.
std::vector<Layer> random_layers(const std::vector<int>& widths, Activation last, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Layer> layers;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    Layer layer;
    layer.in = widths[l];
    layer.out = widths[l + 1];
    float scale = 1.0f / std::sqrt(static_cast<float>(layer.in));
    std::uniform_real_distribution<float> w(-scale, scale);
    std::uniform_real_distribution<float> bias(-0.1f, 0.1f);
    layer.weight.resize(static_cast<size_t>(layer.in) * layer.out);
    for (float& v : layer.weight) v = w(rng);
    layer.bias.resize(layer.out);
    for (float& v : layer.bias) v = bias(rng);
    layer.act = l + 2 == widths.size() ? last : Activation::kRelu;
    layers.push_back(std::move(layer));
  }
  return layers;
}

// Per-output bound on |Mlp - mlp_forward_ref| as derived at the top of this file.
std::vector<double> error_bound(const std::vector<Layer>& layers, const std::vector<float>& src, int batch) {
  std::vector<float> h = src;
  std::vector<double> delta(h.size(), 0.0);
  for (const Layer& layer : layers) {
    std::vector<float> next(static_cast<size_t>(batch) * layer.out);
    mlp_forward_ref({layer}, h.data(), batch, next.data());
    delta = fp32_layer_bound(layer, h, delta, batch);
    h.swap(next);
  }
  return delta;
}

struct MlpCase {
  const char* name;
  std::vector<int> widths;
  Activation last;
};

const MlpCase kCases[] = {
    {"dlrm_bottom", {13, 512, 256, 128}, Activation::kRelu},
    {"dlrm_top", {479, 1024, 1024, 512, 256, 1}, Activation::kSigmoid},
    {"small_bottom", {13, 64, 16}, Activation::kRelu},
    {"small_top", {367, 64, 32, 1}, Activation::kSigmoid},
    {"odd_widths_no_act", {5, 33, 17, 3}, Activation::kNone},
    {"single_layer", {16, 16}, Activation::kRelu},
};

class MlpVsRef : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(MlpVsRef, WithinDerivedBound) {
  const MlpCase& c = kCases[std::get<0>(GetParam())];
  const int batch = std::get<1>(GetParam());
  const uint32_t seed = 1000 + std::get<0>(GetParam());
  std::printf("case %s batch %d seed %u\n", c.name, batch, seed);
  std::vector<Layer> layers = random_layers(c.widths, c.last, seed);
  std::vector<float> src = uniform_input(batch, c.widths.front(), -1.0f, 1.0f, seed + 1);
  std::vector<float> ref(static_cast<size_t>(batch) * c.widths.back());
  mlp_forward_ref(layers, src.data(), batch, ref.data());
  Mlp mlp(layers);
  EXPECT_EQ(mlp.in(), c.widths.front());
  EXPECT_EQ(mlp.out(), c.widths.back());
  std::vector<float> fast(ref.size(), -7.0f);
  mlp.forward(src.data(), batch, fast.data());
  expect_within(fast, ref, error_bound(layers, src, batch));
  check_output_range(fast, c.last);
}

INSTANTIATE_TEST_SUITE_P(Shapes, MlpVsRef,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kCases))),
                                            ::testing::Values(1, 7, 256, 300)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int>>& info) {
                           return std::string(kCases[std::get<0>(info.param)].name) + "_batch" +
                                  std::to_string(std::get<1>(info.param));
                         });

// A hand-checked case: bias, ReLU clipping and the [out, in] weight layout.
TEST(Mlp, TinyExact) {
  Layer layer;
  layer.in = 2;
  layer.out = 3;
  layer.weight = {1, 2,     // output 0
                  -1, 0.5,  // output 1
                  0, -3};   // output 2
  layer.bias = {0.5f, 1.0f, -1.0f};
  layer.act = Activation::kRelu;
  const float src[2] = {2.0f, 4.0f};
  // o0 = 0.5 + 2 + 8 = 10.5; o1 = 1 - 2 + 2 = 1; o2 = relu(-1 - 12) = 0. All exact in fp32.
  float ref[3], fast[3];
  mlp_forward_ref({layer}, src, 1, ref);
  Mlp mlp({layer});
  mlp.forward(src, 1, fast);
  for (const float* out : {ref, fast}) {
    EXPECT_EQ(out[0], 10.5f);
    EXPECT_EQ(out[1], 1.0f);
    EXPECT_EQ(out[2], 0.0f);
  }
  // Sigmoid of 0 is exactly 1/2 in both.
  Layer sig = layer;
  sig.out = 1;
  sig.weight = {0, 0};
  sig.bias = {0};
  sig.act = Activation::kSigmoid;
  Mlp sig_mlp({sig});
  float y = -1;
  sig_mlp.forward(src, 1, &y);
  EXPECT_NEAR(y, 0.5f, kSigmoidSlack);
}

// Plans cached per batch size (and thread count) give what a fresh Mlp gives.
TEST(Mlp, PrepareAndReuseAcrossBatchSizes) {
  const uint32_t seed = 77;
  std::printf("seed %u\n", seed);
  std::vector<Layer> layers = random_layers({479, 1024, 1024, 512, 256, 1}, Activation::kSigmoid, seed);
  std::vector<float> src = uniform_input(300, 479, -1.0f, 1.0f, seed + 1);
  Mlp reused(layers);
  reused.prepare(256);
  reused.prepare(7);
  const int threads = omp_get_max_threads();
  for (int round = 0; round < 2; ++round) {
    for (int batch : {256, 7, 300, 1, 256}) {
      for (int t : {1, threads}) {
        omp_set_num_threads(t);
        std::vector<float> got(batch, -1.0f), want(batch, -2.0f);
        reused.forward(src.data(), batch, got.data());
        Mlp fresh(layers);
        fresh.forward(src.data(), batch, want.data());
        // Same primitive (batch and thread count) on the same data: oneDNN is deterministic.
        for (int b = 0; b < batch; ++b) ASSERT_EQ(got[b], want[b]) << "batch " << batch << " threads " << t;
      }
    }
  }
  omp_set_num_threads(threads);
  // A moved Mlp keeps working.
  Mlp moved(std::move(reused));
  std::vector<float> got(256), ref(256);
  moved.forward(src.data(), 256, got.data());
  mlp_forward_ref(layers, src.data(), 256, ref.data());
  std::vector<float> src256(src.begin(), src.begin() + 256 * 479);
  expect_within(got, ref, error_bound(layers, src256, 256));
}

TEST(Mlp, ZeroBatchIsNoop) {
  Mlp mlp(random_layers({4, 8, 2}, Activation::kNone, 5));
  float dst = 3.0f;
  mlp.forward(nullptr, 0, &dst);
  EXPECT_EQ(dst, 3.0f);
  EXPECT_THROW(mlp.forward(nullptr, -1, &dst), Error);
  EXPECT_THROW(mlp.prepare(0), Error);
}

TEST(CheckLayers, RejectsBadLayersNamingThem) {
  const std::vector<Layer> good = random_layers({13, 32, 16, 8}, Activation::kRelu, 3);
  EXPECT_NO_THROW(check_layers(good, "bottom MLP"));
  EXPECT_EQ(mlp_macs(good), 13 * 32 + 32 * 16 + 16 * 8);

  EXPECT_ERROR_WITH(check_layers({}, "bottom MLP"), "bottom MLP", "at least one layer");

  std::vector<Layer> chain = good;
  chain[2] = random_layers({17, 8}, Activation::kRelu, 4)[0];
  EXPECT_ERROR_WITH(check_layers(chain, "top MLP"), "top MLP", "layer 2");

  std::vector<Layer> weight = good;
  weight[1].weight.pop_back();
  EXPECT_ERROR_WITH(check_layers(weight, "bottom MLP"), "bottom MLP", "layer 1");

  std::vector<Layer> bias = good;
  bias[0].bias.push_back(0.0f);
  EXPECT_ERROR_WITH(check_layers(bias, "bottom MLP"), "bottom MLP", "layer 0");

  std::vector<Layer> zero = good;
  zero[0].in = 0;
  EXPECT_ERROR_WITH(check_layers(zero, "bottom MLP"), "bottom MLP", "layer 0");

  EXPECT_THROW(Mlp{chain}, Error);
}

TEST(MlpMacs, DlrmTerabyte) {
  // 13*512 + 512*256 + 256*128 and 479*1024 + 1024*1024 + 1024*512 + 512*256 + 256*1.
  EXPECT_EQ(mlp_macs(random_layers({13, 512, 256, 128}, Activation::kRelu, 1)), 170496);
  EXPECT_EQ(mlp_macs(random_layers({479, 1024, 1024, 512, 256, 1}, Activation::kSigmoid, 1)), 2194688);
}

}  // namespace
}  // namespace dlrm::dense
