// Embedding-bag kernels (see embedding_bag.h): one sum kernel and one gather
// kernel, templated over a row decoder per storage type (fp32, fp16, int8,
// int4). With AVX-512 a bag's output columns are held in registers in chunks
// of up to 128 while its rows are decoded and added in index order; without
// it each row is decoded to fp32 and added by a scalar loop. Either way every
// column sees the additions of the _ref twins, in the same order. Design and
// measurements: docs/performance.md, "Embedding-bag kernels".
#include "dlrm/shard/embedding_bag.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__F16C__)
#define DLRM_EMBEDDING_AVX512 1
// GCC 12 warns (falsely) about the _mm512_undefined_* inside the vcvtph2ps,
// vcvtdq2ps and vpmovzxbd intrinsics; the pragma must precede the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif
#include <xmmintrin.h>

#include "dlrm/common/error.h"
#include "dlrm/model/row_codec.h"

namespace dlrm::shard {

namespace {

#if defined(DLRM_EMBEDDING_AVX512)
constexpr bool kAvx512 = true;
#else
constexpr bool kAvx512 = false;
#endif

void check_view(const model::RowsView& src, const char* what) {
  DLRM_CHECK(model::kStorageTypes.contains(src.type),
             "{}: storage type {} not supported by this build: not one of fp32, fp16, int8, int4 (an internal error; "
             "shard files are checked when opened)",
             what, to_string(src.type));
  DLRM_CHECK(src.cols >= 0 && src.num_rows >= 0, "{}: invalid rows view ({} rows of {} columns)", what,
             src.num_rows, src.cols);
  DLRM_CHECK(src.stride >= model::row_bytes(src.type, src.cols), "{}: row stride {} bytes is too small for {} {} columns",
             what, src.stride, src.cols, to_string(src.type));
  DLRM_CHECK(src.rows != nullptr || src.num_rows == 0, "{}: rows view has {} rows but no data", what,
             src.num_rows);
}

void check_dst(const model::RowsView& src, int64_t dst_stride, int n, const char* what) {
  DLRM_CHECK(n >= 0, "{}: batch must be non-negative, got {}", what, n);
  DLRM_CHECK(dst_stride >= src.cols, "{}: dst_stride {} is smaller than the {} columns of a row", what,
             dst_stride, src.cols);
}

inline bool in_range(const model::RowsView& src, int32_t index) { return index >= 0 && index < src.num_rows; }

inline const uint8_t* stored_row(const model::RowsView& src, int32_t index) {
  return src.rows + static_cast<uint64_t>(index) * src.stride;
}

// Prefetch policies for a stored row of `bytes` bytes at p. always_inline:
// GCC 12 at -O2 and above (its IPA mod/ref analysis) finds a function that only
// prefetches free of side effects and deletes the calls (check: objdump -d
// embedding_bag.cc.o | grep -c prefetcht0).
// The lines from p on: for rows that start on a cache line.
[[gnu::always_inline]] inline void prefetch_lines_from(const uint8_t* p, uint64_t bytes) {
  for (uint64_t at = 0; at < bytes; at += 64) _mm_prefetch(reinterpret_cast<const char*>(p + at), _MM_HINT_T0);
}

// Every line that [p, p + bytes) touches: for rows at any alignment.
[[gnu::always_inline]] inline void prefetch_lines_touched(const uint8_t* p, uint64_t bytes) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  for (uintptr_t line = begin & ~uintptr_t{63}; line < begin + bytes; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
}

// Row decoders, one per storage type. Each has
//   kPrefetchDistance       rows prefetched ahead of the one being read
//   prefetch(p, bytes)      prefetches the stored row at p (bytes = row_bytes(type, cols))
//   kInPlace                values() returns the stored row itself (needs no scratch)
//   values(p, cols, tmp)    the row as cols fp32 values, decoded into tmp unless kInPlace
// and with AVX-512
//   Row row(p, cols, c0)    the stored row at p from column c0 on (a multiple of 16), its scale
//                           and bias read once
//   full(row, c)            columns [c0 + c, c0 + c + 16) as fp32 (c a multiple of 16)
//   tail(row, c, mask)      the same in the lanes of mask, a prefix; the others hold junk never stored
// Each gives exactly model::decode_row's values: fp32 as stored, fp16
// converted exactly, int8/int4 fmaf(code, scale, bias).
struct Fp32Rows {
  static constexpr int kPrefetchDistance = 8;
  [[gnu::always_inline]] static void prefetch(const uint8_t* p, uint64_t bytes) { prefetch_lines_from(p, bytes); }
  static constexpr bool kInPlace = true;
  static const float* values(const uint8_t* p, int, float*) { return reinterpret_cast<const float*>(p); }
#if defined(DLRM_EMBEDDING_AVX512)
  struct Row {
    const float* values;
  };
  static Row row(const uint8_t* p, int, int c0) { return {reinterpret_cast<const float*>(p) + c0}; }
  static __m512 full(const Row& r, int c) { return _mm512_loadu_ps(r.values + c); }
  static __m512 tail(const Row& r, int c, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, r.values + c); }
#endif
};

// What the fp16, int8 and int4 decoders share: rows are not line aligned.
template <ElementType kType>
struct PackedRows {
  static constexpr int kPrefetchDistance = 32;
  [[gnu::always_inline]] static void prefetch(const uint8_t* p, uint64_t bytes) { prefetch_lines_touched(p, bytes); }
  static constexpr bool kInPlace = false;
  static const float* values(const uint8_t* p, int cols, float* tmp) {
    model::decode_row(kType, p, cols, tmp);
    return tmp;
  }
};

struct Fp16Rows : PackedRows<ElementType::kFp16> {
#if defined(DLRM_EMBEDDING_AVX512)
  struct Row {
    const uint8_t* codes;
  };
  static Row row(const uint8_t* p, int, int c0) { return {p + 2 * c0}; }
  static __m512 full(const Row& r, int c) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r.codes + 2 * c)));
  }
  static __m512 tail(const Row& r, int c, __mmask16 mask) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, r.codes + 2 * c));
  }
