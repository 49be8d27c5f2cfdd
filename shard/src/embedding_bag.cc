// Embedding-bag kernels (see embedding_bag.h); fp32 storage only for now.
//
// Fast sum: per bag, the output columns are processed in chunks of up to 128
// (8 AVX-512 registers) held in registers while the bag's rows are added in
// index order; the first chunk pass also prefetches the row kPrefetchDistance
// indices ahead (across bag boundaries), so with DLRM's dim 128 every row is
// touched once and its cache lines are in flight well before they are needed.
// Each column sees the same sequence of fp32 additions as the _ref twin
// (0 + r_0 + r_1 + ...), so results are bit-identical. Large batches are split
// into contiguous ranges of bags over OpenMP threads (nothing throws inside).
#include "dlrm/shard/embedding_bag.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <xmmintrin.h>

#include "dlrm/common/error.h"

namespace dlrm::shard {

namespace {

// Rows prefetched ahead of the one being added. A DRAM miss costs ~100 ns
// against ~10-20 ns to add a 512-byte row from cache; 8 ahead covers it.
constexpr int kPrefetchDistance = 8;
// Indices per call below which threads are not woken.
constexpr int64_t kParallelIndices = 4096;

void check_view(const RowsView& src, const char* what) {
  DLRM_CHECK(src.type == StorageType::kFp32,
             "{}: storage type {} not supported by this build (fp32 only until the quantized kernels land); "
             "re-shard the model with --dtype fp32",
             what, to_string(src.type));
  DLRM_CHECK(src.cols >= 0 && src.num_rows >= 0, "{}: invalid rows view ({} rows of {} columns)", what,
             src.num_rows, src.cols);
  DLRM_CHECK(src.stride >= static_cast<uint64_t>(src.cols) * sizeof(float),
             "{}: row stride {} bytes is too small for {} fp32 columns", what, src.stride, src.cols);
  DLRM_CHECK(src.rows != nullptr || src.num_rows == 0, "{}: rows view has {} rows but no data", what,
             src.num_rows);
}

void check_dst(const RowsView& src, int64_t dst_stride, int n, const char* what) {
  DLRM_CHECK(n >= 0, "{}: batch must be non-negative, got {}", what, n);
  DLRM_CHECK(dst_stride >= src.cols, "{}: dst_stride {} is smaller than the {} columns of a row", what,
             dst_stride, src.cols);
}

inline bool in_range(const RowsView& src, int32_t index) { return index >= 0 && index < src.num_rows; }

inline const float* row_ptr(const RowsView& src, int32_t index) {
  return reinterpret_cast<const float*>(src.rows + static_cast<uint64_t>(index) * src.stride);
}

inline void prefetch_row(const RowsView& src, int32_t index, int lines) {
  if (!in_range(src, index)) return;
  const char* p = reinterpret_cast<const char*>(row_ptr(src, index));
  for (int l = 0; l < lines; ++l) _mm_prefetch(p + 64 * l, _MM_HINT_T0);
}

inline int row_lines(const RowsView& src) { return static_cast<int>((static_cast<int64_t>(src.cols) * 4 + 63) / 64); }

#if defined(__AVX512F__)

// Sums columns [c0, c0 + 16 * (kVecs - 1) + popcount(tail)) of the bag's rows into dst.
template <int kVecs>
void sum_chunk(const RowsView& src, const int32_t* indices, int64_t k_begin, int64_t k_end, int64_t k_limit,
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

using SumChunkFn = void (*)(const RowsView&, const int32_t*, int64_t, int64_t, int64_t, int, __mmask16, int,
                            float*);
constexpr SumChunkFn kSumChunk[8] = {sum_chunk<1>, sum_chunk<2>, sum_chunk<3>, sum_chunk<4>,
                                     sum_chunk<5>, sum_chunk<6>, sum_chunk<7>, sum_chunk<8>};

#endif

// Bags [b_begin, b_end); returns the out-of-range count.
int64_t bag_sum_range(const RowsView& src, const int32_t* indices, const int32_t* offsets, int b_begin, int b_end,
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

int64_t gather_range(const RowsView& src, const int32_t* indices, int begin, int end, float* dst,
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

int64_t embedding_bag_sum(const RowsView& src, const int32_t* indices, const int32_t* offsets, int batch,
                          float* dst, int64_t dst_stride) {
  check_view(src, "embedding_bag_sum");
  check_dst(src, dst_stride, batch, "embedding_bag_sum");
  if (batch == 0) return 0;
  const int64_t total = static_cast<int64_t>(offsets[batch]) - offsets[0];
  return split_over_threads(batch, total, [&](int begin, int end) {
    return bag_sum_range(src, indices, offsets, begin, end, dst, dst_stride);
  });
}

int64_t embedding_bag_sum_ref(const RowsView& src, const int32_t* indices, const int32_t* offsets, int batch,
                              float* dst, int64_t dst_stride) {
  check_view(src, "embedding_bag_sum_ref");
  check_dst(src, dst_stride, batch, "embedding_bag_sum_ref");
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

int64_t embedding_gather(const RowsView& src, const int32_t* indices, int n, float* dst, int64_t dst_stride) {
  check_view(src, "embedding_gather");
  check_dst(src, dst_stride, n, "embedding_gather");
  return split_over_threads(n, n, [&](int begin, int end) {
    return gather_range(src, indices, begin, end, dst, dst_stride);
  });
}

int64_t embedding_gather_ref(const RowsView& src, const int32_t* indices, int n, float* dst,
                             int64_t dst_stride) {
  check_view(src, "embedding_gather_ref");
  check_dst(src, dst_stride, n, "embedding_gather_ref");
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

void decode_row_ref(const RowsView& src, int64_t row, float* dst) {
  check_view(src, "decode_row_ref");
  DLRM_CHECK(row >= 0 && row < src.num_rows, "decode_row_ref: row {} is outside the view's {} rows", row,
             src.num_rows);
  const float* values = reinterpret_cast<const float*>(src.rows + static_cast<uint64_t>(row) * src.stride);
  for (int c = 0; c < src.cols; ++c) dst[c] = values[c];
}

}  // namespace dlrm::shard
