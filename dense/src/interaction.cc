// The dot interaction (see interaction.h).
//
// Fast version, per sample: the F x F Gram matrix of T is computed in 4 x 4
// blocks of feature pairs on or below the diagonal. Each block keeps 16 AVX-512
// accumulators (one per pair, 16 lanes of the dim each), loads 4 + 4 rows per
// 16 floats of the dim and does 16 FMAs; at the end one shuffle tree reduces the
// 16 accumulators to one vector holding the 16 dot products, whose rows are
// stored (masked) straight into the triangle of dst. A sample's T (27 x 128 fp32
// = 13.5 KiB in the DLRM) stays in L1 throughout, and the next sample's
// embeddings are prefetched while it is computed. Samples run in parallel over
// OpenMP threads. Without AVX-512 a portable loop with 16 partial sums per dot
// product (which compilers vectorise) is used instead.
#include "dlrm/dense/interaction.h"

#include <algorithm>
#include <cstring>

#if defined(__AVX512F__)
// GCC 12 reports its own _mm512_undefined_ps() placeholders inside the shuffle
// intrinsics as maybe-uninitialized (a false positive); silence it for them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#include "dlrm/common/error.h"

namespace dlrm::dense {

namespace {

// Row k of T for one sample: x_b for k = 0, else embedding k - 1.
inline const float* feature_row(const float* x_b, const float* emb_b, int dim, int k) {
  return k == 0 ? x_b : emb_b + static_cast<int64_t>(k - 1) * dim;
}

// Where row i of the triangle starts in the pair list: pair (i, j) lands at
// first_pair(i) + j.
inline int first_pair(int i, bool self) { return self ? i * (i + 1) / 2 : i * (i - 1) / 2; }

void check_args(const char* what, const InteractionShape& shape, int batch, int64_t dst_stride) {
  DLRM_CHECK(shape.tables >= 0 && shape.dim > 0, "{}: invalid shape tables={} dim={}", what, shape.tables,
             shape.dim);
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

// Also prefetches [prefetch, prefetch + prefetch_bytes) (the next sample's
// embeddings) into L1, spread over the blocks.
void interaction_sample(int features, int dim, bool self, const float* x_b, const float* emb_b, float* pairs,
                        const float* next, int64_t next_bytes) {
  const int full = dim / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (dim % 16)) - 1u);
  const int blocks = (features + 3) / 4;
  const char* prefetch = reinterpret_cast<const char*>(next);
  const int64_t prefetch_bytes = next_bytes;
  int64_t prefetch_offset = 0;
  const int64_t block_pairs = static_cast<int64_t>(blocks) * (blocks + 1) / 2;
  const int prefetch_lines_per_block = static_cast<int>((next_bytes / 64 + block_pairs) / block_pairs);
  for (int ib = 0; ib < blocks; ++ib) {
    const float* a[4];
    for (int ii = 0; ii < 4; ++ii) a[ii] = feature_row(x_b, emb_b, dim, std::min(ib * 4 + ii, features - 1));
    for (int jb = 0; jb <= ib; ++jb) {
      const float* c[4];
      for (int jj = 0; jj < 4; ++jj) c[jj] = feature_row(x_b, emb_b, dim, std::min(jb * 4 + jj, features - 1));
      __m512 acc[16];
#pragma GCC unroll 16
      for (int p = 0; p < 16; ++p) acc[p] = _mm512_setzero_ps();
      for (int d = 0; d < full; d += 16) {
        __m512 va[4], vc[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          va[k] = _mm512_loadu_ps(a[k] + d);
          vc[k] = _mm512_loadu_ps(c[k] + d);
        }
        // Keep all eight rows in registers. Otherwise GCC folds each vc load into
        // the four FMAs using it (20 loads per 16 FMAs); measured 1.8x slower.
        asm("" : "+v"(va[0]), "+v"(va[1]), "+v"(va[2]), "+v"(va[3]), "+v"(vc[0]), "+v"(vc[1]), "+v"(vc[2]),
            "+v"(vc[3]));
#pragma GCC unroll 4
        for (int ii = 0; ii < 4; ++ii) {
#pragma GCC unroll 4
          for (int jj = 0; jj < 4; ++jj) acc[ii * 4 + jj] = _mm512_fmadd_ps(va[ii], vc[jj], acc[ii * 4 + jj]);
        }
      }
      for (int l = 0; l < prefetch_lines_per_block && prefetch_offset < prefetch_bytes; ++l, prefetch_offset += 64) {
        _mm_prefetch(prefetch + prefetch_offset, _MM_HINT_T0);
      }
      if (tail != 0) {
        __m512 va[4], vc[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          va[k] = _mm512_maskz_loadu_ps(tail, a[k] + full);
          vc[k] = _mm512_maskz_loadu_ps(tail, c[k] + full);
        }
#pragma GCC unroll 4
        for (int ii = 0; ii < 4; ++ii) {
#pragma GCC unroll 4
          for (int jj = 0; jj < 4; ++jj) acc[ii * 4 + jj] = _mm512_fmadd_ps(va[ii], vc[jj], acc[ii * 4 + jj]);
        }
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

#else  // portable

void interaction_sample(int features, int dim, bool self, const float* x_b, const float* emb_b, float* pairs,
                        const float* /*next*/, int64_t /*next_bytes*/) {
  constexpr int kLanes = 16;
  const int full = dim / kLanes * kLanes;
  for (int i = 0; i < features; ++i) {
    const float* a = feature_row(x_b, emb_b, dim, i);
    const int jend = self ? i + 1 : i;
    for (int j = 0; j < jend; ++j) {
      const float* c = feature_row(x_b, emb_b, dim, j);
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

}  // namespace

void interaction_dot(const InteractionShape& shape, const float* x, const float* emb, int batch, float* dst,
                     int64_t dst_stride) {
  check_args("interaction_dot", shape, batch, dst_stride);
  const int dim = shape.dim;
  const int features = shape.features();
  const int tables = shape.tables;
  const bool self = shape.self;
  // Parallel only when there is enough work to pay for waking the threads.
  const bool parallel = static_cast<int64_t>(batch) * shape.pairs() * dim >= (int64_t{1} << 18);
#pragma omp parallel for schedule(static) if (parallel)
  for (int b = 0; b < batch; ++b) {
    const float* x_b = x + static_cast<int64_t>(b) * dim;
    const float* emb_b = emb + static_cast<int64_t>(b) * tables * dim;
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    std::memcpy(dst_b, x_b, sizeof(float) * dim);
    const int64_t next_bytes = b + 1 < batch ? static_cast<int64_t>(tables) * dim * 4 : 0;
    interaction_sample(features, dim, self, x_b, emb_b, dst_b + dim, emb_b + static_cast<int64_t>(tables) * dim,
                       next_bytes);
  }
}

void interaction_dot_ref(const InteractionShape& shape, const float* x, const float* emb, int batch, float* dst,
                         int64_t dst_stride) {
  check_args("interaction_dot_ref", shape, batch, dst_stride);
  const int dim = shape.dim;
  for (int b = 0; b < batch; ++b) {
    const float* x_b = x + static_cast<int64_t>(b) * dim;
    const float* emb_b = emb + static_cast<int64_t>(b) * shape.tables * dim;
    float* dst_b = dst + static_cast<int64_t>(b) * dst_stride;
    for (int d = 0; d < dim; ++d) dst_b[d] = x_b[d];
    int64_t out = dim;
    for (int i = 0; i < shape.features(); ++i) {
      const int jend = shape.self ? i + 1 : i;
      for (int j = 0; j < jend; ++j) {
        const float* a = feature_row(x_b, emb_b, dim, i);
        const float* c = feature_row(x_b, emb_b, dim, j);
        float sum = 0.0f;
        for (int d = 0; d < dim; ++d) sum += a[d] * c[d];
        dst_b[out++] = sum;
      }
    }
  }
}

}  // namespace dlrm::dense
