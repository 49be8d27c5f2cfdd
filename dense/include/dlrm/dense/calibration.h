// Static activation ranges for int8 MLPs (calibration), and their JSON file.
// The histogram and the error model of kMse are explained in docs/quantization.md.
//
// Calibrator runs the fp32 MLP (oneDNN, one layer at a time) over calibration
// batches and records, for the input of every layer l, over all samples and
// columns:
//   min, max   the extremes of x;  abs_max = max |x|
//   mean[i]    the mean of column i (MlpInt8's bias correction)
//   histogram  of |x| by its float exponent and top 4 mantissa bits (16 bins
//              per octave over every finite float; bin 0 holds the zeros and
//              the subnormals below 2^-130)
// and chooses the clip c (the |x| that maps to the largest code) by method:
//   kMax         c = abs_max (nothing saturates on calibration data; default)
//   kPercentile  c = the smallest bin edge with #{|x| <= c} >= p/100 * #x
//                (over-estimates the exact percentile by < 1/16), or 0 when
//                that edge is not a normal float (at least p% zeros and
//                subnormals; MlpInt8 then quantises with abs_max)
//   kMse         c minimising sum over bins b >= 1 of n_b * err(v_b), v_b the
//                bin's midpoint, over c in {abs_max, upper edges below abs_max of
//                non-empty bins}:
//                err(v) = min(v^2, s^2/12) for v <= c (s = c / levels),
//                (v - c)^2 above it (saturation)
// MlpInt8 (mlp_int8.h) turns clips into scales: u8 codes, s = c / 255, for
// inputs never seen negative; s8 codes, s = c / 127, for inputs seen negative
// (code_levels).
//
// CrossCalibrator does the same for a cross network (cross_net.h): it runs
// the fp32 layers on x0 and records, for every layer l, two activations:
//   layers[2l]      its input x_l [X]  (x_0 = x0)
//   layers[2l + 1]  its rank-R intermediate t_l = x_l V_l^T [R]
// (CrossNetInt8 quantises both; cross_net_int8.h).
//
// A model's calibration (bottom and top MLP, and the cross network of a dcn
// model) lives next to it as <model>/calibration.json:
//   {"dlrm_calibration": {"format_version": 1, "producer": "...",
//     "bottom": {"samples": N, "method": "max"|"percentile"|"mse", "percentile": p,
//                "layers": [{"width", "min", "max", "abs_max", "clip", "mean": [width]}, ...]},
//     "top": {...},
//     "cross": {...},    (dcn models only: 2 entries per cross layer, as above)
//     "fp32_layers": {"bottom": [0], "top": [4], "cross": []}}}
//                        (optional: the layers --mlp int8 serves in fp32, by
//                         index; absent: DenseMlps' defaults. cross lists no
//                         layer or every layer)
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dlrm/dense/cross_net.h"
#include "dlrm/dense/mlp.h"

