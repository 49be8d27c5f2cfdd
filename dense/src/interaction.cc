// The dot interaction (see interaction.h).
//
// Fast version, per sample: the F x F Gram matrix of T is computed in 4 x 4
// blocks of feature pairs on or below the diagonal. Each block keeps 16 AVX-512
// accumulators (one per pair, 16 lanes of the dim each), loads 4 + 4 rows per
// 16 floats of the dim and does 16 FMAs; at the end one shuffle tree reduces the
// 16 accumulators to one vector holding the 16 dot products, whose rows are
// stored (masked) straight into the triangle of dst. The rows of a later
// sample are prefetched while one is computed. Samples run in parallel over
// OpenMP threads. Without AVX-512 a portable loop with 16 partial sums per dot
// product (which compilers vectorise) is used instead. Design and
// measurements: docs/performance.md, "Interaction".
#include "dlrm/dense/interaction.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
// GCC 12 reports its own _mm512_undefined_ps() placeholders inside the shuffle
// intrinsics as maybe-uninitialized (a false positive); silence it for them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#include "dlrm/common/error.h"
#include "dlrm/common/half.h"

namespace dlrm::dense {

namespace {

// The rows of T for sample b: x_b, then each table's row. At most 1 + kMaxTables.
constexpr int kMaxTables = 1024;
// Samples ahead whose rows are prefetched (docs/performance.md).
constexpr int kPrefetchAhead = 2;
struct SampleRows {
  const float* row[kMaxTables + 1];
};

// Where sample b's row of table t lies: tables[t] + b * sample_stride (rows
// of a table evenly spaced), or rows[b * count + t] (a pointer per row).
template <class T>
struct RowSource {
  const void* const* tables = nullptr;
  int64_t sample_stride = 0;
  const void* const* rows = nullptr;
  int count = 0;
  const T* at(int t, int64_t b) const {
    return rows ? static_cast<const T*>(rows[b * count + t]) : static_cast<const T*>(tables[t]) + b * sample_stride;
  }
};

template <class T>
RowSource<T> strided(const void* const* tables, int64_t sample_stride) {
  return {tables, sample_stride, nullptr, 0};
}

template <class T>
RowSource<T> per_row(const void* const* rows, int tables) {
  return {nullptr, 0, rows, tables};
}

inline void sample_rows(const float* x, const RowSource<float>& src, int tables_count, int dim, int64_t b,
                        SampleRows& out) {
  out.row[0] = x + b * dim;
  for (int t = 0; t < tables_count; ++t) out.row[t + 1] = src.at(t, b);
}

// The embedding rows of one sample as bytes, for prefetching.
struct PrefetchRows {
  const char* row[kMaxTables];
  int64_t row_bytes = 0;
};

template <class T>
inline void prefetch_rows(const RowSource<T>& src, int tables_count, int dim, int64_t b, PrefetchRows& out) {
  for (int t = 0; t < tables_count; ++t) out.row[t] = reinterpret_cast<const char*>(src.at(t, b));
  out.row_bytes = static_cast<int64_t>(dim) * sizeof(T);
}

// Where row i of the triangle starts in the pair list: pair (i, j) lands at
// first_pair(i) + j.
inline int first_pair(int i, bool self) { return self ? i * (i + 1) / 2 : i * (i - 1) / 2; }

void check_args(const char* what, const InteractionShape& shape, int batch, int64_t dst_stride) {
  DLRM_CHECK(shape.tables >= 0 && shape.tables <= kMaxTables && shape.dim > 0, "{}: invalid shape tables={} dim={}",
             what, shape.tables, shape.dim);
  DLRM_CHECK(batch >= 0, "{}: batch must be non-negative, got {}", what, batch);
  DLRM_CHECK(dst_stride >= shape.width(),
             "{}: dst_stride {} is smaller than the interaction width {} (dim {} + {} pairs)", what, dst_stride,
             shape.width(), shape.dim, shape.pairs());
}

#if defined(__AVX512F__)

// Returns v with lane 4q + r = horizontal sum of acc[4q + r].
inline __m512 reduce16(const __m512 (&acc)[16]) {
  // 16 -> 8: each 128-bit lane of s[k] holds two partial sums of acc[2k] and two of acc[2k+1].
  __m512 s[8];
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) {
    s[k] = _mm512_add_ps(_mm512_unpacklo_ps(acc[2 * k], acc[2 * k + 1]),
                         _mm512_unpackhi_ps(acc[2 * k], acc[2 * k + 1]));
  }
  // 8 -> 4: each 128-bit lane of u[k] holds one partial sum of acc[4k .. 4k+3], in order.
  __m512 u[4];
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(s[2 * k]), _mm512_castps_pd(s[2 * k + 1]));
    __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(s[2 * k]), _mm512_castps_pd(s[2 * k + 1]));
    u[k] = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
  }
  // 4 -> 2: v0 lanes = u0(L0+L1), u0(L2+L3), u1(L0+L1), u1(L2+L3); v1 likewise for u2, u3.
  __m512 v0 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
  __m512 v1 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(3, 1, 3, 1)));
  // 2 -> 1: 128-bit lane q = full sums of acc[4q .. 4q+3].
  return _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// fp32 rows: 16 of the dim per step (one FMA per pair), a masked tail step.
