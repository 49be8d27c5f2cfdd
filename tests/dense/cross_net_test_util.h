// Shared by the cross network tests: random cross layers.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "dlrm/dense/cross_net.h"

namespace dlrm::test {

// The shapes both the fp32 and the int8 cross network are tested at.
struct CrossCase {
  const char* name;
  int width, rank, layers;
};

inline constexpr CrossCase kCrossCases[] = {
    {"tiny", 5, 3, 1},
    {"odd", 33, 7, 3},
    {"small_v2", 432, 8, 2},  // 27 features x dim 16, rank 8
    {"rank_equals_width", 16, 16, 2},
};

// `count` layers of width X and rank R: V ~ U(-1, 1) / sqrt(X), W ~ U(-1, 1) /
// sqrt(R) (products of order one for inputs of order one), bias ~ U(-0.1, 0.1).
inline std::vector<dense::CrossLayer> random_cross_layers(int width, int rank, int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<dense::CrossLayer> layers(static_cast<size_t>(count));
  for (dense::CrossLayer& layer : layers) {
    layer.width = width;
    layer.rank = rank;
    std::uniform_real_distribution<float> v(-1.0f / std::sqrt(static_cast<float>(width)),
                                            1.0f / std::sqrt(static_cast<float>(width)));
    std::uniform_real_distribution<float> w(-1.0f / std::sqrt(static_cast<float>(rank)),
                                            1.0f / std::sqrt(static_cast<float>(rank)));
    std::uniform_real_distribution<float> b(-0.1f, 0.1f);
    layer.v.resize(static_cast<size_t>(rank) * width);
    for (float& x : layer.v) x = v(rng);
    layer.w.resize(static_cast<size_t>(width) * rank);
    for (float& x : layer.w) x = w(rng);
    layer.bias.resize(static_cast<size_t>(width));
    for (float& x : layer.bias) x = b(rng);
  }
  return layers;
}

}  // namespace dlrm::test
