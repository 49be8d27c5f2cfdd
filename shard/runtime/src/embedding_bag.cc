// Embedding-bag kernels (see embedding_bag.h) for every storage type.
//
// fp32:
// Fast sum: per bag, the output columns are processed in chunks of up to 128
// (8 AVX-512 registers) held in registers while the bag's rows are added in
// index order; the first chunk pass also prefetches the row kPrefetchDistance
// indices ahead (across bag boundaries), so with DLRM's dim 128 every row is
// touched once and its cache lines are in flight well before they are needed.
// Each column sees the same sequence of fp32 additions as the _ref twin
// (0 + r_0 + r_1 + ...), so results are bit-identical. Large batches are split
// into contiguous ranges of bags over OpenMP threads (nothing throws inside).
//
// fp16, int8, int4 (layouts in dlrm/model/row_codec.h): the same structure (column chunks
// of up to 128 held in registers, rows added in index order, prefetching
// kQuantPrefetchDistance rows ahead), with each 16-column vector of a row decoded
// on the fly: fp16 by vcvtph2ps (exact); int8 codes widened u8 -> i32 -> fp32
// and int4 nibbles split (low nibble = even column), widened the same way,
// then fmadd(code, scale, bias) with the row's scale and bias broadcast. A row
// contributes acc += fmaf(code, scale, bias), exactly what the _ref twins
// compute with decode_row (row_codec.cc), so results are bit-identical to them.
// Quantized rows are not 64-byte aligned, so prefetch covers every cache line
// the row's bytes touch (an int4 row of dim 128 is 68 bytes: two lines).
#include "dlrm/shard/embedding_bag.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
// GCC 12 warns (falsely) about the _mm512_undefined_* inside the vcvtph2ps,
// vcvtdq2ps and vpmovzxbd intrinsics; the pragma must precede the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif
#include <xmmintrin.h>

#include "dlrm/common/error.h"
#include "dlrm/model/row_codec.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__F16C__)
#define DLRM_EMBEDDING_QUANT_AVX512 1
#endif

