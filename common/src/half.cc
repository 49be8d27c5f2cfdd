#include "dlrm/common/half.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

namespace dlrm {

namespace {

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

float float_of(uint32_t b) {
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}

uint16_t bf16_of(float x) {
  uint32_t b = bits_of(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x40);  // quiet NaN
  b += 0x7fffu + ((b >> 16) & 1u);                                                       // nearest even
  return static_cast<uint16_t>(b >> 16);
}

// IEEE binary16 with round to nearest even, by integer arithmetic.
uint16_t fp16_of(float x) {
  uint32_t b = bits_of(x);
  const uint16_t sign = static_cast<uint16_t>((b >> 16) & 0x8000u);
  const uint32_t abs = b & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;        // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;      // rounds to infinity (>= 65520)
  if (abs < 0x38800000u) {                            // subnormal fp16 or zero (< 2^-14)
    // value = abs as float; fp16 subnormal unit is 2^-24.
    float scaled = float_of(abs) * 16777216.0f;       // exact: multiply by 2^24
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));  // round-half-even (default mode)
  }
  uint32_t mant = abs + 0xfffu + ((abs >> 13) & 1u);  // round the 13 dropped bits, nearest even
  return sign | static_cast<uint16_t>((mant - 0x38000000u) >> 13);
}

float from_fp16_bits(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) return float_of(sign) + (sign ? -1.0f : 1.0f) * static_cast<float>(mant) * 0x1p-24f;
  if (exp == 31) return float_of(sign | 0x7f800000u | (mant << 13));
  return float_of(sign | ((exp + 112) << 23) | (mant << 13));
}

}  // namespace

void to_half_ref(HalfType type, const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = type == HalfType::kBf16 ? bf16_of(src[i]) : fp16_of(src[i]);
}

void from_half_ref(HalfType type, const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = type == HalfType::kBf16 ? float_of(static_cast<uint32_t>(src[i]) << 16) : from_fp16_bits(src[i]);
  }
}

void to_half(HalfType type, const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  if (type == HalfType::kFp16) {
    for (; i + 16 <= n; i += 16) {
      __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
    }
  }
#endif
  if (type == HalfType::kBf16) {
    for (; i < n; ++i) dst[i] = bf16_of(src[i]);  // branch-light: the compiler vectorises it
    return;
  }
  to_half_ref(type, src + i, dst + i, n - i);
}

void from_half(HalfType type, const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  if (type == HalfType::kBf16) {
    for (; i < n; ++i) dst[i] = float_of(static_cast<uint32_t>(src[i]) << 16);
    return;
  }
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
  }
#endif
  from_half_ref(type, src + i, dst + i, n - i);
}

}  // namespace dlrm