#endif
};

#if defined(DLRM_EMBEDDING_AVX512)
// A quantized row: its codes, scale and bias broadcast.
struct ScaledRow {
  const uint8_t* codes;
  __m512 scale, bias;
};

// 16 codes (bytes) in column order -> fmaf(code, scale, bias).
inline __m512 dequantize(const ScaledRow& r, __m128i codes) {
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(codes)), r.scale, r.bias);
}
#endif

struct Int8Rows : PackedRows<ElementType::kInt8> {
#if defined(DLRM_EMBEDDING_AVX512)
  using Row = ScaledRow;
  static Row row(const uint8_t* p, int cols, int c0) {
    float scale_bias[2];
    std::memcpy(scale_bias, p + cols, sizeof scale_bias);
    return {p + c0, _mm512_set1_ps(scale_bias[0]), _mm512_set1_ps(scale_bias[1])};
  }
  static __m512 full(const Row& r, int c) {
    return dequantize(r, _mm_loadu_si128(reinterpret_cast<const __m128i*>(r.codes + c)));
  }
  static __m512 tail(const Row& r, int c, __mmask16 mask) {
    return dequantize(r, _mm_maskz_loadu_epi8(mask, r.codes + c));
  }
#endif
};

struct Int4Rows : PackedRows<ElementType::kInt4> {
#if defined(DLRM_EMBEDDING_AVX512)
  using Row = ScaledRow;
  static Row row(const uint8_t* p, int cols, int c0) {
    uint16_t scale_bias[2];
    std::memcpy(scale_bias, p + (cols + 1) / 2, sizeof scale_bias);
    return {p + c0 / 2, _mm512_set1_ps(_cvtsh_ss(scale_bias[0])), _mm512_set1_ps(_cvtsh_ss(scale_bias[1]))};
  }
  // 8 bytes of nibbles (low 64 bits) -> 16 codes in column order (low nibble first).
  static __m512 unpack(const Row& r, __m128i bytes) {
    const __m128i low4 = _mm_set1_epi8(0x0f);
    const __m128i even = _mm_and_si128(bytes, low4);
    const __m128i odd = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
    return dequantize(r, _mm_unpacklo_epi8(even, odd));
  }
  static __m512 full(const Row& r, int c) {
    return unpack(r, _mm_loadl_epi64(reinterpret_cast<const __m128i*>(r.codes + c / 2)));
  }
  static __m512 tail(const Row& r, int c, __mmask16 mask) {
    const int bytes = (__builtin_popcount(mask) + 1) / 2;
    return unpack(r, _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << bytes) - 1u), r.codes + c / 2));
  }
