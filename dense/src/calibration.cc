// Calibration of activation ranges and its JSON file (see calibration.h).
//
// Calibrator keeps one fp32 Mlp per layer so that every layer's input is
// visible; calibration batches are processed in chunks of kChunk rows. Each
// batch's statistics are gathered apart and merged only once all of it passed
// (no NaN or infinity anywhere), so a rejected batch leaves the Calibrator as
// it was.
#include "dlrm/dense/calibration.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <fstream>
#include <limits>
#include <utility>

#include "dlrm/common/error.h"
#include "dlrm/common/json.h"
#include "dlrm/common/staged_output.h"
#include "range_stats.h"

namespace fs = std::filesystem;

namespace dlrm::dense {

namespace {

const char* method_name(RangeMethod m) {
  switch (m) {
    case RangeMethod::kMax: return "max";
    case RangeMethod::kPercentile: return "percentile";
    case RangeMethod::kMse: return "mse";
  }
  return "?";
}

RangeMethod parse_method(const std::string& name) {
  for (RangeMethod m : {RangeMethod::kMax, RangeMethod::kPercentile, RangeMethod::kMse}) {
    if (name == method_name(m)) return m;
  }
  DLRM_FAIL("unknown range method '{}'; expected max, percentile or mse", name);
}

}  // namespace

namespace {

void check_values(const ActivationRanges& ranges, const std::string& what) {
  DLRM_CHECK(ranges.percentile > 0.0 && ranges.percentile <= 100.0, "{}: percentile must be in (0, 100], got {}", what,
             ranges.percentile);
  DLRM_CHECK(ranges.samples >= 0, "{}: negative sample count {}", what, ranges.samples);
  for (size_t l = 0; l < ranges.layers.size(); ++l) {
    const LayerInputRange& r = ranges.layers[l];
    DLRM_CHECK(r.width > 0, "{}: layer {} has width {}; widths must be positive", what, l, r.width);
    DLRM_CHECK(std::isfinite(r.min) && std::isfinite(r.max) && std::isfinite(r.abs_max) && std::isfinite(r.clip),
               "{}: layer {} has a non-finite range (min {}, max {}, abs_max {}, clip {}); re-run calibration", what, l,
               r.min, r.max, r.abs_max, r.clip);
    DLRM_CHECK(r.min <= r.max, "{}: layer {} has min {} > max {}", what, l, r.min, r.max);
    DLRM_CHECK(r.abs_max == std::max(std::fabs(r.min), std::fabs(r.max)),
               "{}: layer {} has abs_max {} but min {} and max {} imply {}", what, l, r.abs_max, r.min, r.max,
               std::max(std::fabs(r.min), std::fabs(r.max)));
    DLRM_CHECK(r.clip >= 0.0f && r.clip <= r.abs_max, "{}: layer {} has clip {} outside [0, abs_max = {}]", what, l,
               r.clip, r.abs_max);
    DLRM_CHECK(r.mean.size() == static_cast<size_t>(r.width), "{}: layer {} has {} column means for width {}", what, l,
               r.mean.size(), r.width);
    for (size_t i = 0; i < r.mean.size(); ++i) {
      DLRM_CHECK(r.mean[i] >= r.min && r.mean[i] <= r.max,
                 "{}: layer {} column {} has mean {} outside [min {}, max {}]", what, l, i, r.mean[i], r.min, r.max);
    }
  }
}

}  // namespace

void check_ranges(const ActivationRanges& ranges, const std::vector<Layer>& layers, const std::string& what,
                  int64_t min_samples) {
  check_values(ranges, what);
  DLRM_CHECK(ranges.layers.size() == layers.size(),
             "{}: the calibration has {} layers but the MLP has {}; calibrate this model again", what,
             ranges.layers.size(), layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    DLRM_CHECK(ranges.layers[l].width == layers[l].in,
               "{}: calibration layer {} is {} wide but the MLP's layer {} takes {} inputs; calibrate this "
               "model again",
               what, l, ranges.layers[l].width, l, layers[l].in);
  }
  DLRM_CHECK(ranges.samples >= min_samples,
             "{}: the calibration observed {} samples but at least {} are needed for usable ranges; calibrate "
             "on more samples",
             what, ranges.samples, min_samples);
}

void check_cross_ranges(const ActivationRanges& ranges, const std::vector<CrossLayer>& layers,
                        const std::string& what, int64_t min_samples) {
  check_values(ranges, what);
  DLRM_CHECK(ranges.layers.size() == 2 * layers.size(),
             "{}: the calibration has {} cross ranges but the cross network's {} layers need {} (x_l and t_l of "
             "each); calibrate this model again",
             what, ranges.layers.size(), layers.size(), 2 * layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    DLRM_CHECK(ranges.layers[2 * l].width == layers[l].width,
               "{}: the range of cross layer {}'s input is {} wide but the layer is {} wide; calibrate this model "
               "again",
               what, l, ranges.layers[2 * l].width, layers[l].width);
    DLRM_CHECK(ranges.layers[2 * l + 1].width == layers[l].rank,
               "{}: the range of cross layer {}'s t = V x is {} wide but the layer's rank is {}; calibrate this "
               "model again",
               what, l, ranges.layers[2 * l + 1].width, layers[l].rank);
  }
  DLRM_CHECK(ranges.samples >= min_samples,
             "{}: the calibration observed {} samples but at least {} are needed for usable ranges; calibrate "
             "on more samples",
             what, ranges.samples, min_samples);
}

struct Calibrator::Impl {
  std::vector<Layer> layers;
  RangeRecorder recorder;  // [l]: the input of layer l
  std::vector<Mlp> steps;  // steps[l] runs layer l alone; the last layer is never needed
  std::vector<float> activations[2];