struct Fp32Dots {
  using Row = float;
  static void accumulate(const float* const (&a)[4], const float* const (&c)[4], int dim, __m512 (&acc)[16]) {
    const int full = dim / 16 * 16;
    for (int d = 0; d < full; d += 16) {
      __m512 va[4], vc[4];
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        va[k] = _mm512_loadu_ps(a[k] + d);
        vc[k] = _mm512_loadu_ps(c[k] + d);
      }
      // Keep all eight rows in registers, so GCC does not fold each vc load
      // into the four FMAs using it (docs/performance.md, "Interaction").
      asm("" : "+v"(va[0]), "+v"(va[1]), "+v"(va[2]), "+v"(va[3]), "+v"(vc[0]), "+v"(vc[1]), "+v"(vc[2]),
          "+v"(vc[3]));
      fma16(va, vc, acc);
    }
    const __mmask16 tail = static_cast<__mmask16>((1u << (dim % 16)) - 1u);
    if (tail != 0) {
      __m512 va[4], vc[4];
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        va[k] = _mm512_maskz_loadu_ps(tail, a[k] + full);
        vc[k] = _mm512_maskz_loadu_ps(tail, c[k] + full);
      }
      fma16(va, vc, acc);
    }
  }
  static void fma16(const __m512 (&va)[4], const __m512 (&vc)[4], __m512 (&acc)[16]) {
#pragma GCC unroll 4
    for (int ii = 0; ii < 4; ++ii) {
#pragma GCC unroll 4
      for (int jj = 0; jj < 4; ++jj) acc[ii * 4 + jj] = _mm512_fmadd_ps(va[ii], vc[jj], acc[ii * 4 + jj]);
    }
  }
};

#if defined(__AVX512BF16__)
// bf16 rows zero-padded to a multiple of 32: each VDPBF16PS adds two products
// per lane, so a step covers 32 of the dim with 16 instructions.
struct Bf16Dots {
  using Row = uint16_t;
  static void accumulate(const uint16_t* const (&a)[4], const uint16_t* const (&c)[4], int dim_pad,
                         __m512 (&acc)[16]) {
    for (int d = 0; d < dim_pad; d += 32) {
      __m512i va[4], vc[4];
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        va[k] = _mm512_loadu_si512(a[k] + d);
        vc[k] = _mm512_loadu_si512(c[k] + d);
      }
      asm("" : "+v"(va[0]), "+v"(va[1]), "+v"(va[2]), "+v"(va[3]), "+v"(vc[0]), "+v"(vc[1]), "+v"(vc[2]),
          "+v"(vc[3]));
#pragma GCC unroll 4
      for (int ii = 0; ii < 4; ++ii) {
#pragma GCC unroll 4
        for (int jj = 0; jj < 4; ++jj) {
          acc[ii * 4 + jj] = _mm512_dpbf16_ps(acc[ii * 4 + jj], reinterpret_cast<__m512bh&>(va[ii]),
                                              reinterpret_cast<__m512bh&>(vc[jj]));
        }
      }
    }
  }
};
#endif

