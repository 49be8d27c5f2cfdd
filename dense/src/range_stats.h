// Private to dense/: the statistics Calibrator and CrossCalibrator gather of
// one activation (see calibration.h for what is recorded and how the clip is
// chosen), and the LayerInputRange made of them.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/dense/calibration.h"

namespace dlrm::dense {

// Calibration batches are processed in chunks of kChunk rows.
constexpr int kChunk = 256;
// |x| is binned by the top 13 bits of its float representation: 8 exponent
// bits and 4 mantissa bits, i.e. 16 bins per octave over every finite float.
constexpr int kHistogramShift = 19;
constexpr size_t kHistogramBins = size_t{1} << (31 - kHistogramShift);

struct LayerStats {
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  float abs_max = 0.0f;
  uint64_t count = 0;
  std::vector<double> column_sum;  // [width]
  std::vector<uint64_t> histogram = std::vector<uint64_t>(kHistogramBins, 0);

  void merge(const LayerStats& o) {
    min = std::min(min, o.min);
    max = std::max(max, o.max);
    abs_max = std::max(abs_max, o.abs_max);
    count += o.count;
    for (size_t i = 0; i < column_sum.size(); ++i) column_sum[i] += o.column_sum[i];
    for (size_t b = 0; b < kHistogramBins; ++b) histogram[b] += o.histogram[b];
  }

  void clear() {
    min = std::numeric_limits<float>::infinity();
    max = -std::numeric_limits<float>::infinity();
    abs_max = 0.0f;
    count = 0;
    std::fill(column_sum.begin(), column_sum.end(), 0.0);
    std::fill(histogram.begin(), histogram.end(), 0);
  }

  // Records rows x width values; returns how many were NaN or infinite (not recorded).
  int64_t record(const float* x, int rows, int width) {
    DLRM_ASSERT(column_sum.size() == static_cast<size_t>(width));
    int64_t bad = 0;
    for (int r = 0; r < rows; ++r) {
      const float* row = x + static_cast<size_t>(r) * width;
      for (int i = 0; i < width; ++i) {
        float v = row[i];
        if (!std::isfinite(v)) {
          ++bad;
          continue;
        }
        column_sum[i] += v;
        min = std::min(min, v);
        max = std::max(max, v);
        float a = std::fabs(v);
        abs_max = std::max(abs_max, a);
        ++histogram[std::bit_cast<uint32_t>(a) >> kHistogramShift];
      }
    }
    count += static_cast<uint64_t>(static_cast<int64_t>(rows) * width - bad);
    return bad;
  }

  // The clip c minimising the expected squared quantisation error over the
  // histogram, with `levels` codes per sign: a value v <= c is rounded with
  // error min(v^2, s^2 / 12), s = c / levels; a value v > c saturates, error
  // (v - c)^2. Each bin stands for its midpoint; bin 0 (the exact zeros and
  // the subnormals below 2^-130) is left out: zeros quantise exactly.
  float mse_clip(double levels) const {
    if (count == 0 || abs_max == 0.0f) return abs_max;
    std::vector<std::pair<double, double>> bins;  // (midpoint, count) of non-empty bins
    for (size_t b = 1; b < kHistogramBins; ++b) {
      if (histogram[b] == 0) continue;
      double lo = std::bit_cast<float>(static_cast<uint32_t>(b << kHistogramShift));
      double hi = std::min<double>(std::bit_cast<float>(static_cast<uint32_t>((b + 1) << kHistogramShift)), abs_max);
      bins.emplace_back(0.5 * (lo + std::max(lo, hi)), static_cast<double>(histogram[b]));
    }
    double best_c = abs_max, best_err = std::numeric_limits<double>::infinity();
    auto consider = [&](double c) {
      double s2 = (c / levels) * (c / levels) / 12.0, err = 0.0;
      for (const auto& [v, n] : bins) err += n * (v <= c ? std::min(v * v, s2) : (v - c) * (v - c));
      if (err < best_err) {
        best_err = err;
        best_c = c;
      }
    };
    for (size_t b = 1; b < kHistogramBins; ++b) {
      if (histogram[b] == 0) continue;
      double edge = std::bit_cast<float>(static_cast<uint32_t>((b + 1) << kHistogramShift));
      if (edge < abs_max) consider(edge);
    }
    consider(abs_max);
    return static_cast<float>(best_c);
  }