#endif
};

// Calls kernel(Rows{}) with the decoder of `type` (one that check_view accepted).
template <class Kernel>
int64_t with_decoder(ElementType type, const Kernel& kernel) {
  switch (type) {
    case ElementType::kFp32: return kernel(Fp32Rows{});
    case ElementType::kFp16: return kernel(Fp16Rows{});
    case ElementType::kInt8: return kernel(Int8Rows{});
    case ElementType::kInt4: return kernel(Int4Rows{});
    default: break;
  }
  DLRM_ASSERT(false);
  return 0;
}

template <class Rows>
[[gnu::always_inline]] inline void prefetch_row(const model::RowsView& src, int32_t index, uint64_t bytes) {
  if (in_range(src, index)) Rows::prefetch(stored_row(src, index), bytes);
}

// Prefetches the rows of indices [begin, min(begin + kPrefetchDistance, end)) (always_inline: see above).
template <class Rows>
[[gnu::always_inline]] inline void prefetch_first(const model::RowsView& src, const int32_t* indices, int64_t begin,
                                                  int64_t end, uint64_t bytes) {
  for (int64_t k = begin; k < std::min(begin + Rows::kPrefetchDistance, end); ++k)
    prefetch_row<Rows>(src, indices[k], bytes);
}

#if defined(DLRM_EMBEDDING_AVX512)

// Sums columns [c0, c0 + 16 * (kVecs - 1) + popcount(tail)) of the rows of
// indices [k_begin, k_end) into dst; when bytes > 0 also prefetches the row
// kPrefetchDistance indices ahead (up to k_limit, across bags).
template <class Rows, int kVecs>
void sum_chunk(const model::RowsView& src, const int32_t* indices, int64_t k_begin, int64_t k_end, int64_t k_limit,
               int c0, __mmask16 tail, uint64_t bytes, float* dst) {
  __m512 acc[kVecs];
#pragma GCC unroll 8
  for (int v = 0; v < kVecs; ++v) acc[v] = _mm512_setzero_ps();
  for (int64_t k = k_begin; k < k_end; ++k) {
    if (bytes > 0 && k + Rows::kPrefetchDistance < k_limit)
      prefetch_row<Rows>(src, indices[k + Rows::kPrefetchDistance], bytes);
    const int32_t index = indices[k];
    if (!in_range(src, index)) continue;
    const typename Rows::Row row = Rows::row(stored_row(src, index), src.cols, c0);
#pragma GCC unroll 8
    for (int v = 0; v < kVecs - 1; ++v) acc[v] = _mm512_add_ps(acc[v], Rows::full(row, 16 * v));
    acc[kVecs - 1] = _mm512_add_ps(acc[kVecs - 1], Rows::tail(row, 16 * (kVecs - 1), tail));
  }
#pragma GCC unroll 8
  for (int v = 0; v < kVecs - 1; ++v) _mm512_storeu_ps(dst + 16 * v, acc[v]);
  _mm512_mask_storeu_ps(dst + 16 * (kVecs - 1), tail, acc[kVecs - 1]);
}

template <class Rows>
struct SumChunks {
  using Fn = void (*)(const model::RowsView&, const int32_t*, int64_t, int64_t, int64_t, int, __mmask16, uint64_t,
                      float*);
  static constexpr Fn kFn[8] = {sum_chunk<Rows, 1>, sum_chunk<Rows, 2>, sum_chunk<Rows, 3>, sum_chunk<Rows, 4>,
                                sum_chunk<Rows, 5>, sum_chunk<Rows, 6>, sum_chunk<Rows, 7>, sum_chunk<Rows, 8>};
};

// Lanes of the last vector of a chunk of `cols` columns: a prefix of 1..16.
inline __mmask16 tail_mask(int cols) {
  const int rem = cols - 16 * ((cols + 15) / 16 - 1);
  return static_cast<__mmask16>(rem == 16 ? 0xffffu : (1u << rem) - 1u);
}