// One sample: `row` holds the F rows of T (len elements each, as Dots reads
// them). Also prefetches the embedding rows of a later sample (next, or
// nullptr; rows of row_bytes) into L1, spread over the blocks.
template <class Dots>
void interaction_blocks(int features, int len, bool self, const typename Dots::Row* const* row, float* pairs,
                        const PrefetchRows* next) {
  const int blocks = (features + 3) / 4;
  const int lines_per_row = next ? static_cast<int>((next->row_bytes + 63) / 64) : 1;
  const int64_t prefetch_lines = next ? static_cast<int64_t>(features - 1) * lines_per_row : 0;
  int64_t prefetched = 0;
  const int64_t block_pairs = static_cast<int64_t>(blocks) * (blocks + 1) / 2;
  const int prefetch_lines_per_block = static_cast<int>((prefetch_lines + block_pairs) / block_pairs);
  using Row = typename Dots::Row;
  for (int ib = 0; ib < blocks; ++ib) {
    const Row* a[4];
    for (int ii = 0; ii < 4; ++ii) a[ii] = row[std::min(ib * 4 + ii, features - 1)];
    for (int jb = 0; jb <= ib; ++jb) {
      const Row* c[4];
      for (int jj = 0; jj < 4; ++jj) c[jj] = row[std::min(jb * 4 + jj, features - 1)];
      __m512 acc[16];
#pragma GCC unroll 16
      for (int p = 0; p < 16; ++p) acc[p] = _mm512_setzero_ps();
      Dots::accumulate(a, c, len, acc);
      for (int l = 0; l < prefetch_lines_per_block && prefetched < prefetch_lines; ++l, ++prefetched) {
        _mm_prefetch(next->row[prefetched / lines_per_row] + (prefetched % lines_per_row) * 64, _MM_HINT_T0);
      }
      const __m512 sums = reduce16(acc);
      const __m128 rows[4] = {_mm512_castps512_ps128(sums), _mm512_extractf32x4_ps(sums, 1),
                              _mm512_extractf32x4_ps(sums, 2), _mm512_extractf32x4_ps(sums, 3)};
      const int j0 = jb * 4;
      for (int ii = 0; ii < 4; ++ii) {
        const int i = ib * 4 + ii;
        if (i >= features) break;
        const int count = std::min(4, (self ? i + 1 : i) - j0);  // pairs (i, j0 .. j0+count-1) are wanted
        if (count <= 0) continue;
        _mm_mask_storeu_ps(pairs + first_pair(i, self) + j0, static_cast<__mmask8>((1u << count) - 1u), rows[ii]);
      }
    }
  }
}

void interaction_sample(int features, int dim, bool self, const SampleRows& rows, float* pairs,
                        const PrefetchRows* next) {
  interaction_blocks<Fp32Dots>(features, dim, self, rows.row, pairs, next);
}

#endif

#if defined(__AVX512BF16__)

void interaction_sample_bf16(int features, int dim_pad, bool self, const uint16_t* block, float* pairs,
                             const PrefetchRows* next) {
  const uint16_t* row[kMaxTables + 1];
  for (int k = 0; k < features; ++k) row[k] = block + static_cast<int64_t>(k) * dim_pad;
  interaction_blocks<Bf16Dots>(features, dim_pad, self, row, pairs, next);
}

#else

