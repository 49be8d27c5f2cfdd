// The MLP weights of a model directory as dense::Layer lists.
#pragma once

#include <filesystem>
#include <vector>

#include "dlrm/dense/mlp.h"
#include "dlrm/shard/model.h"

namespace dlrm::cluster {

struct DenseLayers {
  std::vector<dense::Layer> bottom;  // ReLU after every layer (the last too)
  std::vector<dense::Layer> top;     // ReLU after each but the last, which is sigmoid
};

// Reads dense.bin (checksummed) and checks every tensor against the manifest's
// architecture; throws naming the file and tensor.
DenseLayers load_dense_layers(const std::filesystem::path& dir, const shard::Manifest& manifest);

}  // namespace dlrm::cluster
