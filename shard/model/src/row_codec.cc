// Row encoders and decoders of the storage types (the row-layout table and
// the error bounds are in row_codec.h; their derivation in docs/quantization.md).
//
// encode_rows (AVX-512) and encode_rows_ref (scalar) perform the same IEEE
// operations (min/max, subtract, divide, round half even, clamp) per element,
// so they write the same bytes; min and max have their zero signs canonicalised
// (+0.0f) so that the order of the reduction cannot show.
#include "dlrm/model/row_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "dlrm/common/error.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__F16C__)
#define DLRM_QUANTIZE_AVX512 1
// GCC 12 warns (falsely) about the _mm512_undefined_* inside conversion
// intrinsics; the pragma must precede the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace dlrm::model {

ElementType parse_storage_type(const std::string& name) {
  return parse_element_type(name, kStorageTypes, "storage type");
}

namespace {
constexpr ElementType kStorageCodes[] = {ElementType::kFp32, ElementType::kFp16, ElementType::kInt8, ElementType::kInt4};
}  // namespace

uint32_t storage_code(ElementType type) {
  for (uint32_t code = 0; code < std::size(kStorageCodes); ++code) {
    if (kStorageCodes[code] == type) return code;
  }
  DLRM_FAIL("{} is not a storage type of embedding rows; choose {}", to_string(type), kStorageTypes.names());
}

std::optional<ElementType> storage_type_of_code(uint32_t code) {
  if (code < std::size(kStorageCodes)) return kStorageCodes[code];
  return std::nullopt;
}

uint64_t row_bytes(ElementType type, int cols) {
  const auto n = static_cast<uint64_t>(cols);
  switch (type) {
    case ElementType::kFp32: return 4 * n;
    case ElementType::kFp16: return 2 * n;
    case ElementType::kInt8: return n + 8;
    case ElementType::kInt4: return (n + 1) / 2 + 4;
    default: break;
  }
  DLRM_ASSERT(false);
  return 0;
}

uint64_t row_stride(ElementType type, int cols) {
  const uint64_t align = type == ElementType::kFp32 ? 64 : 4;
  return (row_bytes(type, cols) + align - 1) / align * align;
}


namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Neighbours of a finite fp16 value towards +inf / -inf.
uint16_t fp16_next_up(uint16_t h) {
  if ((h & 0x7fffu) == 0) return 0x0001;  // +-0 -> smallest positive subnormal
  return (h & 0x8000u) ? static_cast<uint16_t>(h - 1) : static_cast<uint16_t>(h + 1);
}
uint16_t fp16_next_down(uint16_t h) {
  if ((h & 0x7fffu) == 0) return 0x8001;
  return (h & 0x8000u) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h - 1);
}

// The largest fp16 value <= x (x finite; -inf below -65504).
uint16_t fp16_round_down(float x) {
  uint16_t h = fp16_from_float(x);
  if ((h & 0x7c00u) == 0x7c00u) return (x < 0) ? uint16_t{0xfc00} : uint16_t{0x7bff};
  if (fp16_to_float(h) > x) h = fp16_next_down(h);
  return h;
}

inline void store_f32(uint8_t* dst, float v) { std::memcpy(dst, &v, sizeof v); }
inline void store_u16(uint8_t* dst, uint16_t v) { std::memcpy(dst, &v, sizeof v); }
inline float load_f32(const uint8_t* src) {
  float v;
  std::memcpy(&v, src, sizeof v);
  return v;
}
inline uint16_t load_u16(const uint8_t* src) {
  uint16_t v;
  std::memcpy(&v, src, sizeof v);
  return v;
}

// Scale and bias of one quantized row, from its (finite) min and max.
struct RowParams {
  float scale = 0.0f;  // as decode uses them
  float bias = 0.0f;
  uint16_t scale_h = 0, bias_h = 0;  // int4: the stored fp16 bits
  const char* error = nullptr;       // why the row cannot be stored
};

RowParams row_params(ElementType type, float min, float max) {
  RowParams p;
  min += 0.0f;  // -0 -> +0: the bytes must not depend on the reduction order
  max += 0.0f;
  if (type == ElementType::kInt8) {
    const float range = max - min;
    if (!std::isfinite(range)) {
      p.error = "max - min of the row overflows fp32";
      return p;
    }
    p.scale = range / 255.0f;
    p.bias = min;
    return p;
  }
  // int4: bias rounded down and scale rounded up to fp16, so that
  // [bias, bias + 15 scale] covers [min, max] with the values decode uses.
  p.bias_h = fp16_round_down(min);
  p.bias = fp16_to_float(p.bias_h);
  if (!std::isfinite(p.bias)) {
    p.error = "its minimum is below the fp16 range (-65504) of the int4 bias";
    return p;
  }
  const double target = (static_cast<double>(max) - p.bias) / 15.0;
  p.scale_h = fp16_from_float(static_cast<float>(target));
  while ((p.scale_h & 0x7c00u) != 0x7c00u && 15.0 * fp16_to_float(p.scale_h) + p.bias < max) {
    p.scale_h = fp16_next_up(p.scale_h);
  }
  p.scale = fp16_to_float(p.scale_h);
  if (!std::isfinite(p.scale)) {
    p.error = "(max - min) / 15 is outside the fp16 range (65504) of the int4 scale";
  }
  return p;
}

