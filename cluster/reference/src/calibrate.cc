#include "dlrm/reference/calibrate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/open.h"
#include "dlrm/dense/model_mlps.h"
#include "dlrm/reference/reference_model.h"
#include "dlrm/common/error.h"

namespace dlrm::reference {

dense::ModelCalibration calibrate(ReferenceModel& reference, const datasets::Dataset& data, int64_t n,
                                  const dense::CalibratorOptions& options, bool fold_indices) {
  dense::Calibrator bottom(reference.bottom_layers(), options);
  dense::Calibrator top(reference.top_layers(), options);
  std::optional<dense::CrossCalibrator> cross;  // dcn models: every cross layer's x_l and rank-R t_l
  if (!reference.cross_layers().empty()) cross.emplace(reference.cross_layers(), options);
  reference.features(data, 0, n, fold_indices, [&](const ReferenceModel::ChunkInputs& chunk) {
    bottom.observe(chunk.bottom_in, chunk.batch);
    if (cross) cross->observe(chunk.cross_in, chunk.batch);
    top.observe(chunk.top_in, chunk.batch);
  });
  return dense::ModelCalibration{bottom.ranges(), top.ranges(), cross ? cross->ranges() : dense::ActivationRanges{},
                                 std::nullopt};
}

std::filesystem::path calibrate_model(const CalibrateOptions& options) {
  auto reference = ReferenceModel::load(options.model, Kernels::kFast, /*verify=*/true);
  const auto& manifest = reference.manifest();
  const auto& arch = manifest.arch;
  const datasets::DataShape shape{arch.dense_features, arch.num_tables(), arch.hotness};
  const int64_t total = datasets::count_samples(options.data, shape);
  const int64_t n = std::min(options.samples, total);
  DLRM_CHECK(n >= options.calibrator.min_samples,
             "calibration data {} has {} samples (of {} asked for); int8 calibration needs at least {}: pass more "
             "data or a larger --samples",
             options.data.string(), total, options.samples, options.calibrator.min_samples);
  const datasets::SampleData held = datasets::open_samples(options.data, shape, 0, n);  // only those read
  const dense::ModelCalibration calibration =
      calibrate(reference, held.data(), n, options.calibrator, options.fold_indices);
  const bool cross = !calibration.cross.layers.empty();
  auto path = dense::calibration_path(options.model);
  dense::save_calibration(calibration, path);
  spdlog::info("calibrated the MLPs{} of {} on {} samples of {}: wrote {}", cross ? " and cross network" : "", options.model.string(), n,
               options.data.string(), path.string());
  return path;
}

}  // namespace dlrm::reference