// Without AVX512-BF16: the same sums, widened, 16 partial sums per dot product.
void interaction_sample_bf16(int features, int dim_pad, bool self, const uint16_t* block, float* pairs,
                             const PrefetchRows* /*next*/) {
  for (int i = 0; i < features; ++i) {
    const uint16_t* a = block + static_cast<int64_t>(i) * dim_pad;
    const int jend = self ? i + 1 : i;
    for (int j = 0; j < jend; ++j) {
      const uint16_t* c = block + static_cast<int64_t>(j) * dim_pad;
      float lanes[16] = {};
      for (int d = 0; d < dim_pad; d += 16) {
        for (int l = 0; l < 16; ++l) {
          uint32_t x = static_cast<uint32_t>(a[d + l]) << 16, y = static_cast<uint32_t>(c[d + l]) << 16;
          float fx, fy;
          std::memcpy(&fx, &x, 4);
          std::memcpy(&fy, &y, 4);
          lanes[l] += fx * fy;
        }
      }
      float sum = 0.0f;
      for (float v : lanes) sum += v;
      pairs[first_pair(i, self) + j] = sum;
    }
  }
}

#endif

#if !defined(__AVX512F__)  // portable

void interaction_sample(int features, int dim, bool self, const SampleRows& rows, float* pairs,
                        const PrefetchRows* /*next*/) {
  constexpr int kLanes = 16;
  const int full = dim / kLanes * kLanes;
  for (int i = 0; i < features; ++i) {
    const float* a = rows.row[i];
    const int jend = self ? i + 1 : i;
    for (int j = 0; j < jend; ++j) {
      const float* c = rows.row[j];
      float lanes[kLanes] = {};
      for (int d = 0; d < full; d += kLanes) {
        for (int l = 0; l < kLanes; ++l) lanes[l] += a[d + l] * c[d + l];
      }
      float sum = 0.0f;
      for (int l = 0; l < kLanes; ++l) sum += lanes[l];
      for (int d = full; d < dim; ++d) sum += a[d] * c[d];
      pairs[first_pair(i, self) + j] = sum;
    }
  }
}

#endif

// Precision kBf16: each sample's rows, x first, rounded to bf16 into a
// per-thread block [features][dim rounded up to 32] (zero padding), then
// interaction_sample_bf16; x itself still leads dst in fp32.
template <class T>
void interaction_bf16(const InteractionShape& shape, const float* x, const RowSource<T>& src, ElementType type, int batch,
                      float* dst, int64_t dst_stride, bool parallel) {
  const int dim = shape.dim;
  const int dim_pad = (dim + 31) / 32 * 32;
  const int features = shape.features();
#pragma omp parallel if (parallel)
  {
    std::vector<uint16_t> block(static_cast<size_t>(features) * dim_pad, 0);
    std::vector<float> wide(dim);
    PrefetchRows next;
#pragma omp for schedule(static)
    for (int b = 0; b < batch; ++b) {
      const float* x_b = x + static_cast<int64_t>(b) * dim;
      to_half(ElementType::kBf16, x_b, block.data(), dim);
      for (int t = 0; t < shape.tables; ++t) {
        uint16_t* row = block.data() + static_cast<int64_t>(t + 1) * dim_pad;
        const T* from = src.at(t, b);
        if constexpr (std::is_same_v<T, float>) {
          to_half(ElementType::kBf16, from, row, dim);
        } else if (type == ElementType::kBf16) {
          std::memcpy(row, from, sizeof(uint16_t) * dim);
        } else {
          from_half(type, from, wide.data(), dim);
          to_half(ElementType::kBf16, wide.data(), row, dim);
        }
      }
      const bool more = b + kPrefetchAhead < batch;
      if (more) prefetch_rows(src, shape.tables, dim, b + kPrefetchAhead, next);
      float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
      std::memcpy(dst_b, x_b, sizeof(float) * dim);
      interaction_sample_bf16(features, dim_pad, shape.self, block.data(), dst_b + dim, more ? &next : nullptr);
    }
  }
}

// Whether each sample's embedding rows lie next to each other (emb[b][t][dim]).
template <class T>
bool rows_adjacent(const RowSource<T>& src, int count, int dim) {
  if (src.rows) return false;
  for (int t = 1; t < count; ++t) {
    if (src.at(t, 0) != src.at(0, 0) + static_cast<int64_t>(t) * dim) return false;
  }
  return true;
}