inline uint32_t quantize_ref(float x, const RowParams& p, float levels) {
  if (p.scale == 0.0f) return 0;
  float t = std::nearbyint((x - p.bias) / p.scale);  // default rounding mode: half to even
  t = std::min(std::max(t, 0.0f), levels);
  return static_cast<uint32_t>(t);
}

void write_scale_bias(ElementType type, const RowParams& p, int cols, uint8_t* dst) {
  uint8_t* at = dst + scale_offset(type, cols);
  if (type == ElementType::kInt8) {
    store_f32(at, p.scale);
    store_f32(at + 4, p.bias);
  } else {
    store_u16(at, p.scale_h);
    store_u16(at + 2, p.bias_h);
  }
}

// Encodes one row; returns why it cannot be stored (nullptr when it was).
// dst has row_stride(type, cols) bytes, all zero on entry.
const char* encode_row_ref(ElementType type, const float* x, int cols, uint8_t* dst) {
  if (type == ElementType::kFp32) {
    std::memcpy(dst, x, sizeof(float) * static_cast<size_t>(cols));
    return nullptr;
  }
  if (type == ElementType::kFp16) {
    for (int c = 0; c < cols; ++c) {
      const uint16_t h = fp16_from_float(x[c]);
      if ((h & 0x7c00u) == 0x7c00u) return "it holds a NaN, an infinity or a value outside the fp16 range (+-65504)";
      store_u16(dst + 2 * c, h);
    }
    return nullptr;
  }
  float min = kInf, max = -kInf;
  for (int c = 0; c < cols; ++c) {
    if (!std::isfinite(x[c])) return "it holds a NaN or an infinity";
    min = std::min(min, x[c]);
    max = std::max(max, x[c]);
  }
  const RowParams p = row_params(type, min, max);
  if (p.error != nullptr) return p.error;
  if (type == ElementType::kInt8) {
    for (int c = 0; c < cols; ++c) dst[c] = static_cast<uint8_t>(quantize_ref(x[c], p, 255.0f));
  } else {
    for (int c = 0; c < cols; ++c) dst[c / 2] |= static_cast<uint8_t>(quantize_ref(x[c], p, 15.0f) << (4 * (c & 1)));
  }
  write_scale_bias(type, p, cols, dst);
  return nullptr;
}

#if defined(DLRM_QUANTIZE_AVX512)

inline __mmask16 lane_mask(int n) { return n >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << n) - 1u); }

// Codes of x[c0 .. c0 + n) as 16 int32 lanes (lanes >= n: 0), the same arithmetic as quantize_ref.
inline __m512i quantize_16(const float* x, int n, const RowParams& p, float levels) {
  const __mmask16 m = lane_mask(n);
  if (p.scale == 0.0f) return _mm512_setzero_si512();
  __m512 t = _mm512_div_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x), _mm512_set1_ps(p.bias)), _mm512_set1_ps(p.scale));
  t = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  t = _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(levels));
  return _mm512_maskz_cvttps_epi32(m, t);
}