namespace dlrm::dense {

inline constexpr int kCalibrationFormatVersion = 1;
// The fewest samples ranges are accepted from (Calibrator::ranges, check_ranges).
inline constexpr int64_t kMinCalibrationSamples = 1024;
inline constexpr const char* kCalibrationFileName = "calibration.json";

// What was observed at the input of one layer.
struct LayerInputRange {
  int width = 0;
  float min = 0.0f;
  float max = 0.0f;
  float abs_max = 0.0f;
  float clip = 0.0f;        // the |x| that maps to the largest code (<= abs_max)
  std::vector<float> mean;  // [width], each column's mean (for bias correction)
  bool is_signed() const { return min < 0.0f; }
};

// The largest code of a quantised input: 127 for s8 codes (inputs seen
// negative: LayerInputRange::is_signed()), 255 for u8 codes; the scale is
// clip / code_levels.
inline double code_levels(bool signed_codes) { return signed_codes ? 127.0 : 255.0; }

// How clip is chosen from what was observed.
enum class RangeMethod {
  kMax,         // clip = abs_max
  kPercentile,  // clip = the percentile of |x|
  kMse,         // clip minimising the expected squared quantisation error
};

struct ActivationRanges {
  int64_t samples = 0;  // calibration samples (rows) observed
  RangeMethod method = RangeMethod::kMax;
  double percentile = 100.0;            // kPercentile's p (100 for the other methods)
  std::vector<LayerInputRange> layers;  // layers[l]: the input of layer l
};

// Both MLPs of a DLRM model, and its cross network (dcn models; no layers
// for dot models).
// Which layers an int8 model serves in fp32 (per-layer fallback: dlrm-shard
// tune-precision chooses them), by index in each MLP and cross network.
struct Fp32Layers {
  std::vector<int> bottom;
  std::vector<int> top;
  std::vector<int> cross;
};

struct ModelCalibration {
  ActivationRanges bottom;
  ActivationRanges top;
  ActivationRanges cross;  // layers[2l]: x_l, layers[2l + 1]: t_l (CrossCalibrator)
  std::optional<Fp32Layers> fp32_layers = std::nullopt;  // unset: DenseMlps' defaults
};

// Throws dlrm::Error naming `what` unless `ranges` has one entry per layer
// with that layer's input width, at least min_samples samples, finite values
// and min <= max, abs_max = max(|min|, |max|), 0 <= clip <= abs_max,
// min <= mean[i] <= max for each of `width` column means.
void check_ranges(const ActivationRanges& ranges, const std::vector<Layer>& layers, const std::string& what,
                  int64_t min_samples = kMinCalibrationSamples);

// The same for a cross network's ranges: two entries per layer, x_l of
// the layer's width and t_l of its rank.
void check_cross_ranges(const ActivationRanges& ranges, const std::vector<CrossLayer>& layers,
                        const std::string& what, int64_t min_samples = kMinCalibrationSamples);

struct CalibratorOptions {
  RangeMethod method = RangeMethod::kMax;
  // For kPercentile: e.g. 99.999 clips the largest 0.001% of |x|.
  double percentile = 99.999;
  int64_t min_samples = kMinCalibrationSamples;
};

class Calibrator {
 public:
  explicit Calibrator(std::vector<Layer> layers, CalibratorOptions options = {});
  ~Calibrator();
  Calibrator(Calibrator&&) noexcept;
  Calibrator& operator=(Calibrator&&) noexcept;

  // src [batch, in] row-major fp32, as the MLP receives it in serving. Runs the
  // fp32 layers on it and records every layer's input. Throws (naming the
  // layer) on NaN or infinite activations.
  void observe(const float* src, int batch);
  int64_t samples() const;
  // Throws when fewer than options.min_samples samples were observed.
  ActivationRanges ranges() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class CrossCalibrator {
 public:
  explicit CrossCalibrator(std::vector<CrossLayer> layers, CalibratorOptions options = {});
  ~CrossCalibrator();
  CrossCalibrator(CrossCalibrator&&) noexcept;
  CrossCalibrator& operator=(CrossCalibrator&&) noexcept;

  // x0 [batch, X] row-major fp32, as the cross network receives it in
  // serving. Runs the fp32 layers (oneDNN) and records every x_l and t_l.
  // Throws (naming the layer) on NaN or infinite activations; a rejected
  // batch leaves the ranges as they were.
  void observe(const float* x0, int batch);
  int64_t samples() const;
  // Throws when fewer than options.min_samples samples were observed.
  ActivationRanges ranges() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::filesystem::path calibration_path(const std::filesystem::path& model_dir);
// Written atomically (staged, then renamed). Throws on non-finite values.
void save_calibration(const ModelCalibration& calibration, const std::filesystem::path& file);
// Throws naming the file when it is missing, not JSON of this layout, of
// another format_version, or fails the value checks of check_ranges (widths
// are checked against a model with check_model_calibration).
ModelCalibration load_calibration(const std::filesystem::path& file);
// check_ranges for both MLPs and check_cross_ranges for the cross network,
// naming `file` in the message; `cross` empty (a dot model) requires a
// calibration without cross ranges. fp32_layers, when set, must name layers
// that exist, each once, ascending, and list no cross layer or all of them.
void check_model_calibration(const ModelCalibration& calibration, const std::vector<Layer>& bottom,
                             const std::vector<Layer>& top, const std::vector<CrossLayer>& cross,
                             const std::filesystem::path& file);

}  // namespace dlrm::dense
