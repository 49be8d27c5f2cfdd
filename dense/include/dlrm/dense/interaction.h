// The DLRM "dot" feature interaction, writing the top MLP's input directly.
//
// For each sample b, with T = [x_b, e_b0, .., e_b(n-1)] as F = n + 1 rows of dim:
//   dst[b] = concat(x_b, { <T_i, T_j> : i in [1, F), j in [0, i) }        (self = false)
//   dst[b] = concat(x_b, { <T_i, T_j> : i in [0, F), j in [0, i] })       (self = true)
// i.e. the strict (or full) lower triangle of Z = T T^T in row-major order
// (1,0),(2,0),(2,1),(3,0),... Width: dim + F(F-1)/2 (+ F with self).
// The _ref twin accumulates each dot product over the dim in ascending order;
// the fast version may use another order (tests bound the difference).
//
// Precision kBf16 (for int8 MLPs, whose input is quantized to 8 bits anyway):
// every row of T, x included, is first rounded to bf16 (nearest even, as
// to_half), then the products, exact in fp32, are summed in fp32. The fast
// version runs AVX512-BF16 VDPBF16PS (half the instructions of fp32 FMAs;
// subnormal bf16 inputs count as zero there); the _ref twin sums the exact
// products in ascending order.
#pragma once

#include <cstdint>
#include <string>

#include "dlrm/common/half.h"

namespace dlrm::dense {

enum class InteractionPrecision { kFp32, kBf16 };
InteractionPrecision parse_interaction_precision(const std::string& name);  // "fp32", "bf16"
const char* to_string(InteractionPrecision precision);

struct InteractionShape {
  int tables = 26;
  int dim = 128;
  bool self = false;
  InteractionPrecision precision = InteractionPrecision::kFp32;
  int features() const { return tables + 1; }
  int pairs() const { return self ? features() * (features() + 1) / 2 : features() * (features() - 1) / 2; }
  int width() const { return dim + pairs(); }
};

// x: [batch, dim]; emb: [batch, tables, dim]; dst: [batch, dst_stride] with
// dst_stride >= width(); columns past width() are left untouched.
void interaction_dot(const InteractionShape& shape, const float* x, const float* emb, int batch, float* dst,
                     int64_t dst_stride);
void interaction_dot_ref(const InteractionShape& shape, const float* x, const float* emb, int batch,
                         float* dst, int64_t dst_stride);

// The same with the embeddings table by table, wherever they lie: sample b's
// row of table t is tables[t] + b * sample_stride (dim floats). The cluster
// passes the shard ranks' answers this way, without assembling them first
// (emb above is tables[t] = emb + t * dim, sample_stride = tables * dim).
void interaction_dot(const InteractionShape& shape, const float* x, const float* const* tables,
                     int64_t sample_stride, int batch, float* dst, int64_t dst_stride);
void interaction_dot_ref(const InteractionShape& shape, const float* x, const float* const* tables,
                         int64_t sample_stride, int batch, float* dst, int64_t dst_stride);

// The same with 16-bit embedding rows (the cluster's answers under
// --exchange-dtype fp16/bf16), widened exactly to fp32 as each sample is
// computed: the results equal widening everything first and calling the fp32
// form, without the pass over the whole batch.
void interaction_dot(const InteractionShape& shape, const float* x, const uint16_t* const* tables, HalfType type,
                     int64_t sample_stride, int batch, float* dst, int64_t dst_stride);
void interaction_dot_ref(const InteractionShape& shape, const float* x, const uint16_t* const* tables, HalfType type,
                         int64_t sample_stride, int batch, float* dst, int64_t dst_stride);

// The same with a pointer per row: sample b's row of table t is
// rows[b * tables + t] (dim values). The cluster passes answers of tables
// split by rows over several shards this way (each sample's row is in the
// answer of the shard that owns it).
void interaction_dot_rows(const InteractionShape& shape, const float* x, const float* const* rows, int batch,
                          float* dst, int64_t dst_stride);
void interaction_dot_rows_ref(const InteractionShape& shape, const float* x, const float* const* rows, int batch,
                              float* dst, int64_t dst_stride);
void interaction_dot_rows(const InteractionShape& shape, const float* x, const uint16_t* const* rows, HalfType type,
                          int batch, float* dst, int64_t dst_stride);
void interaction_dot_rows_ref(const InteractionShape& shape, const float* x, const uint16_t* const* rows,
                              HalfType type, int batch, float* dst, int64_t dst_stride);

}  // namespace dlrm::dense
