// The dense part of a model directory: dense.bin as dense::Layer lists (and
// the cross layers of a dcn model), and the MLPs and cross network ready to
// serve at one precision.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/common/element_type.h"
#include "dlrm/dense/calibration.h"
#include "dlrm/dense/cross_net.h"
#include "dlrm/dense/mlp.h"
#include "dlrm/model/manifest.h"

namespace dlrm::dense {

struct DenseLayers {
  std::vector<dense::Layer> bottom;  // ReLU after every layer (the last too)
  std::vector<dense::Layer> top;     // ReLU after each but the last, which is sigmoid
  std::vector<CrossLayer> cross;     // dcn models: cross.{l}.V/W/bias; empty for dot models
};

// Reads dense.bin (checksummed) and checks every tensor against the manifest's
// architecture; throws naming the file and tensor.
DenseLayers load_dense_layers(const std::filesystem::path& dir, const model::Manifest& manifest);

// The precisions the MLPs serve at: fp32 or int8.
inline constexpr ElementTypes kMlpTypes{ElementType::kFp32, ElementType::kInt8};

// The bottom and top MLPs of a model, and the cross network of a dcn model,
// ready to serve at one precision (CrossNet or CrossNetInt8 for the cross
// network). int8 reads <model>/calibration.json (dlrm-shard calibrate) and
// keeps in fp32 the layers its fp32_layers names, by default the bottom MLP's
// first layer (13 log1p features) and the top MLP's last layer with its
// sigmoid.
class DenseMlps {
 public:
  DenseMlps(const std::filesystem::path& dir, const model::Manifest& manifest, ElementType precision);
  // The same from layers in memory; int8 needs `calibration` (checked against
  // the layers, naming `source` in errors), fp32 ignores it.
  DenseMlps(DenseLayers layers, ElementType precision, const ModelCalibration* calibration,
            const std::string& source);
  DenseMlps(DenseMlps&&) noexcept;
  DenseMlps& operator=(DenseMlps&&) noexcept;
  ~DenseMlps();
  void prepare(int batch);
  void bottom(const float* src, int batch, float* dst);
  void top(const float* src, int batch, float* dst);
  // dcn models: x0 and dst [batch, cross_width()], not overlapping (throws
  // for dot models).
  void cross(const float* x0, int batch, float* dst);
  int bottom_in() const;
  int top_in() const;
  // The cross network's width, 0 for dot models.
  int cross_width() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dlrm::dense