  float clip(double percentile) const {
    if (percentile >= 100.0 || count == 0) return abs_max;
    // The rank ceil(p n / 100), forgiving the representation error of p (99.9 * 1e5 / 100 must be 99900).
    uint64_t need = static_cast<uint64_t>(std::ceil(percentile * static_cast<double>(count) / 100.0 - 1e-6));
    need = std::clamp<uint64_t>(need, 1, count);
    uint64_t seen = 0;
    for (size_t b = 0; b < kHistogramBins; ++b) {
      seen += histogram[b];
      if (seen >= need) {
        // Upper edge of bin b: the smallest float of bin b + 1.
        float edge = std::bit_cast<float>(static_cast<uint32_t>((b + 1) << kHistogramShift));
        // At least p% zeros and subnormals (bins 0-15): the percentile is 0,
        // not a subnormal edge no scale can be made from; MlpInt8 quantises a
        // clip of 0 with abs_max.
        if (!std::isnormal(edge)) return 0.0f;
        return std::min(edge, abs_max);
      }
    }
    return abs_max;
  }
};

// The range of an activation `width` wide observed over `samples` rows.
inline LayerInputRange range_of(const LayerStats& s, int width, int64_t samples, const CalibratorOptions& options) {
  LayerInputRange r;
  r.width = width;
  r.min = s.min;
  r.max = s.max;
  r.abs_max = s.abs_max;
  r.mean.resize(width);
  for (int i = 0; i < width; ++i) r.mean[i] = static_cast<float>(s.column_sum[i] / static_cast<double>(samples));
  r.clip = options.method == RangeMethod::kMse          ? s.mse_clip(code_levels(r.is_signed()))
           : options.method == RangeMethod::kPercentile ? s.clip(options.percentile)
                                                        : s.abs_max;
  return r;
}

// What Calibrator and CrossCalibrator share: one LayerStats per recorded
// activation, the batch being observed (`pending`, merged only once all of
// it passed), the samples and the options. `who` names the calibrator in
// messages.
class RangeRecorder {
 public:
  RangeRecorder(const char* who, CalibratorOptions options) : who_(who), options_(options) {
    DLRM_CHECK(options_.percentile > 0.0 && options_.percentile <= 100.0, "{}: percentile must be in (0, 100], got {}",
               who_, options_.percentile);
    DLRM_CHECK(options_.min_samples >= 1, "{}: min_samples must be positive, got {}", who_, options_.min_samples);
  }

  // Records one more activation, `width` wide.
  void add(int width) {
    widths_.push_back(width);
    stats_.emplace_back().column_sum.assign(width, 0.0);
    pending_.emplace_back().column_sum.assign(width, 0.0);
  }

  // Activation k's statistics of the batch being observed.
  LayerStats& pending(size_t k) { return pending_[k]; }

  // One batch of `batch` rows of `width` floats at `src`: chunk(rows at, n)
  // for each kChunk rows, recording into pending(); merged when none threw.
  // `input` names src in messages ("src", "x0").
  template <class Chunk>
  void observe(const float* src, int batch, int width, const char* input, Chunk&& chunk) {
    DLRM_CHECK(batch >= 0, "{}::observe: batch must be non-negative, got {}", who_, batch);
    if (batch == 0) return;
    DLRM_CHECK(src != nullptr, "{}::observe: null {} for batch {}", who_, input, batch);
    for (LayerStats& s : pending_) s.clear();
    for (int first = 0; first < batch; first += kChunk) {
      chunk(src + static_cast<size_t>(first) * width, std::min(kChunk, batch - first));
    }
    for (size_t k = 0; k < stats_.size(); ++k) stats_[k].merge(pending_[k]);
    samples_ += batch;
  }

  int64_t samples() const { return samples_; }

  // One LayerInputRange per activation, in the order add() was called.
  ActivationRanges ranges() const {
    DLRM_CHECK(samples_ >= options_.min_samples,
               "{}: {} samples observed but at least {} are needed for usable ranges; observe more calibration "
               "samples",
               who_, samples_, options_.min_samples);
    ActivationRanges ranges;
    ranges.samples = samples_;
    ranges.method = options_.method;
    ranges.percentile = options_.method == RangeMethod::kPercentile ? options_.percentile : 100.0;
    for (size_t k = 0; k < stats_.size(); ++k) ranges.layers.push_back(range_of(stats_[k], widths_[k], samples_, options_));
    return ranges;
  }

 private:
  const char* who_;
  CalibratorOptions options_;
  std::vector<int> widths_;
  std::vector<LayerStats> stats_, pending_;
  int64_t samples_ = 0;
};

}  // namespace dlrm::dense
