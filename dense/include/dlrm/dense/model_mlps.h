// The MLP weights of a model directory as dense::Layer lists.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/dense/mlp.h"
#include "dlrm/model/manifest.h"

namespace dlrm::dense {

struct DenseLayers {
  std::vector<dense::Layer> bottom;  // ReLU after every layer (the last too)
  std::vector<dense::Layer> top;     // ReLU after each but the last, which is sigmoid
};

// Reads dense.bin (checksummed) and checks every tensor against the manifest's
// architecture; throws naming the file and tensor.
DenseLayers load_dense_layers(const std::filesystem::path& dir, const model::Manifest& manifest);

enum class MlpPrecision { kFp32, kInt8 };
// "fp32" or "int8"; throws naming the choices.
MlpPrecision parse_mlp_precision(const std::string& name);
const char* to_string(MlpPrecision precision);

// The bottom and top MLPs of a model, ready to serve at one precision.
// int8 reads <model>/calibration.json (dlrm-shard calibrate) and keeps the
// bottom MLP's first layer (13 log1p features) and the top MLP's last layer
// with its sigmoid in fp32.
class DenseMlps {
 public:
  DenseMlps(const std::filesystem::path& dir, const model::Manifest& manifest, MlpPrecision precision);
  DenseMlps(DenseMlps&&) noexcept;
  DenseMlps& operator=(DenseMlps&&) noexcept;
  ~DenseMlps();
  void prepare(int batch);
  void bottom(const float* src, int batch, float* dst);
  void top(const float* src, int batch, float* dst);
  int bottom_in() const;
  int top_in() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dlrm::dense