namespace dlrm::shard {

namespace {

// Rows prefetched ahead of the one being added. A DRAM miss costs ~100 ns
// against ~10-20 ns to add a 512-byte row from cache; 8 ahead covers it.
constexpr int kPrefetchDistance = 8;
// The same for fp16/int8/int4 rows. They are 2-8x smaller, so a row is done
// sooner and more of them must be in flight to cover a miss (plus a TLB walk):
// on the 2-core dev box, 8-hot sums over tables far larger than L3 went from
// 20-25 ns per row at 8 to 9-12 ns at 32 (the fp32 path, bandwidth bound,
// gained nothing from more and keeps 8).
constexpr int kQuantPrefetchDistance = 32;
// Indices per call below which threads are not woken.
constexpr int64_t kParallelIndices = 4096;

void check_view(const model::RowsView& src, const char* what) {
  DLRM_CHECK(model::storage_supported(src.type),
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

inline const float* row_ptr(const model::RowsView& src, int32_t index) {
  return reinterpret_cast<const float*>(src.rows + static_cast<uint64_t>(index) * src.stride);
}

// always_inline: GCC 12 at -O2 and above (its IPA mod/ref analysis) finds a
// function that only prefetches free of side effects and deletes the calls, so
// without it the prefetches vanish from the kernels (check: objdump -d
// embedding_bag.cc.o | grep -c prefetcht0).
[[gnu::always_inline]] inline void prefetch_row(const model::RowsView& src, int32_t index, int lines) {
  if (!in_range(src, index)) return;
  const char* p = reinterpret_cast<const char*>(row_ptr(src, index));
  for (int l = 0; l < lines; ++l) _mm_prefetch(p + 64 * l, _MM_HINT_T0);
}

inline int row_lines(const model::RowsView& src) { return static_cast<int>((static_cast<int64_t>(src.cols) * 4 + 63) / 64); }

#if defined(__AVX512F__)

// Sums columns [c0, c0 + 16 * (kVecs - 1) + popcount(tail)) of the bag's rows into dst.
template <int kVecs>
void sum_chunk(const model::RowsView& src, const int32_t* indices, int64_t k_begin, int64_t k_end, int64_t k_limit,
               int c0, __mmask16 tail, int lines, float* dst) {
  __m512 acc[kVecs];
#pragma GCC unroll 8
  for (int v = 0; v < kVecs; ++v) acc[v] = _mm512_setzero_ps();
  for (int64_t k = k_begin; k < k_end; ++k) {
    if (lines > 0 && k + kPrefetchDistance < k_limit) prefetch_row(src, indices[k + kPrefetchDistance], lines);
    const int32_t index = indices[k];
    if (!in_range(src, index)) continue;
    const float* row = row_ptr(src, index) + c0;
#pragma GCC unroll 8
    for (int v = 0; v < kVecs - 1; ++v) acc[v] = _mm512_add_ps(acc[v], _mm512_loadu_ps(row + 16 * v));
    acc[kVecs - 1] = _mm512_add_ps(acc[kVecs - 1], _mm512_maskz_loadu_ps(tail, row + 16 * (kVecs - 1)));
  }
#pragma GCC unroll 8
  for (int v = 0; v < kVecs - 1; ++v) _mm512_storeu_ps(dst + 16 * v, acc[v]);
  _mm512_mask_storeu_ps(dst + 16 * (kVecs - 1), tail, acc[kVecs - 1]);
}

using SumChunkFn = void (*)(const model::RowsView&, const int32_t*, int64_t, int64_t, int64_t, int, __mmask16, int,
                            float*);
constexpr SumChunkFn kSumChunk[8] = {sum_chunk<1>, sum_chunk<2>, sum_chunk<3>, sum_chunk<4>,
                                     sum_chunk<5>, sum_chunk<6>, sum_chunk<7>, sum_chunk<8>};

#endif

// Bags [b_begin, b_end); returns the out-of-range count.
int64_t bag_sum_range(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int b_begin, int b_end,
                      float* dst, int64_t dst_stride) {
  const int cols = src.cols;
  const int lines = row_lines(src);
  const int64_t k_limit = b_end > b_begin ? offsets[b_end] : 0;
  int64_t bad = 0;
  if (b_end > b_begin) {
    const int64_t k_first = offsets[b_begin];
    for (int64_t k = k_first; k < std::min(k_first + kPrefetchDistance, k_limit); ++k)
      prefetch_row(src, indices[k], lines);
  }
  for (int b = b_begin; b < b_end; ++b) {
    const int64_t k_begin = offsets[b];
    const int64_t k_end = std::max<int64_t>(k_begin, offsets[b + 1]);
    for (int64_t k = k_begin; k < k_end; ++k) bad += in_range(src, indices[k]) ? 0 : 1;
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
#if defined(__AVX512F__)
    for (int c0 = 0; c0 < cols; c0 += 128) {
      const int chunk = std::min(128, cols - c0);
      const int vecs = (chunk + 15) / 16;
      const int rem = chunk - 16 * (vecs - 1);
      const __mmask16 tail = static_cast<__mmask16>(rem == 16 ? 0xffffu : (1u << rem) - 1u);
      kSumChunk[vecs - 1](src, indices, k_begin, k_end, k_limit, c0, tail, c0 == 0 ? lines : 0, dst_b + c0);
    }
#else
    std::fill(dst_b, dst_b + cols, 0.0f);
    for (int64_t k = k_begin; k < k_end; ++k) {
      if (k + kPrefetchDistance < k_limit) prefetch_row(src, indices[k + kPrefetchDistance], lines);
      if (!in_range(src, indices[k])) continue;
      const float* row = row_ptr(src, indices[k]);
      for (int c = 0; c < cols; ++c) dst_b[c] += row[c];
    }
#endif
  }
  return bad;
}

int64_t gather_range(const model::RowsView& src, const int32_t* indices, int begin, int end, float* dst,
                     int64_t dst_stride) {
  const int lines = row_lines(src);
  const size_t row_bytes = sizeof(float) * static_cast<size_t>(src.cols);
  for (int k = begin; k < std::min(begin + kPrefetchDistance, end); ++k) prefetch_row(src, indices[k], lines);
  int64_t bad = 0;
  for (int b = begin; b < end; ++b) {
    if (b + kPrefetchDistance < end) prefetch_row(src, indices[b + kPrefetchDistance], lines);
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    const int32_t index = indices[b];
    if (in_range(src, index)) {
      std::memcpy(dst_b, row_ptr(src, index), row_bytes);
    } else {
      std::memset(dst_b, 0, row_bytes);
      ++bad;
    }
  }
  return bad;
}

// ---------------------------------------------------------------- fp16, int8, int4

inline const uint8_t* stored_row(const model::RowsView& src, int32_t index) {
  return src.rows + static_cast<uint64_t>(index) * src.stride;
}

// Prefetches every cache line the stored row's bytes touch (rows are not line
// aligned). always_inline: see prefetch_row.
// `bytes` = row_bytes(src.type, src.cols).
[[gnu::always_inline]] inline void prefetch_stored_row(const model::RowsView& src, int32_t index, uint64_t bytes) {
  if (!in_range(src, index)) return;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(stored_row(src, index));
  const uintptr_t end = begin + bytes;
  for (uintptr_t line = begin & ~uintptr_t{63}; line < end; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
}

// Bags [b_begin, b_end) by decoding each row to fp32 first (builds without AVX-512).
int64_t bag_sum_range_decoded(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int b_begin,
                              int b_end, float* dst, int64_t dst_stride) {
  std::vector<float> values(static_cast<size_t>(src.cols));
  const uint64_t bytes = model::row_bytes(src.type, src.cols);
  const int64_t k_limit = b_end > b_begin ? offsets[b_end] : 0;
  int64_t bad = 0;
  for (int b = b_begin; b < b_end; ++b) {
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    std::fill(dst_b, dst_b + src.cols, 0.0f);
    for (int64_t k = offsets[b]; k < offsets[b + 1]; ++k) {
      if (k + kQuantPrefetchDistance < k_limit) prefetch_stored_row(src, indices[k + kQuantPrefetchDistance], bytes);
      if (!in_range(src, indices[k])) {
        ++bad;
        continue;
      }
      model::decode_row(src.type, stored_row(src, indices[k]), src.cols, values.data());
      for (int c = 0; c < src.cols; ++c) dst_b[c] += values[c];
    }
  }
  return bad;
}

int64_t gather_range_decoded(const model::RowsView& src, const int32_t* indices, int begin, int end, float* dst,
                             int64_t dst_stride) {
  const uint64_t bytes = model::row_bytes(src.type, src.cols);
  int64_t bad = 0;
  for (int b = begin; b < end; ++b) {
    if (b + kQuantPrefetchDistance < end) prefetch_stored_row(src, indices[b + kQuantPrefetchDistance], bytes);
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    if (in_range(src, indices[b])) {
      model::decode_row(src.type, stored_row(src, indices[b]), src.cols, dst_b);
    } else {
      std::fill(dst_b, dst_b + src.cols, 0.0f);
      ++bad;
    }
  }
  return bad;
}

#if defined(DLRM_EMBEDDING_QUANT_AVX512)

// Row decoders: row() reads a stored row's scale and bias once; full(c) gives
// columns [c, c + 16) as fp32, tail(c, mask) the first popcount(mask) of them
// (the other lanes hold junk that is never stored). c is a multiple of 16.
struct Fp16Rows {
  struct Row {
    const uint8_t* codes;
  };
  static Row row(const uint8_t* p, int) { return {p}; }
  static __m512 full(const Row& r, int c) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r.codes + 2 * c)));
  }
  static __m512 tail(const Row& r, int c, __mmask16 mask) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, r.codes + 2 * c));
  }
};

