// Bulk conversion between fp32 and the 16-bit float formats, for pooled
// embeddings crossing the network.
//   to_fp16 / to_bf16   round to nearest even (NaN stays NaN)
//   from_fp16 / from_bf16  exact
// The _ref twins convert one value at a time with plain bit arithmetic.
#pragma once

#include <cstdint>

namespace dlrm {

enum class HalfType { kFp16, kBf16 };

void to_half(HalfType type, const float* src, uint16_t* dst, int64_t n);
void from_half(HalfType type, const uint16_t* src, float* dst, int64_t n);
void to_half_ref(HalfType type, const float* src, uint16_t* dst, int64_t n);
void from_half_ref(HalfType type, const uint16_t* src, float* dst, int64_t n);

}  // namespace dlrm