#endif

// One bag: dst[0, cols) = sum of the rows of indices [k_begin, k_end),
// prefetching ahead up to k_limit.
template <class Rows>
void sum_bag(const model::RowsView& src, const int32_t* indices, int64_t k_begin, int64_t k_end, int64_t k_limit,
             uint64_t bytes, float* tmp, float* dst) {
#if defined(DLRM_EMBEDDING_AVX512)
  for (int c0 = 0; c0 < src.cols; c0 += 128) {
    const int chunk = std::min(128, src.cols - c0);
    SumChunks<Rows>::kFn[(chunk + 15) / 16 - 1](src, indices, k_begin, k_end, k_limit, c0, tail_mask(chunk),
                                                c0 == 0 ? bytes : 0, dst + c0);
  }
#else
  std::fill(dst, dst + src.cols, 0.0f);
  for (int64_t k = k_begin; k < k_end; ++k) {
    if (k + Rows::kPrefetchDistance < k_limit) prefetch_row<Rows>(src, indices[k + Rows::kPrefetchDistance], bytes);
    if (!in_range(src, indices[k])) continue;
    const float* values = Rows::values(stored_row(src, indices[k]), src.cols, tmp);
    for (int c = 0; c < src.cols; ++c) dst[c] += values[c];
  }
#endif
}

// Bags [b_begin, b_end); returns the out-of-range count.
template <class Rows>
int64_t bag_sum_range(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int b_begin,
                      int b_end, float* dst, int64_t dst_stride) {
  if (b_end <= b_begin) return 0;
  const uint64_t bytes = model::row_bytes(src.type, src.cols);
  const int64_t k_limit = offsets[b_end];
  prefetch_first<Rows>(src, indices, offsets[b_begin], k_limit, bytes);
  std::vector<float> tmp(kAvx512 || Rows::kInPlace ? 0 : static_cast<size_t>(src.cols));  // scalar decode
  int64_t bad = 0;
  for (int b = b_begin; b < b_end; ++b) {
    const int64_t k_begin = offsets[b];
    const int64_t k_end = std::max<int64_t>(k_begin, offsets[b + 1]);
    for (int64_t k = k_begin; k < k_end; ++k) bad += in_range(src, indices[k]) ? 0 : 1;
    sum_bag<Rows>(src, indices, k_begin, k_end, k_limit, bytes, tmp.data(), dst + static_cast<int64_t>(b) * dst_stride);
  }
  return bad;
}

// Indices [begin, end): dst row b = row(indices[b]), zeros if out of range; returns the out-of-range count.
template <class Rows>
int64_t gather_range(const model::RowsView& src, const int32_t* indices, int begin, int end, float* dst,
                     int64_t dst_stride) {
  const int cols = src.cols;
  const uint64_t bytes = model::row_bytes(src.type, cols);
#if defined(DLRM_EMBEDDING_AVX512)
  const int full_cols = cols / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (cols - full_cols)) - 1u);
#endif
  prefetch_first<Rows>(src, indices, begin, end, bytes);
  int64_t bad = 0;
  for (int b = begin; b < end; ++b) {
    if (b + Rows::kPrefetchDistance < end) prefetch_row<Rows>(src, indices[b + Rows::kPrefetchDistance], bytes);
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    const int32_t index = indices[b];
    if (!in_range(src, index)) {
      std::memset(dst_b, 0, sizeof(float) * static_cast<size_t>(cols));
      ++bad;
      continue;
    }
#if defined(DLRM_EMBEDDING_AVX512)
    if constexpr (!Rows::kInPlace) {
      const typename Rows::Row row = Rows::row(stored_row(src, index), cols, 0);
      for (int c = 0; c < full_cols; c += 16) _mm512_storeu_ps(dst_b + c, Rows::full(row, c));
      if (tail != 0) _mm512_mask_storeu_ps(dst_b + full_cols, tail, Rows::tail(row, full_cols, tail));
      continue;
    }
#endif
    // Rows kept as fp32 are copied; the others are decoded into dst.
    const float* values = Rows::values(stored_row(src, index), cols, dst_b);
    if constexpr (Rows::kInPlace) std::memcpy(dst_b, values, sizeof(float) * static_cast<size_t>(cols));
  }
  return bad;
}

