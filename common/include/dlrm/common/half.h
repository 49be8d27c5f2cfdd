// Conversion between fp32 and the 16-bit float formats: one value at a time
// (the one home of these conversions), and in bulk for pooled embeddings
// crossing the network.
//   fp16_from_float / bf16_from_float, to_fp16 / to_bf16   round to nearest even;
//       NaN stays NaN: quiet, with the top payload bits kept, as vcvtps2ph does
//       (fp16: sign | 0x7c00 | 0x200 | mantissa >> 13), so the bulk
//       conversion encodes a NaN the same wherever it stands in the array
//   fp16_to_float / bf16_to_float, from_fp16 / from_bf16   exact
// The _ref twins convert one value at a time with plain bit arithmetic.
#pragma once

#include <bit>
#include <cstdint>

#include "dlrm/common/element_type.h"

namespace dlrm {

inline float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in fp32
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// IEEE binary16, round to nearest even, by integer arithmetic (independent of
// the floating-point rounding mode).
inline uint16_t fp16_from_float(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) {  // NaN: quiet, keep the top payload bits
    return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  // 65520 (halfway between 65504 and 2^16) and above round to infinity (ties to even).
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (magnitude < 0x38800000u) {  // below 2^-14: an fp16 subnormal (units of 2^-24) or zero
    if (magnitude <= 0x33000000u) return sign;  // <= 2^-25 rounds to zero (2^-25 is a tie, to even)
    const uint32_t exponent = magnitude >> 23;  // 102 .. 112
    const uint32_t significand = (magnitude & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // 14 .. 24
    uint32_t q = significand >> shift;
    const uint32_t rest = significand & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (q & 1u))) ++q;  // q == 0x400 is the smallest normal: right
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = (magnitude - 0x38000000u) >> 13;  // rebias the exponent 127 -> 15, keep 10 mantissa bits
  const uint32_t rest = magnitude & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is right too
  return static_cast<uint16_t>(sign | h);
}

inline float bf16_to_float(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

inline uint16_t bf16_from_float(float x) {
  uint32_t b = std::bit_cast<uint32_t>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x40);  // quiet NaN
  b += 0x7fffu + ((b >> 16) & 1u);                                                       // nearest even
  return static_cast<uint16_t>(b >> 16);
}

// type: ElementType::kFp16 or kBf16 (kHalfTypes).
void to_half(ElementType type, const float* src, uint16_t* dst, int64_t n);
void from_half(ElementType type, const uint16_t* src, float* dst, int64_t n);
void to_half_ref(ElementType type, const float* src, uint16_t* dst, int64_t n);
void from_half_ref(ElementType type, const uint16_t* src, float* dst, int64_t n);

}  // namespace dlrm
