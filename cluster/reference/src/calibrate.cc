#include "dlrm/reference/calibrate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "dlrm/datasets/dataset.h"
#include "dlrm/dense/model_mlps.h"
#include "dlrm/reference/reference_model.h"
#include "dlrm/common/error.h"

namespace dlrm::reference {

std::filesystem::path calibrate_model(const CalibrateOptions& options) {
  auto reference = ReferenceModel::load(options.model, Kernels::kFast, /*verify=*/true);
  const auto& manifest = reference.manifest();
  datasets::Dataset data = datasets::Dataset::open(options.data, {manifest.arch.dense_features, manifest.arch.num_tables()});
  const int64_t n = std::min(options.samples, data.samples());
  DLRM_CHECK(n >= options.calibrator.min_samples,
             "calibration data {} has {} samples (of {} asked for); int8 calibration needs at least {}: pass more "
             "data or a larger --samples",
             options.data.string(), data.samples(), options.samples, options.calibrator.min_samples);
  dense::Calibrator bottom(reference.bottom_layers(), options.calibrator);
  dense::Calibrator top(reference.top_layers(), options.calibrator);
  // dcn models: the cross network's ranges (x_l and t_l of every layer), observed from its input x0.
  std::optional<dense::CrossCalibrator> cross;
  if (manifest.arch.dcn()) {
    // TODO(issue 16, lead): ReferenceModel::features does not hand the sink the cross network's
    // input x0 yet; once it does, call observe_cross_input below with it, and drop this check.
    DLRM_FAIL(
        "{} is a dcn model (DLRM-v2's cross network); calibrating its cross network is not wired up yet: "
        "ReferenceModel::features must pass the cross network's input",
        options.model.string());
    cross.emplace(dense::load_dense_layers(options.model, manifest).cross, options.calibrator);
  }
  [[maybe_unused]] auto observe_cross_input = [&](const float* x0, int batch) { cross->observe(x0, batch); };
  reference.features(data, 0, n, options.fold_indices, [&](int64_t, int batch, const float* bottom_in, const float* top_in) {
    bottom.observe(bottom_in, batch);
    top.observe(top_in, batch);
  });
  dense::ModelCalibration calibration{bottom.ranges(), top.ranges(), {}};
  if (cross) calibration.cross = cross->ranges();
  auto path = dense::calibration_path(options.model);
  dense::save_calibration(calibration, path);
  spdlog::info("calibrated the MLPs of {} on {} samples of {}: wrote {}", options.model.string(), n,
               options.data.string(), path.string());
  return path;
}

}  // namespace dlrm::reference
