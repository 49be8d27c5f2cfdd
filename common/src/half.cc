#include "dlrm/common/half.h"

// GCC 12 reports the intentionally undefined pass-through operand inside the
// AVX-512 conversion intrinsics (its self-initialised __Y) as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace dlrm {

void to_half_ref(ElementType type, const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = type == ElementType::kBf16 ? bf16_from_float(src[i]) : fp16_from_float(src[i]);
}

void from_half_ref(ElementType type, const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = type == ElementType::kBf16 ? bf16_to_float(src[i]) : fp16_to_float(src[i]);
  }
}

void to_half(ElementType type, const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  if (type == ElementType::kFp16) {
    for (; i + 16 <= n; i += 16) {
      __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
    }
  }
#endif
  if (type == ElementType::kBf16) {
#if defined(__AVX512BF16__)
    // VCVTNE2PS2BF16 rounds to nearest even and quiets a NaN keeping its top
    // bits, as bf16_from_float does, but reads denormal inputs as zero: 32
    // values at a time where none is denormal, else those 32 one at a time.
    // 1.6-1.9x faster than the loop below alone (a sample's 27 x 128 values:
    // 110 against 175-220 ns on AMD Zen 5).
    const __m512i exponent = _mm512_set1_epi32(0x7f800000), mantissa = _mm512_set1_epi32(0x007fffff);
    auto denormals = [&](__m512 v) {
      const __m512i bits = _mm512_castps_si512(v);
      return static_cast<__mmask16>(_mm512_testn_epi32_mask(bits, exponent) & _mm512_test_epi32_mask(bits, mantissa));
    };
    for (; i + 32 <= n; i += 32) {
      const __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
      if ((denormals(lo) | denormals(hi)) != 0) {
        for (int k = 0; k < 32; ++k) dst[i + k] = bf16_from_float(src[i + k]);
        continue;
      }
      _mm512_storeu_si512(dst + i, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
    }
#endif
    for (; i < n; ++i) dst[i] = bf16_from_float(src[i]);  // branch-light: the compiler vectorises it
    return;
  }
  to_half_ref(type, src + i, dst + i, n - i);
}

void from_half(ElementType type, const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  if (type == ElementType::kBf16) {
    for (; i < n; ++i) dst[i] = bf16_to_float(src[i]);
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
