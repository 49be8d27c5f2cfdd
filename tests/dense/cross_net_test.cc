// CrossNet (oneDNN) against cross_net_forward_ref, layer checks, plan reuse.
//
// Tolerance (derived, per output, in double from the reference's own values
// in CrossNetTrace; u = 2^-24, gamma_n = n u / (1 - n u)). As in mlp_test.cc,
// a sum of K products (plus a bias) in any order, with or without FMA, is
// within gamma_{K+1} S of the exact value, S the sum of the absolute terms, so
// with delta the bound on the difference of a layer's inputs x_l:
//   t_r:  dt_r = 2 gamma_{X+1} sum_i |x_i V_ri| + (1 + gamma_{X+1}) sum_i |V_ri| dx_i
//   u_o:  du_o = 2 gamma_{R+1} (|b_o| + sum_r |t_r W_or|) + (1 + gamma_{R+1}) sum_r |W_or| dt_r
//   x'_o = x0_o u_o + x_o, rounded once (FMA) or twice on each side, each within
//         gamma_2 (|x0_o u_o| + |x_o|) of its exact value:
//         dx'_o = (1 + gamma_2) (|x0_o| du_o + dx_o) + 2 gamma_2 (|x0_o u_o| + |x_o|)
// A wrong weight layout, a lost bias, post-ops in the wrong order or on the
// wrong operand, or stale buffers give errors of order |x'| and fail it.
#include "dlrm/dense/cross_net.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cross_net_test_util.h"
#include "dlrm/common/error.h"
#include "mlp_test_util.h"
#include "test_files.h"

namespace dlrm::dense {
namespace {

using test::expect_within;
using test::gamma_n;
using test::kCrossCases;
using test::random_cross_layers;
using test::uniform_input;

// Per-output bound on |CrossNet - cross_net_forward_ref| as derived at the top of this file.
std::vector<double> fp32_error_bound(const std::vector<CrossLayer>& layers, const std::vector<float>& x0,
                                     const CrossNetTrace& trace, int batch) {
  const int width = layers.front().width;
  std::vector<double> dx(static_cast<size_t>(batch) * width, 0.0);
  const double g2 = gamma_n(2);
  for (size_t l = 0; l < layers.size(); ++l) {
    const CrossLayer& layer = layers[l];
    const CrossNetTrace::Step& step = trace.layers[l];
    const double gx = gamma_n(width + 1), gr = gamma_n(layer.rank + 1);
    std::vector<double> next(dx.size()), dt(static_cast<size_t>(layer.rank));
    for (int b = 0; b < batch; ++b) {
      const size_t row = static_cast<size_t>(b) * width;
      for (int r = 0; r < layer.rank; ++r) {
        double s = 0, vd = 0;
        for (int i = 0; i < width; ++i) {
          const double v = std::abs(static_cast<double>(layer.v[static_cast<size_t>(r) * width + i]));
          s += v * std::abs(static_cast<double>(step.x[row + i]));
          vd += v * dx[row + i];
        }
        dt[r] = 2 * gx * s + (1 + gx) * vd;
      }
      for (int o = 0; o < width; ++o) {
        double s = std::abs(static_cast<double>(layer.bias[o])), wd = 0;
        for (int r = 0; r < layer.rank; ++r) {
          const double w = std::abs(static_cast<double>(layer.w[static_cast<size_t>(o) * layer.rank + r]));
          s += w * std::abs(static_cast<double>(step.t[static_cast<size_t>(b) * layer.rank + r]));
          wd += w * dt[r];
        }
        const double du = 2 * gr * s + (1 + gr) * wd;
        const size_t k = row + o;
        const double a0 = std::abs(static_cast<double>(x0[k]));
        next[k] = (1 + g2) * (a0 * du + dx[k]) +
                  2 * g2 * (a0 * std::abs(static_cast<double>(step.u[k])) + std::abs(static_cast<double>(step.x[k])));
      }
    }
    dx.swap(next);
  }
  return dx;
}

class CrossNetVsRef : public ::testing::TestWithParam<std::tuple<int, int>> {};

void check_against_ref(const std::vector<CrossLayer>& layers, int batch, uint32_t seed) {
  const int width = layers.front().width;
  std::vector<float> x0 = uniform_input(batch, width, -1.0f, 1.0f, seed);
  std::vector<float> ref(x0.size(), -5.0f);
  CrossNetTrace trace;
  cross_net_forward_ref(layers, x0.data(), batch, ref.data(), &trace);
  CrossNet net(layers);
  EXPECT_EQ(net.width(), width);
  std::vector<float> fast(x0.size(), -7.0f);
  net.forward(x0.data(), batch, fast.data());
  int differ = 0;
  expect_within(fast, ref, fp32_error_bound(layers, x0, trace, batch), &differ);
  std::printf("  %d of %zu outputs differ from the reference at all\n", differ, fast.size());
}

TEST_P(CrossNetVsRef, WithinDerivedBound) {
  const test::CrossCase& c = kCrossCases[std::get<0>(GetParam())];
  const int batch = std::get<1>(GetParam());
  const uint32_t seed = 3000 + std::get<0>(GetParam());
  std::printf("case %s (X %d, R %d, %d layers) batch %d seed %u\n", c.name, c.width, c.rank, c.layers, batch, seed);
  check_against_ref(random_cross_layers(c.width, c.rank, c.layers, seed), batch, seed + 1);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CrossNetVsRef,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kCrossCases))),
                                            ::testing::Values(1, 7, 64, 300)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int>>& info) {
                           return std::string(kCrossCases[std::get<0>(info.param)].name) + "_batch" +
                                  std::to_string(std::get<1>(info.param));
                         });