struct Int8Rows {
  struct Row {
    const uint8_t* codes;
    __m512 scale, bias;
  };
  static Row row(const uint8_t* p, int cols) {
    float scale_bias[2];
    std::memcpy(scale_bias, p + cols, sizeof scale_bias);
    return {p, _mm512_set1_ps(scale_bias[0]), _mm512_set1_ps(scale_bias[1])};
  }
  static __m512 decode(const Row& r, __m128i codes) {
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(codes)), r.scale, r.bias);
  }
  static __m512 full(const Row& r, int c) {
    return decode(r, _mm_loadu_si128(reinterpret_cast<const __m128i*>(r.codes + c)));
  }
  static __m512 tail(const Row& r, int c, __mmask16 mask) { return decode(r, _mm_maskz_loadu_epi8(mask, r.codes + c)); }
};

struct Int4Rows {
  struct Row {
    const uint8_t* codes;
    __m512 scale, bias;
  };
  static Row row(const uint8_t* p, int cols) {
    uint16_t scale_bias[2];
    std::memcpy(scale_bias, p + (cols + 1) / 2, sizeof scale_bias);
    return {p, _mm512_set1_ps(_cvtsh_ss(scale_bias[0])), _mm512_set1_ps(_cvtsh_ss(scale_bias[1]))};
  }
  // 8 bytes of nibbles (low 64 bits) -> 16 codes in column order -> fp32.
  static __m512 decode(const Row& r, __m128i bytes) {
    const __m128i low4 = _mm_set1_epi8(0x0f);
    const __m128i even = _mm_and_si128(bytes, low4);
    const __m128i odd = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
    const __m128i codes = _mm_unpacklo_epi8(even, odd);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(codes)), r.scale, r.bias);
  }
  static __m512 full(const Row& r, int c) {
    return decode(r, _mm_loadl_epi64(reinterpret_cast<const __m128i*>(r.codes + c / 2)));
  }
  static __m512 tail(const Row& r, int c, __mmask16 mask) {
    const int bytes = (__builtin_popcount(mask) + 1) / 2;
    return decode(r, _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << bytes) - 1u), r.codes + c / 2));
  }
};

