#include "dlrm/reference/calibrate.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/open.h"
#include "dlrm/dense/model_mlps.h"
#include "dlrm/reference/reference_model.h"
#include "dlrm/common/error.h"

namespace dlrm::reference {

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
  const datasets::Dataset& data = held.data();
  dense::Calibrator bottom(reference.bottom_layers(), options.calibrator);
  dense::Calibrator top(reference.top_layers(), options.calibrator);
  reference.features(data, 0, n, options.fold_indices, [&](int64_t, int batch, const float* bottom_in, const float* top_in) {
    bottom.observe(bottom_in, batch);
    top.observe(top_in, batch);
  });
  dense::ModelCalibration calibration{bottom.ranges(), top.ranges()};
  auto path = dense::calibration_path(options.model);
  dense::save_calibration(calibration, path);
  spdlog::info("calibrated the MLPs of {} on {} samples of {}: wrote {}", options.model.string(), n,
               options.data.string(), path.string());
  return path;
}

}  // namespace dlrm::reference
