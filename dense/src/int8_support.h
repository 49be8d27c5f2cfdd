// Private to dense/: what the int8 MLP (mlp_int8.cc) and the int8 cross
// network (cross_net_int8.cc) share.
//   to_code / code_name / dnnl_type   u8 and s8 codes in scalar code and oneDNN
//   InputScale / input_scale          a calibrated range as the quantiser's
//                                     code type and scales (mlp_int8.h)
//   QuantizedRows / quantize_rows     an [out, in] matrix as s8 codes with
//                                     per-row scales, bias in accumulator units
//                                     and output scales (mlp_int8.h's formulas)
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "dlrm/common/element_type.h"
#include "dlrm/common/error.h"
#include "dlrm/dense/calibration.h"

namespace dlrm::dense {

inline float code_min(ElementType t) { return t == ElementType::kInt8 ? -128.0f : 0.0f; }
inline float code_max(ElementType t) { return static_cast<float>(code_levels(t == ElementType::kInt8)); }

// sat(rne(v)); NaN maps to 0 (oneDNN's conversion gives the "integer
// indefinite" value then saturates; NaN cannot arise from finite input).
inline int32_t to_code(float v, ElementType t) {
  if (std::isnan(v)) return 0;
  v = std::min(std::max(v, code_min(t)), code_max(t));
  return static_cast<int32_t>(std::nearbyint(v));
}

inline const char* code_name(ElementType t) {
  switch (t) {
    case ElementType::kFp32: return "f32";
    case ElementType::kUint8: return "u8";
    case ElementType::kInt8: return "s8";
    default: return "?";
  }
}

inline dnnl::memory::data_type dnnl_type(ElementType t) {
  switch (t) {
    case ElementType::kFp32: return dnnl::memory::data_type::f32;
    case ElementType::kUint8: return dnnl::memory::data_type::u8;
    case ElementType::kInt8: return dnnl::memory::data_type::s8;
    default: return dnnl::memory::data_type::undef;
  }
}

// How one calibrated input is quantised: u8 codes when it was never seen
// negative, s8 otherwise; scale = clip / levels (the clip, or abs_max when the
// clip is 0, or 1 when the input was always zero), inv_scale = levels / clip.
struct InputScale {
  ElementType type = ElementType::kUint8;
  float scale = 1.0f;
  float inv_scale = 1.0f;
};

inline InputScale input_scale(const LayerInputRange& range, const std::string& what) {
  InputScale s;
  s.type = range.is_signed() ? ElementType::kInt8 : ElementType::kUint8;
  const double clip = range.clip > 0.0f ? range.clip : (range.abs_max > 0.0f ? range.abs_max : 1.0);
  const double levels = code_levels(range.is_signed());
  s.scale = static_cast<float>(clip / levels);
  s.inv_scale = static_cast<float>(levels / clip);
  DLRM_CHECK(std::isnormal(s.scale) && std::isnormal(s.inv_scale),
             "{}: the calibrated input range {} gives an unusable scale; calibrate again", what, clip);
  return s;
}

struct QuantizedRows {
  std::vector<int8_t> weight;        // [out, in]
  std::vector<float> weight_scale;   // [out]
  std::vector<float> bias;           // [out], accumulator units
  std::vector<float> output_scale;   // [out]
};

// For y = x W^T + b (W [out, in] row-major, bias [out] or empty for none),
// with the input quantised at src_scale and the output written at dst_scale
// (1 for fp32):
//   s_w[o] = max_i |W[o][i]| / 127, Wq[o][i] = rne(W[o][i] / s_w[o]) in [-127, 127]
//   bq[o]  = (b[o] - c[o]) / (src_scale s_w[o]),
//            c[o] = sum_i (s_w[o] Wq[o][i] - W[o][i]) mean[i] when `mean` is given, else 0
//   os[o]  = src_scale s_w[o] / dst_scale
// Throws naming `what` on non-finite weights or a bias that overflows.
inline QuantizedRows quantize_rows(const float* weight, int out, int in, const std::vector<float>& bias,
                                   double src_scale, double dst_scale, const std::vector<float>* mean,
                                   const std::string& what) {
  QuantizedRows q;
  q.weight.resize(static_cast<size_t>(out) * in);
  q.weight_scale.resize(out);
  q.bias.resize(out);
  q.output_scale.resize(out);
  for (int o = 0; o < out; ++o) {
    const float* w = weight + static_cast<size_t>(o) * in;
    float wmax = 0.0f;
    for (int i = 0; i < in; ++i) wmax = std::max(wmax, std::fabs(w[i]));
    DLRM_CHECK(std::isfinite(wmax), "{}: output {} has a non-finite weight", what, o);
    float ws = wmax > 0.0f ? static_cast<float>(wmax / 127.0) : 1.0f;
    if (!std::isnormal(ws)) ws = 1.0f;  // subnormal weights: quantise to zero
    q.weight_scale[o] = ws;
    int8_t* wq = q.weight.data() + static_cast<size_t>(o) * in;
    for (int i = 0; i < in; ++i) {
      double v = std::nearbyint(static_cast<double>(w[i]) / ws);
      wq[i] = static_cast<int8_t>(std::clamp(v, -127.0, 127.0));
    }
    // Bias correction: the rounded weights shift the output's mean by
    // sum_i (s_w Wq[o][i] - W[o][i]) E[x_i]; take that out of the bias.
    double shift = 0.0;
    if (mean != nullptr) {
      for (int i = 0; i < in; ++i) {
        shift += (static_cast<double>(ws) * wq[i] - static_cast<double>(w[i])) * (*mean)[i];
      }
    }
    const double b = bias.empty() ? 0.0 : static_cast<double>(bias[o]);
    const double acc_unit = src_scale * ws;
    q.bias[o] = static_cast<float>((b - shift) / acc_unit);
    q.output_scale[o] = static_cast<float>(acc_unit / dst_scale);
    DLRM_CHECK(std::isfinite(q.bias[o]), "{}: bias {} of output {} overflows once quantised", what, b, o);
  }
  return q;
}

}  // namespace dlrm::dense