// Adjacent fp32 rows are used where they lie. Otherwise each sample's rows are
// first gathered into a per-thread block (16-bit ones widened exactly), so
// rows far apart do not alias in the L1 sets (docs/performance.md).
template <class T>
void interaction_dot_impl(const InteractionShape& shape, const float* x, const RowSource<T>& src, ElementType type,
                          int batch, float* dst, int64_t dst_stride) {
  check_args("interaction_dot", shape, batch, dst_stride);
  const int dim = shape.dim;
  const int features = shape.features();
  const bool self = shape.self;
  // Parallel only when there is enough work to pay for waking the threads,
  // and not inside a parallel region (a caller's thread takes its share).
  const bool parallel =
      static_cast<int64_t>(batch) * shape.pairs() * dim >= (int64_t{1} << 18) && !omp_in_parallel();
  if (shape.precision == ElementType::kBf16) {
    interaction_bf16(shape, x, src, type, batch, dst, dst_stride, parallel);
    return;
  }
#pragma omp parallel if (parallel)
  {
    SampleRows mine;
    PrefetchRows next;
    std::vector<float> block;
    const bool in_place = std::is_same_v<T, float> && rows_adjacent(src, shape.tables, dim);
    if (!in_place) block.resize(static_cast<size_t>(shape.tables) * dim);
#pragma omp for schedule(static)
    for (int b = 0; b < batch; ++b) {
      mine.row[0] = x + static_cast<int64_t>(b) * dim;
      if constexpr (std::is_same_v<T, float>) {
        if (in_place) sample_rows(x, src, shape.tables, dim, b, mine);
      }
      if (!in_place) {
        for (int t = 0; t < shape.tables; ++t) {
          float* row = block.data() + static_cast<int64_t>(t) * dim;
          if constexpr (std::is_same_v<T, float>) {
            std::memcpy(row, src.at(t, b), sizeof(float) * dim);
          } else {
            from_half(type, src.at(t, b), row, dim);
          }
          mine.row[t + 1] = row;
        }
      }
      const bool more = b + kPrefetchAhead < batch;
      if (more) prefetch_rows(src, shape.tables, dim, b + kPrefetchAhead, next);
      float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
      std::memcpy(dst_b, mine.row[0], sizeof(float) * dim);
      interaction_sample(features, dim, self, mine, dst_b + dim, more ? &next : nullptr);
    }
  }
}

// The _ref twins, for either row source. 16-bit rows: widened with the _ref
// converter into emb[batch][tables][dim], then the fp32 _ref.
void interaction_ref(const InteractionShape& shape, const float* x, const RowSource<float>& src, int batch, float* dst,
                     int64_t dst_stride) {
  check_args("interaction_dot_ref", shape, batch, dst_stride);
  const int dim = shape.dim;
  const bool bf16 = shape.precision == ElementType::kBf16;
  SampleRows rows;
  // kBf16: every row rounded to bf16 and widened back (exact); the products of
  // such values are exact in fp32, so the loop below sums exact products.
  std::vector<float> rounded(bf16 ? static_cast<size_t>(shape.features()) * dim : 0);
  std::vector<uint16_t> half(bf16 ? dim : 0);
  for (int b = 0; b < batch; ++b) {
    sample_rows(x, src, shape.tables, dim, b, rows);
    const float* x_exact = rows.row[0];
    for (int k = 0; bf16 && k < shape.features(); ++k) {
      float* r = rounded.data() + static_cast<int64_t>(k) * dim;
      to_half_ref(ElementType::kBf16, rows.row[k], half.data(), dim);
      from_half_ref(ElementType::kBf16, half.data(), r, dim);
      rows.row[k] = r;
    }
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    for (int d = 0; d < dim; ++d) dst_b[d] = x_exact[d];
    int64_t out = dim;
    for (int i = 0; i < shape.features(); ++i) {
      const int jend = shape.self ? i + 1 : i;
      for (int j = 0; j < jend; ++j) {
        const float* a = rows.row[i];
        const float* c = rows.row[j];
        float sum = 0.0f;
        for (int d = 0; d < dim; ++d) sum += a[d] * c[d];
        dst_b[out++] = sum;
      }
    }
  }
}

