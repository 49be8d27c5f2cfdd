// Embedding-bag kernels over the rows of one shard slice (sum pooling).
//
// embedding_bag_sum:
//   for b in [0, batch): dst[b*dst_stride + c] = sum_{k in [offsets[b], offsets[b+1])}
//                                                 row(indices[k])[c],  c in [0, cols)
//   (an empty bag gives zeros; indices are local rows of the slice)
// embedding_gather (one index per bag, the common case):
//   for b in [0, n): dst[b*dst_stride + c] = row(indices[b])[c]
// Both return the number of indices outside [0, num_rows); those contribute
// nothing (gather writes a zero row for them). row(i) is the stored row
// decoded to fp32 (layouts in dlrm/model/row_codec.h):
//   fp32 as stored; fp16 converted exactly; int8, int4: fmaf(code[c], scale, bias)
// so the sum of a bag is 0 + row(i_0) + row(i_1) + ... per column in fp32, in
// index order: a quantized table gives bit for bit what the fp32 kernels give
// on its dequantized rows. The _ref twins are plain scalar loops (decode_row,
// then add in index order); the fast versions (AVX-512) do the same operations
// in the same order, so results are bit-identical for every storage type.
#pragma once

#include <cstdint>

#include "dlrm/model/row_codec.h"

namespace dlrm::shard {

// Indices per call below which the fast kernels run on the calling thread
// alone (waking threads costs more than it saves).
inline constexpr int64_t kParallelIndices = 4096;

int64_t embedding_bag_sum(const model::RowsView& src, const int32_t* indices, const int32_t* offsets, int batch,
                          float* dst, int64_t dst_stride);
int64_t embedding_bag_sum_ref(const model::RowsView& src, const int32_t* indices, const int32_t* offsets,
                              int batch, float* dst, int64_t dst_stride);

int64_t embedding_gather(const model::RowsView& src, const int32_t* indices, int n, float* dst, int64_t dst_stride);
int64_t embedding_gather_ref(const model::RowsView& src, const int32_t* indices, int n, float* dst,
                             int64_t dst_stride);

// Decodes one stored row to fp32 (dst has cols values). Plain, for references.
// Any storage type (row_codec.h's decode_row on the row's bytes).
void decode_row_ref(const model::RowsView& src, int64_t row, float* dst);

}  // namespace dlrm::shard