// Sums columns [c0, c0 + 16 * (kVecs - 1) + popcount(tail)) of the bag's decoded rows into dst;
// prefetches rows ahead when bytes (a row's size) > 0.
template <class Rows, int kVecs>
void sum_chunk_decoded(const model::RowsView& src, const int32_t* indices, int64_t k_begin, int64_t k_end,
                       int64_t k_limit, int c0, __mmask16 tail, uint64_t bytes, float* dst) {
  __m512 acc[kVecs];
#pragma GCC unroll 8
  for (int v = 0; v < kVecs; ++v) acc[v] = _mm512_setzero_ps();
  for (int64_t k = k_begin; k < k_end; ++k) {
    if (bytes > 0 && k + kQuantPrefetchDistance < k_limit) {
      prefetch_stored_row(src, indices[k + kQuantPrefetchDistance], bytes);
    }
    const int32_t index = indices[k];
    if (!in_range(src, index)) continue;
    const typename Rows::Row row = Rows::row(stored_row(src, index), src.cols);
#pragma GCC unroll 8
    for (int v = 0; v < kVecs - 1; ++v) acc[v] = _mm512_add_ps(acc[v], Rows::full(row, c0 + 16 * v));
    acc[kVecs - 1] = _mm512_add_ps(acc[kVecs - 1], Rows::tail(row, c0 + 16 * (kVecs - 1), tail));
  }
#pragma GCC unroll 8
  for (int v = 0; v < kVecs - 1; ++v) _mm512_storeu_ps(dst + 16 * v, acc[v]);
  _mm512_mask_storeu_ps(dst + 16 * (kVecs - 1), tail, acc[kVecs - 1]);
}

template <class Rows>
struct SumChunks {
  using Fn = void (*)(const model::RowsView&, const int32_t*, int64_t, int64_t, int64_t, int, __mmask16, uint64_t, float*);
  static constexpr Fn kFn[8] = {sum_chunk_decoded<Rows, 1>, sum_chunk_decoded<Rows, 2>, sum_chunk_decoded<Rows, 3>,
                                sum_chunk_decoded<Rows, 4>, sum_chunk_decoded<Rows, 5>, sum_chunk_decoded<Rows, 6>,
                                sum_chunk_decoded<Rows, 7>, sum_chunk_decoded<Rows, 8>};
};