void interaction_ref(const InteractionShape& shape, const float* x, const RowSource<uint16_t>& src, ElementType type,
                     int batch, float* dst, int64_t dst_stride) {
  check_args("interaction_dot_ref", shape, batch, dst_stride);
  const int64_t row_count = static_cast<int64_t>(batch) * shape.tables;
  std::vector<float> emb(static_cast<size_t>(row_count) * shape.dim);
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < shape.tables; ++t) {
      from_half_ref(type, src.at(t, b), emb.data() + (static_cast<int64_t>(b) * shape.tables + t) * shape.dim,
                    shape.dim);
    }
  }
  std::vector<const void*> tables(shape.tables);
  for (int t = 0; t < shape.tables; ++t) tables[t] = emb.data() + static_cast<int64_t>(t) * shape.dim;
  interaction_ref(shape, x, strided<float>(tables.data(), static_cast<int64_t>(shape.tables) * shape.dim), batch,
                  dst, dst_stride);
}

// The row source of `emb` (T: float for fp32 rows, uint16_t for 16-bit ones);
// kBlock rows get table pointers in `tables`.
template <class T>
RowSource<T> row_source(const EmbeddingRows& emb, std::vector<const void*>& tables) {
  switch (emb.layout) {
    case EmbeddingRows::Layout::kBlock:
      tables.resize(std::max(emb.num_tables, 0));
      for (int t = 0; t < emb.num_tables; ++t) tables[t] = static_cast<const T*>(emb.base) + t * emb.table_stride;
      return strided<T>(tables.data(), emb.sample_stride);
    case EmbeddingRows::Layout::kTables:
      return strided<T>(emb.pointers, emb.sample_stride);
    case EmbeddingRows::Layout::kRows:
      return per_row<T>(emb.pointers, emb.num_tables);
  }
  DLRM_ASSERT(false);
  return {};
}

void check_rows(const InteractionShape& shape, const EmbeddingRows& emb, const char* what) {
  DLRM_CHECK(emb.type == ElementType::kFp32 || kHalfTypes.contains(emb.type),
             "{}: embedding rows of type {}; choose fp32, fp16 or bf16", what, to_string(emb.type));
  DLRM_CHECK(emb.num_tables == shape.tables, "{}: {} tables of embedding rows for an interaction of {} tables", what,
             emb.num_tables, shape.tables);
  DLRM_CHECK(kInteractionTypes.contains(shape.precision), "{}: interaction precision {}; choose {}", what,
             to_string(shape.precision), kInteractionTypes.names());
}

}  // namespace

void interaction_dot(const InteractionShape& shape, const float* x, const EmbeddingRows& emb, int batch, float* dst,
                     int64_t dst_stride) {
  check_rows(shape, emb, "interaction_dot");
  std::vector<const void*> tables;
  if (emb.type == ElementType::kFp32) {
    interaction_dot_impl(shape, x, row_source<float>(emb, tables), ElementType::kFp32, batch, dst, dst_stride);
  } else {
    interaction_dot_impl(shape, x, row_source<uint16_t>(emb, tables), emb.type, batch, dst, dst_stride);
  }
}

void interaction_dot_ref(const InteractionShape& shape, const float* x, const EmbeddingRows& emb, int batch,
                         float* dst, int64_t dst_stride) {
  check_rows(shape, emb, "interaction_dot_ref");
  std::vector<const void*> tables;
  if (emb.type == ElementType::kFp32) {
    interaction_ref(shape, x, row_source<float>(emb, tables), batch, dst, dst_stride);
  } else {
    interaction_ref(shape, x, row_source<uint16_t>(emb, tables), emb.type, batch, dst, dst_stride);
  }
}

}  // namespace dlrm::dense
