// Embedding-bag kernels over the rows of one shard slice (sum pooling).
//
// embedding_bag_sum:
//   for b in [0, batch): dst[b*dst_stride + c] = sum_{k in [offsets[b], offsets[b+1])}
//                                                 row(indices[k])[c],  c in [0, cols)
//   (an empty bag gives zeros; indices are local rows of the slice)
// embedding_gather (one index per bag, the common case):
//   for b in [0, n): dst[b*dst_stride + c] = row(indices[b])[c]
// Both return the number of indices outside [0, num_rows); those contribute
// nothing (gather writes a zero row for them). The _ref twins are plain scalar
// loops, summing in index order; the fast versions sum in the same order, so
// fp32 results are bit-identical.
#pragma once

#include <cstdint>

#include "dlrm/shard/model.h"

namespace dlrm::shard {

struct RowsView {
  const uint8_t* rows = nullptr;
  uint64_t stride = 0;  // bytes per row
  int64_t num_rows = 0;
  int cols = 0;
  StorageType type = StorageType::kFp32;
};

int64_t embedding_bag_sum(const RowsView& src, const int32_t* indices, const int32_t* offsets, int batch,
                          float* dst, int64_t dst_stride);
int64_t embedding_bag_sum_ref(const RowsView& src, const int32_t* indices, const int32_t* offsets,
                              int batch, float* dst, int64_t dst_stride);

int64_t embedding_gather(const RowsView& src, const int32_t* indices, int n, float* dst, int64_t dst_stride);
int64_t embedding_gather_ref(const RowsView& src, const int32_t* indices, int n, float* dst,
                             int64_t dst_stride);

// Decodes one stored row to fp32 (dst has cols values). Plain, for references.
void decode_row_ref(const RowsView& src, int64_t row, float* dst);

}  // namespace dlrm::shard