const char* encode_row_avx512(ElementType type, const float* x, int cols, uint8_t* dst) {
  if (type == ElementType::kFp32) return encode_row_ref(type, x, cols, dst);
  if (type == ElementType::kFp16) {
    const __m256i exponent = _mm256_set1_epi16(0x7c00);
    for (int c = 0; c < cols; c += 16) {
      const __mmask16 m = lane_mask(cols - c);
      const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + c), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      if (_mm256_mask_cmpeq_epi16_mask(m, _mm256_and_si256(h, exponent), exponent) != 0) {
        return encode_row_ref(type, x, cols, dst);  // names the reason
      }
      _mm256_mask_storeu_epi16(dst + 2 * c, m, h);
    }
    return nullptr;
  }
  __m512 vmin = _mm512_set1_ps(kInf), vmax = _mm512_set1_ps(-kInf);
  __mmask16 not_finite = 0;
  for (int c = 0; c < cols; c += 16) {
    const __mmask16 m = lane_mask(cols - c);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + c);
    // |v| not less than inf (or unordered): an infinity or NaN
    not_finite |= _mm512_mask_cmp_ps_mask(m, _mm512_abs_ps(v), _mm512_set1_ps(kInf), _CMP_NLT_UQ);
    vmin = _mm512_mask_min_ps(vmin, m, vmin, v);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, v);
  }
  if (not_finite != 0) return encode_row_ref(type, x, cols, dst);
  const RowParams p = row_params(type, _mm512_reduce_min_ps(vmin), _mm512_reduce_max_ps(vmax));
  if (p.error != nullptr) return p.error;
  if (type == ElementType::kInt8) {
    for (int c = 0; c < cols; c += 16) {
      const int n = std::min(16, cols - c);
      _mm512_mask_cvtepi32_storeu_epi8(dst + c, lane_mask(n), quantize_16(x + c, n, p, 255.0f));
    }
  } else {
    for (int c = 0; c < cols; c += 16) {
      const int n = std::min(16, cols - c);
      // 16 codes as bytes -> 8 u16 lanes (odd code << 8 | even code) -> even | odd << 4.
      const __m128i bytes = _mm512_cvtepi32_epi8(quantize_16(x + c, n, p, 15.0f));
      const __m128i packed16 = _mm_or_si128(_mm_and_si128(bytes, _mm_set1_epi16(0x00ff)),
                                            _mm_srli_epi16(bytes, 4));  // low byte: even | odd << 4
      const __m128i packed = _mm_packus_epi16(_mm_and_si128(packed16, _mm_set1_epi16(0x00ff)), _mm_setzero_si128());
      _mm_mask_storeu_epi8(dst + c / 2, static_cast<__mmask16>((1u << ((n + 1) / 2)) - 1u), packed);
    }
  }
  write_scale_bias(type, p, cols, dst);
  return nullptr;
}

#endif

using RowEncoder = const char* (*)(ElementType, const float*, int, uint8_t*);

EncodeResult encode_with(RowEncoder encode_row, ElementType type, const float* src, int64_t rows, int cols,
                         uint8_t* dst) {
  DLRM_CHECK(cols > 0 && rows >= 0, "encode_rows: {} rows of {} columns", rows, cols);
  DLRM_CHECK(model::kStorageTypes.contains(type), "encode_rows: {} is not a storage type", to_string(type));
  const uint64_t stride = row_stride(type, cols);
  EncodeResult result;
  std::memset(dst, 0, static_cast<size_t>(stride * static_cast<uint64_t>(rows)));
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = dst + static_cast<uint64_t>(r) * stride;
    const char* error = encode_row(type, src + r * cols, cols, row);
    if (error == nullptr) continue;
    std::memset(row, 0, stride);
    if (result.bad_rows++ == 0) {
      result.first_bad = r;
      result.reason = error;
    }
  }
  return result;
}

}  // namespace

EncodeResult encode_rows(ElementType type, const float* src, int64_t rows, int cols, uint8_t* dst) {
#if defined(DLRM_QUANTIZE_AVX512)
  return encode_with(encode_row_avx512, type, src, rows, cols, dst);
#else
  return encode_with(encode_row_ref, type, src, rows, cols, dst);
#endif
}

EncodeResult encode_rows_ref(ElementType type, const float* src, int64_t rows, int cols, uint8_t* dst) {
  return encode_with(encode_row_ref, type, src, rows, cols, dst);
}

RowScale row_scale(ElementType type, const uint8_t* src, int cols) {
  const uint8_t* at = src + scale_offset(type, cols);
  switch (type) {
    case ElementType::kInt8: return {load_f32(at), load_f32(at + 4)};
    case ElementType::kInt4: return {fp16_to_float(load_u16(at)), fp16_to_float(load_u16(at + 2))};
    default: return {};
  }
}

void decode_row(ElementType type, const uint8_t* src, int cols, float* dst) {
  switch (type) {
    case ElementType::kFp32:
      std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(cols));
      return;
    case ElementType::kFp16:
      for (int c = 0; c < cols; ++c) dst[c] = fp16_to_float(load_u16(src + 2 * c));
      return;
    case ElementType::kInt8: {
      const RowScale p = row_scale(type, src, cols);
      for (int c = 0; c < cols; ++c) dst[c] = std::fmaf(static_cast<float>(src[c]), p.scale, p.bias);
      return;
    }
    case ElementType::kInt4: {
      const RowScale p = row_scale(type, src, cols);
      for (int c = 0; c < cols; ++c) {
        const int code = (src[c / 2] >> (4 * (c & 1))) & 0xf;
        dst[c] = std::fmaf(static_cast<float>(code), p.scale, p.bias);
      }
      return;
    }
    default: break;
  }
  DLRM_FAIL("decode_row: {} is not a storage type", to_string(type));
}

}  // namespace dlrm::model
