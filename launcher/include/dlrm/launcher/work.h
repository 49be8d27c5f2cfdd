// What the layout needs to know of a model: memory (bytes per shard, dense
// weights) and planned work per pair, both from its manifest.
//
// Work per pair (estimates, not measurements; the layout's shard-core rule
// weighs them, layout.h):
//   pool_bytes(shard) = sum over the shard's slices s of table t:
//                         hotness(t) * rows(s) / rows(t) * row_stride(dtype, cols(s))
//                       (rows read and summed, indices spread evenly over a table's rows)
//   mlp_flops         = 2 * (sum over the bottom and top MLP layers of in * out
//                            + dot: F(F-1)/2 * dim (the interaction)
//                            + dcn: layers * 2 * width * rank (the cross network))
#pragma once

#include <cstdint>
#include <vector>

namespace dlrm::model {
struct Manifest;
}

namespace dlrm::launcher {

struct ModelNeeds {
  std::vector<uint64_t> shard_bytes;  // embedding bytes of each shard
  uint64_t dense_bytes = 0;           // MLP weights (each dense rank holds a copy)
  // Planned work per pair; empty / 0 when unknown (shard ranks then keep
  // cores of their own, as a layout without this knowledge would).
  std::vector<double> shard_pool_bytes_per_pair;  // bytes of rows each shard reads and sums per pair
  double mlp_flops_per_pair = 0;                  // a dense rank's MLPs (and interaction) per pair

  bool work_known() const { return mlp_flops_per_pair > 0 && shard_pool_bytes_per_pair.size() == shard_bytes.size(); }
};

// Bytes of rows each shard pools per pair (the formula above).
std::vector<double> pool_bytes_per_pair(const model::Manifest& manifest);
// FLOPs of a dense rank per pair (the formula above).
double mlp_flops_per_pair(const model::Manifest& manifest);
// All of ModelNeeds from a manifest.
ModelNeeds model_needs(const model::Manifest& manifest);

}  // namespace dlrm::launcher