// DLRM-v2's shape: X = 27 x 128 = 3456, rank 512, 3 layers, at small batches.
TEST(CrossNet, DlrmV2ShapeWithinDerivedBound) {
  const uint32_t seed = 3100;
  const std::vector<CrossLayer> layers = random_cross_layers(3456, 512, 3, seed);
  for (int batch : {1, 3}) {
    std::printf("DLRM-v2 shape batch %d seed %u\n", batch, seed);
    check_against_ref(layers, batch, seed + static_cast<uint32_t>(batch));
  }
}

// A hand-checked case: the V and W layouts, the bias and the elementwise part.
TEST(CrossNet, TinyExact) {
  CrossLayer layer;
  layer.width = 2;
  layer.rank = 1;
  layer.v = {1.0f, 2.0f};           // [R=1, X=2]
  layer.w = {1.0f, -1.0f};          // [X=2, R=1]
  layer.bias = {0.5f, 1.0f};
  const float x0[2] = {2.0f, 4.0f};
  // t = 2 + 8 = 10; u = (10.5, -9); x1 = (2 * 10.5 + 2, 4 * -9 + 4) = (23, -32).
  // A second layer: t = 23 - 64 = -41; u = (-40.5, 42); x2 = (2 * -40.5 + 23, 4 * 42 - 32) = (-58, 136).
  float ref[2], fast[2];
  for (int layers : {1, 2}) {
    std::vector<CrossLayer> net_layers(layers, layer);
    cross_net_forward_ref(net_layers, x0, 1, ref);
    CrossNet net(net_layers);
    net.forward(x0, 1, fast);
    for (const float* out : {ref, fast}) {
      EXPECT_EQ(out[0], layers == 1 ? 23.0f : -58.0f);
      EXPECT_EQ(out[1], layers == 1 ? -32.0f : 136.0f);
    }
  }
}

// Plans cached per batch size (and thread count) give what a fresh CrossNet gives.
TEST(CrossNet, PrepareAndReuseAcrossBatchSizes) {
  const uint32_t seed = 3200;
  std::printf("seed %u\n", seed);
  const std::vector<CrossLayer> layers = random_cross_layers(432, 8, 3, seed);
  std::vector<float> x0 = uniform_input(300, 432, -1.0f, 1.0f, seed + 1);
  CrossNet reused(layers);
  reused.prepare(256);
  reused.prepare(7);
  const int threads = omp_get_max_threads();
  for (int round = 0; round < 2; ++round) {
    for (int batch : {256, 7, 300, 1, 256}) {
      for (int t : {1, threads}) {
        omp_set_num_threads(t);
        std::vector<float> got(static_cast<size_t>(batch) * 432, -1.0f), want(got.size(), -2.0f);
        reused.forward(x0.data(), batch, got.data());
        CrossNet fresh(layers);
        fresh.forward(x0.data(), batch, want.data());
        ASSERT_EQ(got, want) << "batch " << batch << " threads " << t;
      }
    }
  }
  omp_set_num_threads(threads);
  CrossNet moved(std::move(reused));
  std::vector<float> got(static_cast<size_t>(256) * 432), ref(got.size());
  moved.forward(x0.data(), 256, got.data());
  CrossNetTrace trace;
  cross_net_forward_ref(layers, x0.data(), 256, ref.data(), &trace);
  x0.resize(got.size());
  expect_within(got, ref, fp32_error_bound(layers, x0, trace, 256));
}