template <class Rows>
int64_t bag_sum_range_quantized(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int b_begin,
                                int b_end, float* dst, int64_t dst_stride) {
  const int cols = src.cols;
  const uint64_t bytes = model::row_bytes(src.type, cols);
  const int64_t k_limit = b_end > b_begin ? offsets[b_end] : 0;
  int64_t bad = 0;
  if (b_end > b_begin) {
    const int64_t k_first = offsets[b_begin];
    for (int64_t k = k_first; k < std::min(k_first + kQuantPrefetchDistance, k_limit); ++k)
      prefetch_stored_row(src, indices[k], bytes);
  }
  for (int b = b_begin; b < b_end; ++b) {
    const int64_t k_begin = offsets[b];
    const int64_t k_end = std::max<int64_t>(k_begin, offsets[b + 1]);
    for (int64_t k = k_begin; k < k_end; ++k) bad += in_range(src, indices[k]) ? 0 : 1;
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    for (int c0 = 0; c0 < cols; c0 += 128) {
      const int chunk = std::min(128, cols - c0);
      const int vecs = (chunk + 15) / 16;
      const int rem = chunk - 16 * (vecs - 1);
      const __mmask16 tail = static_cast<__mmask16>(rem == 16 ? 0xffffu : (1u << rem) - 1u);
      SumChunks<Rows>::kFn[vecs - 1](src, indices, k_begin, k_end, k_limit, c0, tail, c0 == 0 ? bytes : 0,
                                     dst_b + c0);
    }
  }
  return bad;
}

template <class Rows>
int64_t gather_range_quantized(const model::RowsView& src, const int32_t* indices, int begin, int end, float* dst,
                               int64_t dst_stride) {
  const int cols = src.cols;
  const int full_cols = cols / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (cols - full_cols)) - 1u);
  const uint64_t bytes = model::row_bytes(src.type, cols);
  for (int k = begin; k < std::min(begin + kQuantPrefetchDistance, end); ++k) {
    prefetch_stored_row(src, indices[k], bytes);
  }
  int64_t bad = 0;
  for (int b = begin; b < end; ++b) {
    if (b + kQuantPrefetchDistance < end) prefetch_stored_row(src, indices[b + kQuantPrefetchDistance], bytes);
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    const int32_t index = indices[b];
    if (in_range(src, index)) {
      const typename Rows::Row row = Rows::row(stored_row(src, index), cols);
      for (int c = 0; c < full_cols; c += 16) _mm512_storeu_ps(dst_b + c, Rows::full(row, c));
      if (tail != 0) _mm512_mask_storeu_ps(dst_b + full_cols, tail, Rows::tail(row, full_cols, tail));
    } else {
      std::memset(dst_b, 0, sizeof(float) * static_cast<size_t>(cols));
      ++bad;
    }
  }
  return bad;
}

#endif

// The fast range kernels of src.type.
int64_t bag_sum_range_of(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int b_begin, int b_end,
                         float* dst, int64_t dst_stride) {
  switch (src.type) {
    case model::StorageType::kFp32: return bag_sum_range(src, indices, offsets, b_begin, b_end, dst, dst_stride);
#if defined(DLRM_EMBEDDING_QUANT_AVX512)
    case model::StorageType::kFp16:
      return bag_sum_range_quantized<Fp16Rows>(src, indices, offsets, b_begin, b_end, dst, dst_stride);
    case model::StorageType::kInt8:
      return bag_sum_range_quantized<Int8Rows>(src, indices, offsets, b_begin, b_end, dst, dst_stride);
    case model::StorageType::kInt4:
      return bag_sum_range_quantized<Int4Rows>(src, indices, offsets, b_begin, b_end, dst, dst_stride);
#endif
    default: return bag_sum_range_decoded(src, indices, offsets, b_begin, b_end, dst, dst_stride);
  }
}

