// Calibrating a model's int8 MLPs: run the fp32 model over labelled or
// unlabelled samples, record the range of every MLP layer's input, and write
// <model>/calibration.json (read by dlrm-cluster --mlp int8).
#pragma once

#include <cstdint>
#include <filesystem>

#include "dlrm/datasets/dataset.h"
#include "dlrm/dense/calibration.h"
#include "dlrm/reference/reference_model.h"

namespace dlrm::reference {

struct CalibrateOptions {
  std::filesystem::path model;
  std::filesystem::path data;
  int64_t samples = 8192;  // the first N samples of data (at least dense::kMinCalibrationSamples)
  dense::CalibratorOptions calibrator;
  bool fold_indices = false;
};

// The ranges of samples [0, n) of `data` through the fp32 model `reference`
// (bottom and top MLP, and the cross network of a dcn model), in memory.
dense::ModelCalibration calibrate(ReferenceModel& reference, const datasets::Dataset& data, int64_t n,
                                  const dense::CalibratorOptions& options, bool fold_indices);

// Returns the calibration file written. Throws naming the data file when it
// holds too few samples, and the model when its rows or weights are bad.
std::filesystem::path calibrate_model(const CalibrateOptions& options);

}  // namespace dlrm::reference
