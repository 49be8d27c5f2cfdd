// CrossCalibrator: the activation ranges of a cross network (see calibration.h).
//
// Every layer runs as two oneDNN pieces: an Mlp of one bias-free layer for
// t_l = x_l V_l^T (recorded), and a one-layer CrossNet for x_{l+1} (the
// serving code, so the ranges are those of the values serving produces).
// Batches are processed in chunks of kChunk rows; a batch's statistics are
// merged only once all of it passed (no NaN or infinity anywhere).
#include <algorithm>
#include <utility>

#include "dlrm/common/error.h"
#include "dlrm/dense/calibration.h"
#include "dlrm/dense/cross_net.h"
#include "dlrm/dense/mlp.h"
#include "range_stats.h"

namespace dlrm::dense {

struct CrossCalibrator::Impl {
  std::vector<CrossLayer> layers;
  RangeRecorder recorder;  // [2l]: x_l, [2l + 1]: t_l
  int width = 0;
  std::vector<Mlp> v_products;      // [l]: x_l -> t_l
  std::vector<CrossNet> crossings;  // [l]: x_l -> x_{l+1} (the last layer's is never needed)
  std::vector<float> x[2], t;

  // The layers are checked before the options, as the members are initialised.
  Impl(std::vector<CrossLayer> l, CalibratorOptions o)
      : layers((check_cross_layers(l, "CrossCalibrator"), std::move(l))), recorder("CrossCalibrator", o) {
    width = layers.front().width;
    int max_rank = 0;
    for (size_t k = 0; k < layers.size(); ++k) {
      const CrossLayer& layer = layers[k];
      max_rank = std::max(max_rank, layer.rank);
      Layer v;
      v.in = width;
      v.out = layer.rank;
      v.weight = layer.v;
      v.bias.assign(layer.rank, 0.0f);
      v.act = Activation::kNone;
      v_products.emplace_back(std::vector<Layer>{std::move(v)});
      if (k + 1 < layers.size()) crossings.emplace_back(std::vector<CrossLayer>{layer});
      recorder.add(width);
      recorder.add(layer.rank);
    }
    for (auto& buffer : x) buffer.resize(static_cast<size_t>(kChunk) * width);
    t.resize(static_cast<size_t>(kChunk) * max_rank);
  }

  // Records one chunk into the recorder's pending batch.
  void observe_chunk(const float* x0, int rows) {
    const float* in = x0;
    for (size_t l = 0; l < layers.size(); ++l) {
      const int64_t bad_x = recorder.pending(2 * l).record(in, rows, width);
      if (bad_x > 0) {
        if (l == 0) DLRM_FAIL("CrossCalibrator: x0 holds {} NaN or infinite values; clean the inputs", bad_x);
        DLRM_FAIL(
            "CrossCalibrator: cross layer {}'s input holds {} NaN or infinite values (fp32 overflow in cross layer "
            "{}); check the model's weights",
            l, bad_x, l - 1);
      }
      v_products[l].forward(in, rows, t.data());
      const int64_t bad_t = recorder.pending(2 * l + 1).record(t.data(), rows, layers[l].rank);
      DLRM_CHECK(bad_t == 0,
                 "CrossCalibrator: cross layer {}'s t = V x holds {} NaN or infinite values (fp32 overflow); check "
                 "the model's weights",
                 l, bad_t);
      if (l + 1 < layers.size()) {
        float* out = x[l % 2].data();
        crossings[l].forward(in, rows, out);
        in = out;
      }
    }
  }
};

CrossCalibrator::CrossCalibrator(std::vector<CrossLayer> layers, CalibratorOptions options)
    : impl_(std::make_unique<Impl>(std::move(layers), options)) {}
CrossCalibrator::~CrossCalibrator() = default;
CrossCalibrator::CrossCalibrator(CrossCalibrator&&) noexcept = default;
CrossCalibrator& CrossCalibrator::operator=(CrossCalibrator&&) noexcept = default;

void CrossCalibrator::observe(const float* x0, int batch) {
  impl_->recorder.observe(x0, batch, impl_->width, "x0",
                          [&](const float* rows_at, int rows) { impl_->observe_chunk(rows_at, rows); });
}

int64_t CrossCalibrator::samples() const { return impl_->recorder.samples(); }

ActivationRanges CrossCalibrator::ranges() const { return impl_->recorder.ranges(); }

}  // namespace dlrm::dense