TEST(CrossNet, ZeroBatchIsNoopAndBadArgumentsThrow) {
  CrossNet net(random_cross_layers(8, 2, 2, 5));
  float dst = 3.0f;
  net.forward(nullptr, 0, &dst);
  EXPECT_EQ(dst, 3.0f);
  std::vector<float> x0(16, 1.0f), out(16);
  EXPECT_THROW(net.forward(x0.data(), -1, out.data()), Error);
  EXPECT_ERROR_WITH(net.forward(nullptr, 2, out.data()), "CrossNet::forward", "null");
  EXPECT_ERROR_WITH(net.forward(x0.data(), 2, x0.data()), "CrossNet::forward", "overlaps x0");
  EXPECT_ERROR_WITH(net.forward(x0.data(), 1, x0.data() + 4), "overlaps x0");
  EXPECT_NO_THROW(net.forward(x0.data(), 1, x0.data() + 8));  // adjacent, not overlapping
  EXPECT_ERROR_WITH(cross_net_forward_ref(net.layers(), x0.data(), 2, x0.data()), "cross_net_forward_ref",
                    "overlaps x0");
  EXPECT_ERROR_WITH(net.prepare(0), "CrossNet::prepare", "positive");
}

TEST(CheckCrossLayers, RejectsBadShapesNamingThem) {
  const std::vector<CrossLayer> good = random_cross_layers(12, 4, 3, 3);
  EXPECT_NO_THROW(check_cross_layers(good, "dense.bin"));
  EXPECT_ERROR_WITH(check_cross_layers({}, "dense.bin"), "dense.bin", "at least one layer");

  std::vector<CrossLayer> width = good;
  width[2] = random_cross_layers(13, 4, 1, 4)[0];
  EXPECT_ERROR_WITH(check_cross_layers(width, "dense.bin"), "dense.bin cross layer 2", "width 13", "layer 0's 12");

  std::vector<CrossLayer> v = good;
  v[1].v.pop_back();
  EXPECT_ERROR_WITH(check_cross_layers(v, "dense.bin"), "cross layer 1", "V has 47 values", "needs 48");

  std::vector<CrossLayer> w = good;
  w[0].w.push_back(0.0f);
  EXPECT_ERROR_WITH(check_cross_layers(w, "dense.bin"), "cross layer 0", "W has 49 values");

  std::vector<CrossLayer> bias = good;
  bias[2].bias.pop_back();
  EXPECT_ERROR_WITH(check_cross_layers(bias, "dense.bin"), "cross layer 2", "bias has 11 values");

  std::vector<CrossLayer> rank = good;
  rank[0].rank = 0;
  EXPECT_ERROR_WITH(check_cross_layers(rank, "dense.bin"), "cross layer 0", "positive");

  // A rank that does not match V and W.
  std::vector<CrossLayer> mismatch = good;
  mismatch[1].rank = 3;
  EXPECT_ERROR_WITH(check_cross_layers(mismatch, "dense.bin"), "cross layer 1", "V has 48 values", "needs 36");

  EXPECT_ERROR_WITH(CrossNet{v}, "CrossNet cross layer 1");
  std::vector<float> x0(12), out(12);
  EXPECT_ERROR_WITH(cross_net_forward_ref(w, x0.data(), 1, out.data()), "cross_net_forward_ref cross layer 0");
}

TEST(CrossNetMacs, DlrmV2) {
  EXPECT_EQ(cross_net_macs(random_cross_layers(12, 4, 3, 1)), 3 * 2 * 12 * 4);
  // 3 layers x (512 x 3456 + 3456 x 512).
  std::vector<CrossLayer> v2(3);
  for (CrossLayer& layer : v2) {
    layer.width = 3456;
    layer.rank = 512;
  }
  EXPECT_EQ(cross_net_macs(v2), int64_t{10616832});
}

// Which oneDNN implementations serve DLRM-v2's cross layers (printed for the
// record; with AVX-512 we expect brgemm or gemm kernels, never the reference,
// also for the products with the fused "* x0" and "+ x_l").
TEST(CrossNet, ImplementationsAreNotReference) {
  CrossNet net(random_cross_layers(3456, 512, 1, 11));
  for (int batch : {1, 256}) {
    for (const std::string& name : net.implementations(batch)) {
      std::printf("  batch %d %s\n", batch, name.c_str());
      EXPECT_EQ(name.find("ref"), std::string::npos) << name;
    }
  }
}

}  // namespace
}  // namespace dlrm::dense
