// Reading an ONNX model's weights (see onnx_model_impl.h): blocks of rows
// and columns as fp32, through bounded buffers.
#include <algorithm>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/staged_output.h"
#include "onnx_model_impl.h"

namespace dlrm::import {

namespace {

constexpr uint64_t kChunkBytes = 8u << 20;
constexpr int64_t kMaxTransposedElements = 1 << 28;  // dense weights are transposed in memory

// A tensor seen as a matrix (a 1-D tensor is one row).
int64_t matrix_rows(const std::vector<int64_t>& shape) { return shape.size() == 2 ? shape[0] : 1; }
int64_t matrix_cols(const std::vector<int64_t>& shape) {
  return shape.size() == 2 ? shape[1] : shape.size() == 1 ? shape[0] : 1;
}

}  // namespace

void OnnxModel::Impl::read_elements(const Tensor& t, uint64_t first, uint64_t count, float* dst) {
  if (t.in_memory) {
    DLRM_ASSERT(first + count <= t.memory.size());
    std::copy_n(t.memory.data() + first, count, dst);
    return;
  }
  const uint64_t eb = static_cast<uint64_t>(element_bits(t.dtype) / 8);
  uint64_t skip = first * eb;
  uint64_t left = count * eb;
  for (const Span& s : t.spans) {
    if (left == 0) break;
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    uint64_t take = std::min(left, s.length - skip);
    uint64_t offset = s.offset + skip;
    while (take > 0) {
      const uint64_t n = std::min<uint64_t>(take, kChunkBytes / eb * eb);
      if (t.dtype == ElementType::kFp32) {
        read_exact(t.file->fd, t.file->path, dst, n, offset, t.where);
      } else {
        buffer.resize(n);
        read_exact(t.file->fd, t.file->path, buffer.data(), n, offset, t.where);
        convert_to_f32(t.dtype, buffer.data(), n / eb, dst);
      }
      dst += n / eb;
      offset += n;
      take -= n;
      left -= n;
    }
    skip = 0;
  }
  DLRM_ASSERT(left == 0);
}

void OnnxModel::Impl::read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end,
                                 float* dst) {
  DLRM_CHECK(index < tensors.size(), "{}: no tensor {}", path.string(), index);
  const Tensor& t = tensors[index];
  const std::vector<int64_t>& shape = t.info.shape;
  const int64_t total_rows = matrix_rows(shape);
  const int64_t total_cols = matrix_cols(shape);
  DLRM_CHECK(row_begin >= 0 && rows >= 0 && row_begin + rows <= total_rows && col_begin >= 0 &&
                 col_begin <= col_end && col_end <= total_cols,
             "{}: block rows [{}, {}) cols [{}, {}) is outside {} {}", path.string(), row_begin, row_begin + rows,
             col_begin, col_end, t.where, shape_string(shape));
  DLRM_CHECK(kWeightTypes.contains(t.dtype), "{}: {} holds {} values, not floats", path.string(), t.where,
             t.info.dtype_name);
  const int64_t cols = col_end - col_begin;
  if (rows == 0 || cols == 0) return;
  if (t.transposed) {
    read_transposed(t, row_begin, rows, col_begin, cols, dst);
  } else if (cols == total_cols) {
    read_elements(t, static_cast<uint64_t>(row_begin * total_cols), static_cast<uint64_t>(rows * cols), dst);
  } else {
    read_column_slice(t, row_begin, rows, col_begin, cols, dst);
  }
}

void OnnxModel::Impl::read_transposed(const Tensor& t, int64_t row_begin, int64_t rows, int64_t col_begin,
                                      int64_t cols, float* dst) {
  // Stored [in, out] = [total_cols, total_rows]: read the stored rows
  // [col_begin, col_end) whole and transpose (dense weights only).
  const int64_t total_rows = matrix_rows(t.info.shape);
  DLRM_CHECK(cols * total_rows <= kMaxTransposedElements, "{}: {} is too large to transpose in memory",
             path.string(), t.where);
  std::vector<float> stored(static_cast<size_t>(cols * total_rows));
  read_elements(t, static_cast<uint64_t>(col_begin * total_rows), stored.size(), stored.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = stored[c * total_rows + row_begin + r];
  }
}

void OnnxModel::Impl::read_column_slice(const Tensor& t, int64_t row_begin, int64_t rows, int64_t col_begin,
                                        int64_t cols, float* dst) {
  // Reads as many rows as fit the bounded buffer in one run (from the
  // slice's first column of the first row to its last column of the last
  // row) and cuts the columns out.
  const int64_t total_cols = matrix_cols(t.info.shape);
  const auto span = static_cast<uint64_t>(total_cols);
  const uint64_t chunk_elems = kChunkBytes / sizeof(float);
  const uint64_t per_read = span <= chunk_elems ? chunk_elems / span : 1;
  for (int64_t r = 0; r < rows;) {
    const auto n = static_cast<int64_t>(std::min<uint64_t>(per_read, static_cast<uint64_t>(rows - r)));
    const auto first = static_cast<uint64_t>((row_begin + r) * total_cols + col_begin);
    if (n == 1) {
      read_elements(t, first, static_cast<uint64_t>(cols), dst + r * cols);
    } else {
      const uint64_t extent = static_cast<uint64_t>(n - 1) * span + static_cast<uint64_t>(cols);
      rows_buffer.resize(static_cast<size_t>(extent));
      read_elements(t, first, extent, rows_buffer.data());
      for (int64_t k = 0; k < n; ++k) {
        std::copy_n(rows_buffer.data() + k * span, cols, dst + (r + k) * cols);
      }
    }
    r += n;
  }
}

}  // namespace dlrm::import
