// Int8 MLPs with static activation scales (quantized serving). Why these
// choices, and which options DLRM serving uses: docs/quantization.md.
//
// quantize_mlp turns fp32 layers plus calibrated input ranges (calibration.h)
// into this quantized form, layer by layer (s = scale, q = code):
//   source      s_x = clip / 255 and u8 codes when the input was never seen
//               negative, s_x = clip / 127 and s8 codes otherwise
//               (clip: the range's clip, or its abs_max when the clip is 0)
//   weights     s_w[o] = max_i |W[o][i]| / 127, Wq[o][i] = rne(W[o][i] / s_w[o]) in [-127, 127]
//   bias        bq[o] = (b[o] - c[o]) / (s_x s_w[o])   (fp32, in accumulator units)
//               c[o] = sum_i (s_w[o] Wq[o][i] - W[o][i]) mean_i with bias_correction
//               (mean_i: the calibration inputs' column means), else 0
//   output      os[o] = s_x s_w[o] / s_y  for int8 dst (s_y = the next layer's s_x)
//               os[o] = s_x s_w[o]        for fp32 dst (dequantised)
// Int8 layers pass codes straight to the next int8 layer when their
// activation is ReLU or none; any other boundary goes through fp32. With
// last_layer_fp32 the last layer runs in fp32 on the dequantised output of
// the layer before; with first_layer_fp32 the first layer runs in fp32 and its
// output is quantised; the layers of fp32_layers likewise.
//
// mlp_int8_forward_ref (scalar loops; oneDNN 2.6's int8 inner product in the
// same order of float operations):
//   fp32 input to an int8 layer:  q[i] = sat(rne(x[i] * inv_x))               (float product,
//                                 inv_x = float(levels / clip) ~ 1 / s_x)
//   int8 layer:  acc = sum_i q[i] Wq[o][i]                                    (exact, int32)
//                z   = (float(acc) + bq[o]) * os[o];  a = act(z)              (float ops in this order)
//                y   = sat(rne(a)) for int8 dst,  y = a for fp32 dst
//   fp32 layer:  mlp_forward_ref
// rne: round half to even; sat: clamp to [0, 255] (u8) or [-128, 127] (s8).
//
// MlpInt8 computes the same on oneDNN: a reorder with output scale inv_x
// quantises fp32 input; inner products with s8 weights, f32 bias,
// per-output-channel output scales and the activation as a post-op write u8/s8
// codes for the next layer, or fp32 for the fp32 tail (dense::Mlp).
// Primitives are built once per (batch, OpenMP thread count); after
// prepare(batch), forward() allocates nothing of its own. One MlpInt8 per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/common/element_type.h"
#include "dlrm/dense/calibration.h"
#include "dlrm/dense/mlp.h"

namespace dlrm::dense {

struct MlpInt8Options {
  // Run the first layer in fp32 (its output is quantised for the second).
  bool first_layer_fp32 = false;
  // Run the last layer (and its sigmoid) in fp32.
  bool last_layer_fp32 = true;
  // Further layers to run in fp32, by index (per-layer fallback): an fp32
  // layer between int8 layers takes the dequantised output of the one before
  // and its output is quantised for the one after.
  std::vector<int> fp32_layers = {};
  // Fold the mean error of the rounded weights into the bias (see above).
  bool bias_correction = true;
  int64_t min_calibration_samples = kMinCalibrationSamples;
};

// Element types of the codes between layers: kUint8, kInt8, or kFp32.
struct QuantizedLayer {
  int in = 0;
  int out = 0;
  Activation act = Activation::kRelu;
  bool int8 = false;
  Layer fp32;  // fp32 layers only (empty for int8 layers)

  // Int8 layers only.
  ElementType src_type = ElementType::kUint8;  // kU8 or kS8
  bool quantize_src = false;          // the input arrives in fp32 and is quantised first
  float src_scale = 1.0f;             // x ~ src_scale * q
  float src_inv_scale = 1.0f;         // the quantiser's multiplier
  std::vector<int8_t> weight;         // [out, in]
  std::vector<float> weight_scale;    // [out]
  std::vector<float> bias;            // [out], accumulator units
  std::vector<float> output_scale;    // [out]
  ElementType dst_type = ElementType::kFp32;
};

struct QuantizedMlp {
  std::vector<QuantizedLayer> layers;
  int in() const { return layers.front().in; }
  int out() const { return layers.back().out; }
};

// Throws dlrm::Error when the layers are malformed (check_layers) or the ranges
// do not fit them (check_ranges).
QuantizedMlp quantize_mlp(const std::vector<Layer>& layers, const ActivationRanges& ranges,
                          const MlpInt8Options& options = {});

// What mlp_int8_forward_ref computed, per layer, for tests that derive error
// bounds. Every vector is row-major over the batch.
struct MlpInt8Trace {
  struct Step {
    std::vector<float> src;         // fp32 input (fp32 layers, quantising int8 layers)
    std::vector<float> scaled_src;  // quantising int8 layers: x * src_inv_scale before rounding
    std::vector<int32_t> codes;     // int8 layers: input codes
    std::vector<int32_t> acc;       // int8 layers: accumulators [batch, out]
    std::vector<float> pre;         // int8 layers: z before the activation [batch, out]
  };
  std::vector<Step> layers;
};

void mlp_int8_forward_ref(const QuantizedMlp& mlp, const float* src, int batch, float* dst,
                          MlpInt8Trace* trace = nullptr);

class MlpInt8 {
 public:
  MlpInt8(const std::vector<Layer>& layers, const ActivationRanges& ranges, const MlpInt8Options& options = {});
  explicit MlpInt8(QuantizedMlp quantized);
  ~MlpInt8();
  MlpInt8(MlpInt8&&) noexcept;
  MlpInt8& operator=(MlpInt8&&) noexcept;

  // src [batch, in()] fp32 row-major, dst [batch, out()] fp32 row-major.
  void forward(const float* src, int batch, float* dst);
  // Builds (and caches) the primitives for `batch` ahead of the first forward().
  void prepare(int batch);
  int in() const;
  int out() const;
  const QuantizedMlp& quantized() const;
  // oneDNN's implementation name per primitive of the plan for `batch`
  // (e.g. "quantize 0: jit:uni", "layer 0: brgemm:avx512_core_vnni"); builds it.
  std::vector<std::string> implementations(int batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dlrm::dense