  // The layers are checked before the options, as the members are initialised.
  Impl(std::vector<Layer> l, CalibratorOptions o)
      : layers((check_layers(l, "Calibrator"), std::move(l))), recorder("Calibrator", o) {
    int max_width = 0;
    for (size_t k = 0; k + 1 < layers.size(); ++k) {
      steps.emplace_back(std::vector<Layer>{layers[k]});
      max_width = std::max(max_width, layers[k].out);
    }
    for (const Layer& layer : layers) recorder.add(layer.in);
    for (auto& a : activations) a.resize(static_cast<size_t>(kChunk) * max_width);
  }

  // Records one chunk into the recorder's pending batch.
  void observe_chunk(const float* src, int rows) {
    const float* in = src;
    for (size_t l = 0; l < layers.size(); ++l) {
      int64_t bad = recorder.pending(l).record(in, rows, layers[l].in);
      if (bad > 0) {
        if (l == 0) {
          DLRM_FAIL("Calibrator: the calibration input holds {} NaN or infinite values; clean the inputs", bad);
        }
        DLRM_FAIL(
            "Calibrator: layer {}'s input holds {} NaN or infinite values (fp32 overflow in layer {}); "
            "check the model's weights",
            l, bad, l - 1);
      }
      if (l + 1 < layers.size()) {
        float* out = activations[l % 2].data();
        steps[l].forward(in, rows, out);
        in = out;
      }
    }
  }
};

Calibrator::Calibrator(std::vector<Layer> layers, CalibratorOptions options)
    : impl_(std::make_unique<Impl>(std::move(layers), options)) {}
Calibrator::~Calibrator() = default;
Calibrator::Calibrator(Calibrator&&) noexcept = default;
Calibrator& Calibrator::operator=(Calibrator&&) noexcept = default;

void Calibrator::observe(const float* src, int batch) {
  impl_->recorder.observe(src, batch, impl_->layers.front().in, "src",
                          [&](const float* rows_at, int rows) { impl_->observe_chunk(rows_at, rows); });
}

int64_t Calibrator::samples() const { return impl_->recorder.samples(); }

ActivationRanges Calibrator::ranges() const { return impl_->recorder.ranges(); }

namespace {

void write_ranges(JsonWriter& w, std::string_view key, const ActivationRanges& ranges) {
  w.begin_object(key);
  w.field("samples", ranges.samples);
  w.field("method", method_name(ranges.method));
  w.field("percentile", ranges.percentile);
  w.begin_array("layers");
  for (const LayerInputRange& r : ranges.layers) {
    w.begin_object();
    w.field("width", r.width);
    w.field("min", r.min);
    w.field("max", r.max);
    w.field("abs_max", r.abs_max);
    w.field("clip", r.clip);
    w.field("mean", r.mean);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

ActivationRanges read_ranges(const JsonValue& v) {
  ActivationRanges ranges;
  ranges.samples = v["samples"].get<int64_t>();
  try {
    ranges.method = parse_method(v["method"].get<std::string>());
  } catch (const Error& e) {
    v["method"].fail(e.what());
  }
  ranges.percentile = v["percentile"].get<double>();
  for (const JsonValue& layer : v["layers"].items()) {
    LayerInputRange r;
    r.width = layer["width"].get<int>();
    r.min = layer["min"].get<float>();
    r.max = layer["max"].get<float>();
    r.abs_max = layer["abs_max"].get<float>();
    r.clip = layer["clip"].get<float>();
    r.mean = layer["mean"].get<std::vector<float>>();
    ranges.layers.push_back(std::move(r));
  }
  return ranges;
}

}  // namespace

fs::path calibration_path(const fs::path& model_dir) { return model_dir / kCalibrationFileName; }

void save_calibration(const ModelCalibration& calibration, const fs::path& file) {
  check_values(calibration.bottom, "save_calibration " + file.string() + " (bottom MLP)");
  check_values(calibration.top, "save_calibration " + file.string() + " (top MLP)");
  check_values(calibration.cross, "save_calibration " + file.string() + " (cross network)");
  JsonWriter w;
  w.begin_object();
  w.begin_object("dlrm_calibration");
  w.field("format_version", kCalibrationFormatVersion);
  w.field("producer", "dlrm-cluster dense::Calibrator");
  write_ranges(w, "bottom", calibration.bottom);
  write_ranges(w, "top", calibration.top);
  if (!calibration.cross.layers.empty()) write_ranges(w, "cross", calibration.cross);
  if (calibration.fp32_layers) {
    w.begin_object("fp32_layers");
    w.field("bottom", calibration.fp32_layers->bottom);
    w.field("top", calibration.fp32_layers->top);
    w.field("cross", calibration.fp32_layers->cross);
    w.end_object();
  }
  w.end_object();
  w.end_object();
  std::string text = w.str();
  StagedFile out(file);
  out.write(text.data(), text.size());
  out.commit();
}

ModelCalibration load_calibration(const fs::path& file) {
  std::error_code ec;
  DLRM_CHECK(fs::exists(file, ec),
             "calibration file {} does not exist; calibrate the model first (the calibration is stored next to "
             "the model as {})",
             file.string(), kCalibrationFileName);
  DLRM_CHECK(std::ifstream(file).good(), "calibration file {} cannot be read; check its permissions", file.string());
  JsonDocument doc = JsonDocument::read_file(file, {"calibration file", "calibrate the model again"});
  // The version is read (and checked) before anything else.
  JsonValue v = doc.root()["dlrm_calibration"];
  int format_version = v["format_version"].get<int>();
  DLRM_CHECK(format_version == kCalibrationFormatVersion,
             "{}: calibration format_version is {} but this dlrm-cluster reads version {}; calibrate the model "
             "again with this version",
             file.string(), format_version, kCalibrationFormatVersion);
  ModelCalibration calibration;
  calibration.bottom = read_ranges(v["bottom"]);
  calibration.top = read_ranges(v["top"]);
  if (v.has("cross")) calibration.cross = read_ranges(v["cross"]);  // dcn models only
  if (v.has("fp32_layers")) {
    const JsonValue f = v["fp32_layers"];
    calibration.fp32_layers = Fp32Layers{f["bottom"].get<std::vector<int>>(), f["top"].get<std::vector<int>>(),
                                         f["cross"].get<std::vector<int>>()};
  }
  check_values(calibration.bottom, file.string() + " (bottom MLP)");
  check_values(calibration.top, file.string() + " (top MLP)");
  check_values(calibration.cross, file.string() + " (cross network)");
  return calibration;
}

namespace {

// fp32_layers.<what>: ascending, unique indices below `layers`.
void check_layer_list(const std::vector<int>& list, size_t layers, const char* what, const fs::path& file) {
  for (size_t k = 0; k < list.size(); ++k) {
    DLRM_CHECK(list[k] >= 0 && static_cast<size_t>(list[k]) < layers,
               "{}: fp32_layers.{} names layer {} but there are layers 0..{}; calibrate the model again", file.string(),
               what, list[k], layers - 1);
    DLRM_CHECK(k == 0 || list[k] > list[k - 1], "{}: fp32_layers.{} must list each layer once, ascending",
               file.string(), what);
  }
}

}  // namespace

void check_model_calibration(const ModelCalibration& calibration, const std::vector<Layer>& bottom,
                             const std::vector<Layer>& top, const std::vector<CrossLayer>& cross,
                             const fs::path& file) {
  if (calibration.fp32_layers) {
    check_layer_list(calibration.fp32_layers->bottom, bottom.size(), "bottom", file);
    check_layer_list(calibration.fp32_layers->top, top.size(), "top", file);
    check_layer_list(calibration.fp32_layers->cross, cross.size(), "cross", file);
    const size_t n = calibration.fp32_layers->cross.size();
    DLRM_CHECK(n == 0 || n == cross.size(),
               "{}: fp32_layers.cross lists {} of the {} cross layers; the int8 cross network runs in int8 or fp32 "
               "as a whole, so list none or all",
               file.string(), n, cross.size());
  }
  check_ranges(calibration.bottom, bottom, file.string() + " (bottom MLP)");
  check_ranges(calibration.top, top, file.string() + " (top MLP)");
  if (cross.empty()) {
    DLRM_CHECK(calibration.cross.layers.empty(),
               "{}: the calibration has ranges of a cross network but the model has none (a dot model); "
               "calibrate this model again",
               file.string());
    return;
  }
  DLRM_CHECK(!calibration.cross.layers.empty(),
             "{}: the model has a cross network ({} layers) but the calibration has no \"cross\" ranges; "
             "calibrate this model again",
             file.string(), cross.size());
  check_cross_ranges(calibration.cross, cross, file.string() + " (cross network)");
}

}  // namespace dlrm::dense
