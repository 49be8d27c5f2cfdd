// The int8 cross network (cross_net.h) with static activation scales, built
// like the int8 MLPs (mlp_int8.h; reasons in docs/quantization.md).
//
// quantize_cross_net turns fp32 cross layers plus calibrated ranges
// (CrossCalibrator: ranges.layers[2l] for x_l, [2l + 1] for t_l) into, per
// layer (s = scale, q = code; quantize_rows of mlp_int8.h's formulas):
//   x_l     u8 or s8 codes (s8 when seen negative), s_x = clip / levels
//   t_l     u8 or s8 codes likewise, s_t = clip / levels
//   V       s8 codes per output row r, s_v[r] = max_i |V[r][i]| / 127;
//           bias bv[r] = -c_v[r] / (s_x s_v[r]) (bias correction only, V has no bias);
//           output scale ov[r] = s_x s_v[r] / s_t  (writes t codes)
//   W       s8 codes per output row o, s_w[o]; bias bw[o] = (b[o] - c_w[o]) / (s_t s_w[o]);
//           output scale ow[o] = s_t s_w[o]  (writes fp32)
// with c the bias correction over the calibration's column means
// (MlpInt8Options::bias_correction), 0 without it.
//
// cross_net_int8_forward_ref (scalar; oneDNN 2.6's int8 inner product and
// binary post-ops in the same order of float operations), per layer:
//   qx[i] = sat(rne(x_l[i] * inv_x))                      (float product)
//   acc   = sum_i qx[i] Vq[r][i];  qt[r] = sat(rne((float(acc) + bv[r]) * ov[r]))
//   acc   = sum_r qt[r] Wq[o][r];  z = (float(acc) + bw[o]) * ow[o]
//   x_{l+1}[o] = (z * x0[o]) + x_l[o]                     (two roundings, no FMA)
// rne: round half to even; sat: clamp to [0, 255] (u8) or [-128, 127] (s8).
//
// CrossNetInt8 computes the same on oneDNN, per layer: a reorder with output
// scale inv_x quantises x_l; an int8 inner product with per-channel output
// scales writes t codes; an int8 inner product writes fp32 with "* x0" and
// "+ x_l" fused as binary post-ops. The elementwise part and every x_l stay
// fp32. Primitives are built once per (batch, OpenMP thread count); after
// prepare(batch), forward() allocates nothing of its own. One per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/common/element_type.h"
#include "dlrm/dense/calibration.h"
#include "dlrm/dense/cross_net.h"

namespace dlrm::dense {

struct CrossNetInt8Options {
  // Fold the mean error of the rounded V and W into the biases.
  bool bias_correction = true;
  int64_t min_calibration_samples = kMinCalibrationSamples;
};

struct QuantizedCrossLayer {
  int width = 0;
  int rank = 0;
  ElementType x_type = ElementType::kInt8;  // kUint8 or kInt8
  float x_scale = 1.0f;                     // x ~ x_scale * q
  float x_inv_scale = 1.0f;                 // the quantiser's multiplier
  ElementType t_type = ElementType::kInt8;
  float t_scale = 1.0f;
  std::vector<int8_t> v;              // [rank, width]
  std::vector<float> v_scale;         // [rank]
  std::vector<float> v_bias;          // [rank], accumulator units
  std::vector<float> v_output_scale;  // [rank]
  std::vector<int8_t> w;              // [width, rank]
  std::vector<float> w_scale;         // [width]
  std::vector<float> w_bias;          // [width], accumulator units
  std::vector<float> w_output_scale;  // [width]
};

struct QuantizedCrossNet {
  std::vector<QuantizedCrossLayer> layers;
  int width() const { return layers.front().width; }
};

// Throws dlrm::Error when the layers are malformed (check_cross_layers) or the
// ranges do not fit them (check_cross_ranges).
QuantizedCrossNet quantize_cross_net(const std::vector<CrossLayer>& layers, const ActivationRanges& ranges,
                                     const CrossNetInt8Options& options = {});

// What cross_net_int8_forward_ref computed, per layer, row-major over the
// batch, for tests that derive error bounds.
struct CrossNetInt8Trace {
  struct Step {
    std::vector<float> x;          // the layer's fp32 input x_l [batch, X]
    std::vector<float> scaled_x;   // x_l * x_inv_scale before rounding
    std::vector<int32_t> x_codes;  // [batch, X]
    std::vector<int32_t> t_acc;    // [batch, R]
    std::vector<float> t_pre;      // (float(acc) + bv) * ov before rounding [batch, R]
    std::vector<int32_t> t_codes;  // [batch, R]
    std::vector<int32_t> u_acc;    // [batch, X]
    std::vector<float> u;          // z = (float(acc) + bw) * ow [batch, X]
  };
  std::vector<Step> layers;
};

// x0 and dst [batch, X] fp32 row-major, not overlapping.
void cross_net_int8_forward_ref(const QuantizedCrossNet& net, const float* x0, int batch, float* dst,
                                CrossNetInt8Trace* trace = nullptr);

class CrossNetInt8 {
 public:
  CrossNetInt8(const std::vector<CrossLayer>& layers, const ActivationRanges& ranges,
               const CrossNetInt8Options& options = {});
  explicit CrossNetInt8(QuantizedCrossNet quantized);
  ~CrossNetInt8();
  CrossNetInt8(CrossNetInt8&&) noexcept;
  CrossNetInt8& operator=(CrossNetInt8&&) noexcept;

  // x0 and dst [batch, width()] fp32 row-major, not overlapping.
  void forward(const float* x0, int batch, float* dst);
  // Builds (and caches) the primitives for `batch` ahead of the first forward().
  void prepare(int batch);
  int width() const;
  const QuantizedCrossNet& quantized() const;
  // oneDNN's implementation name per primitive of the plan for `batch`; builds it.
  std::vector<std::string> implementations(int batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dlrm::dense