// Runs body(begin, end) over contiguous parts of [0, n) on the OpenMP threads
// when `work` is large enough; returns the sum of what the parts return.
template <class Body>
int64_t split_over_threads(int n, int64_t work, const Body& body) {
  if (work < kParallelIndices || n < 2 || omp_get_max_threads() < 2 || omp_in_parallel()) return body(0, n);
  int64_t bad = 0;
#pragma omp parallel reduction(+ : bad)
  {
    const int parts = omp_get_num_threads();
    const int t = omp_get_thread_num();
    const int begin = static_cast<int>(static_cast<int64_t>(n) * t / parts);
    const int end = static_cast<int>(static_cast<int64_t>(n) * (t + 1) / parts);
    bad += body(begin, end);
  }
  return bad;
}

}  // namespace

int64_t embedding_bag_sum(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int batch,
                          float* dst, int64_t dst_stride) {
  check_view(src, "embedding_bag_sum");
  check_dst(src, dst_stride, batch, "embedding_bag_sum");
  if (batch == 0) return 0;
  const int64_t total = static_cast<int64_t>(offsets[batch]) - offsets[0];
  return with_decoder(src.type, [&]<class Rows>(Rows) {
    return split_over_threads(batch, total, [&](int begin, int end) {
      return bag_sum_range<Rows>(src, indices, offsets, begin, end, dst, dst_stride);
    });
  });
}

int64_t embedding_gather(const model::RowsView& src, const int32_t* indices, int n, float* dst, int64_t dst_stride) {
  check_view(src, "embedding_gather");
  check_dst(src, dst_stride, n, "embedding_gather");
  return with_decoder(src.type, [&]<class Rows>(Rows) {
    return split_over_threads(n, n, [&](int begin, int end) {
      return gather_range<Rows>(src, indices, begin, end, dst, dst_stride);
    });
  });
}

// The _ref twins: decode each row with the plain scalar model::decode_row, add in index order.

int64_t embedding_bag_sum_ref(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int batch,
                              float* dst, int64_t dst_stride) {
  check_view(src, "embedding_bag_sum_ref");
  check_dst(src, dst_stride, batch, "embedding_bag_sum_ref");
  std::vector<float> values(static_cast<size_t>(src.cols));
  int64_t bad = 0;
  for (int b = 0; b < batch; ++b) {
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    for (int c = 0; c < src.cols; ++c) dst_b[c] = 0.0f;
    for (int64_t k = offsets[b]; k < offsets[b + 1]; ++k) {
      const int32_t index = indices[k];
      if (index < 0 || index >= src.num_rows) {
        ++bad;
        continue;
      }
      model::decode_row(src.type, src.rows + static_cast<uint64_t>(index) * src.stride, src.cols, values.data());
      for (int c = 0; c < src.cols; ++c) dst_b[c] += values[c];
    }
  }
  return bad;
}

int64_t embedding_gather_ref(const model::RowsView& src, const int32_t* indices, int n, float* dst,
                             int64_t dst_stride) {
  check_view(src, "embedding_gather_ref");
  check_dst(src, dst_stride, n, "embedding_gather_ref");
  int64_t bad = 0;
  for (int b = 0; b < n; ++b) {
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    const int32_t index = indices[b];
    if (index < 0 || index >= src.num_rows) {
      ++bad;
      for (int c = 0; c < src.cols; ++c) dst_b[c] = 0.0f;
      continue;
    }
    model::decode_row(src.type, src.rows + static_cast<uint64_t>(index) * src.stride, src.cols, dst_b);
  }
  return bad;
}

void decode_row_ref(const model::RowsView& src, int64_t row, float* dst) {
  check_view(src, "decode_row_ref");
  DLRM_CHECK(row >= 0 && row < src.num_rows, "decode_row_ref: row {} is outside the view's {} rows", row,
             src.num_rows);
  model::decode_row(src.type, src.rows + static_cast<uint64_t>(row) * src.stride, src.cols, dst);
}

}  // namespace dlrm::shard