int64_t gather_range_of(const model::RowsView& src, const int32_t* indices, int begin, int end, float* dst,
                        int64_t dst_stride) {
  switch (src.type) {
    case model::StorageType::kFp32: return gather_range(src, indices, begin, end, dst, dst_stride);
#if defined(DLRM_EMBEDDING_QUANT_AVX512)
    case model::StorageType::kFp16: return gather_range_quantized<Fp16Rows>(src, indices, begin, end, dst, dst_stride);
    case model::StorageType::kInt8: return gather_range_quantized<Int8Rows>(src, indices, begin, end, dst, dst_stride);
    case model::StorageType::kInt4: return gather_range_quantized<Int4Rows>(src, indices, begin, end, dst, dst_stride);
#endif
    default: return gather_range_decoded(src, indices, begin, end, dst, dst_stride);
  }
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

// The _ref twins for fp16, int8, int4: decode each row with the plain scalar
// decode_row (value = fmaf(code, scale, bias)), add in index order.
int64_t bag_sum_decoded_ref(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int batch, float* dst,
                            int64_t dst_stride) {
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

int64_t gather_decoded_ref(const model::RowsView& src, const int32_t* indices, int n, float* dst, int64_t dst_stride) {
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

}  // namespace

int64_t embedding_bag_sum(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int batch,
                          float* dst, int64_t dst_stride) {
  check_view(src, "embedding_bag_sum");
  check_dst(src, dst_stride, batch, "embedding_bag_sum");
  if (batch == 0) return 0;
  const int64_t total = static_cast<int64_t>(offsets[batch]) - offsets[0];
  return split_over_threads(batch, total, [&](int begin, int end) {
    return bag_sum_range_of(src, indices, offsets, begin, end, dst, dst_stride);
  });
}

int64_t embedding_bag_sum_ref(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int batch,
                              float* dst, int64_t dst_stride) {
  check_view(src, "embedding_bag_sum_ref");
  check_dst(src, dst_stride, batch, "embedding_bag_sum_ref");
  if (src.type != model::StorageType::kFp32) return bag_sum_decoded_ref(src, indices, offsets, batch, dst, dst_stride);
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
      const float* row = reinterpret_cast<const float*>(src.rows + static_cast<uint64_t>(index) * src.stride);
      for (int c = 0; c < src.cols; ++c) dst_b[c] += row[c];
    }
  }
  return bad;
}

int64_t embedding_gather(const model::RowsView& src, const int32_t* indices, int n, float* dst, int64_t dst_stride) {
  check_view(src, "embedding_gather");
  check_dst(src, dst_stride, n, "embedding_gather");
  return split_over_threads(n, n, [&](int begin, int end) {
    return gather_range_of(src, indices, begin, end, dst, dst_stride);
  });
}

int64_t embedding_gather_ref(const model::RowsView& src, const int32_t* indices, int n, float* dst,
                             int64_t dst_stride) {
  check_view(src, "embedding_gather_ref");
  check_dst(src, dst_stride, n, "embedding_gather_ref");
  if (src.type != model::StorageType::kFp32) return gather_decoded_ref(src, indices, n, dst, dst_stride);
  int64_t bad = 0;
  for (int b = 0; b < n; ++b) {
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    const int32_t index = indices[b];
    const bool valid = index >= 0 && index < src.num_rows;
    bad += valid ? 0 : 1;
    const float* row =
        valid ? reinterpret_cast<const float*>(src.rows + static_cast<uint64_t>(index) * src.stride) : nullptr;
    for (int c = 0; c < src.cols; ++c) dst_b[c] = valid ? row[c] : 0.0f;
  }
  return bad;
}

void decode_row_ref(const model::RowsView& src, int64_t row, float* dst) {
  check_view(src, "decode_row_ref");
  DLRM_CHECK(row >= 0 && row < src.num_rows, "decode_row_ref: row {} is outside the view's {} rows", row,
             src.num_rows);
  if (src.type != model::StorageType::kFp32) {
    model::decode_row(src.type, src.rows + static_cast<uint64_t>(row) * src.stride, src.cols, dst);
    return;
  }
  const float* values = reinterpret_cast<const float*>(src.rows + static_cast<uint64_t>(row) * src.stride);
  for (int c = 0; c < src.cols; ++c) dst[c] = values[c];
}

}  // namespace dlrm::shard
