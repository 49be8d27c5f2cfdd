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
// Precision kBf16: every row of T, x included, is first rounded to bf16
// (nearest even, as to_half), then the products, exact in fp32, are summed
// in fp32 (AVX512-BF16 VDPBF16PS in the fast version, where subnormal bf16
// inputs count as zero); the _ref twin sums the exact products in ascending
// order. Embedding rows may be fp32 or 16-bit (fp16/bf16), widened exactly as
// they are read.
#pragma once

#include <cstdint>
#include <string>

#include "dlrm/common/element_type.h"

namespace dlrm::dense {

// The precision of the products: fp32 or bf16.
inline constexpr ElementTypes kInteractionTypes{ElementType::kFp32, ElementType::kBf16};

struct InteractionShape {
  int tables = 26;
  int dim = 128;
  bool self = false;
  ElementType precision = ElementType::kFp32;  // one of kInteractionTypes
  int features() const { return tables + 1; }
  int pairs() const { return self ? features() * (features() + 1) / 2 : features() * (features() - 1) / 2; }
  int width() const { return dim + pairs(); }
};

// Where the embedding rows of a batch lie: sample b's row of table t is dim
// elements of `type` (fp32, fp16 or bf16) at
//   kBlock:   base + b * sample_stride + t * table_stride   (an assembled emb[batch][tables][dim])
//   kTables:  tables[t] + b * sample_stride                 (each table's rows evenly spaced)
//   kRows:    rows[b * num_tables + t]                      (a pointer per row)
// Strides are in elements.
struct EmbeddingRows {
  enum class Layout { kBlock, kTables, kRows };
  Layout layout = Layout::kBlock;
  ElementType type = ElementType::kFp32;
  int num_tables = 0;
  const void* base = nullptr;              // kBlock
  const void* const* pointers = nullptr;   // kTables: one per table; kRows: one per (sample, table)
  int64_t sample_stride = 0, table_stride = 0;

  // emb[batch][tables][dim] fp32.
  static EmbeddingRows block(const float* emb, int tables, int dim) {
    return {Layout::kBlock, ElementType::kFp32, tables, emb, nullptr, int64_t{tables} * dim, dim};
  }
  static EmbeddingRows per_table(const void* const* tables, int num_tables, int64_t sample_stride,
                                 ElementType type) {
    return {Layout::kTables, type, num_tables, nullptr, tables, sample_stride, 0};
  }
  static EmbeddingRows per_row(const void* const* rows, int num_tables, ElementType type) {
    return {Layout::kRows, type, num_tables, nullptr, rows, 0, 0};
  }
};

// x: [batch, dim] fp32; dst: [batch, dst_stride] with dst_stride >= width();
// columns past width() are left untouched. Throws dlrm::Error on a bad shape,
// stride or row type.
void interaction_dot(const InteractionShape& shape, const float* x, const EmbeddingRows& emb, int batch, float* dst,
                     int64_t dst_stride);
void interaction_dot_ref(const InteractionShape& shape, const float* x, const EmbeddingRows& emb, int batch,
                         float* dst, int64_t dst_stride);

}  // namespace dlrm::dense
