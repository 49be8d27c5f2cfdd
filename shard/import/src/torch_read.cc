// Reading a PyTorch checkpoint's tensors (see torch_checkpoint_impl.h): a
// block of a tensor of rank <= 2, whatever its strides, as fp32 through a
// bounded buffer.
#include <algorithm>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/common/zip.h"
#include "torch_checkpoint_impl.h"

namespace dlrm::import {

namespace {

constexpr uint64_t kChunkBytes = 8u << 20;  // bounded read buffer

using Impl = TorchCheckpoint::Impl;

// Mathematical (row, column) view of a tensor of any rank <= 2.
struct Matrix {
  int64_t rows = 1, cols = 1, row_stride = 0, col_stride = 0;
};

Matrix as_matrix(const TorchTensorLayout& t) {
  Matrix m;
  if (t.size.size() == 2) {
    m.rows = t.size[0];
    m.cols = t.size[1];
    m.row_stride = t.stride[0];
    m.col_stride = t.stride[1];
  } else if (t.size.size() == 1) {
    m.cols = t.size[0];
    m.col_stride = t.stride[0];
  }
  return m;
}

// One read_block request: rows [row_begin, row_begin + rows) and columns
// [col_begin, col_begin + cols) of tensor `t`, none of them empty.
struct Block {
  const TorchTensorLayout& t;
  const StorageKind& kind;
  Matrix m;
  int64_t row_begin, rows, col_begin, cols;
  int eb;                // bytes per stored element
  uint64_t chunk_elems;  // elements per bounded read

  // Storage element index of (r, c).
  int64_t element(int64_t r, int64_t c) const { return t.storage_offset + r * m.row_stride + c * m.col_stride; }
};

// Whole rows, back to back: the block is one run of elements.
void read_run(Impl& impl, const Block& b, float* dst) {
  const uint64_t total = static_cast<uint64_t>(b.rows) * b.cols;
  const uint64_t first = static_cast<uint64_t>(b.element(b.row_begin, 0));
  if (b.kind.dtype == ElementType::kFp32) {
    for (uint64_t done = 0; done < total; done += b.chunk_elems) {
      uint64_t n = std::min(b.chunk_elems, total - done);
      impl.read_storage(b.t.storage, (first + done) * 4, n * 4, dst + done);
    }
    return;
  }
  impl.buffer.resize(static_cast<size_t>(std::min(b.chunk_elems, total) * b.eb));
  for (uint64_t done = 0; done < total; done += b.chunk_elems) {
    uint64_t n = std::min(b.chunk_elems, total - done);
    impl.read_storage(b.t.storage, (first + done) * b.eb, n * b.eb, impl.buffer.data());
    convert_to_f32(b.kind.dtype, impl.buffer.data(), n, dst + done);
  }
}

// Row by row, each row's columns contiguous; rows batched when the span
// between them is small.
void read_rows(Impl& impl, const Block& b, float* dst) {
  const int eb = b.eb;
  const uint64_t span = static_cast<uint64_t>(b.m.row_stride);
  const uint64_t per_read = span > 0 && span <= b.chunk_elems ? std::max<uint64_t>(1, b.chunk_elems / span) : 1;
  for (int64_t r = 0; r < b.rows;) {
    const int64_t n = static_cast<int64_t>(std::min<uint64_t>(per_read, b.rows - r));
    const uint64_t first = static_cast<uint64_t>(b.element(b.row_begin + r, b.col_begin));
    const uint64_t extent = (n - 1) * span + b.cols;
    impl.buffer.resize(static_cast<size_t>(extent * eb));
    impl.read_storage(b.t.storage, first * eb, extent * eb, impl.buffer.data());
    for (int64_t k = 0; k < n; ++k) {
      convert_to_f32(b.kind.dtype, impl.buffer.data() + k * span * eb, b.cols, dst + (r + k) * b.cols);
    }
    r += n;
  }
}

// Column-major: each column's rows are contiguous.
void read_columns(Impl& impl, const Block& b, float* dst) {
  const int eb = b.eb;
  std::vector<float> column(static_cast<size_t>(std::min<uint64_t>(b.chunk_elems, b.rows)));
  impl.buffer.resize(column.size() * eb);
  for (int64_t c = 0; c < b.cols; ++c) {
    for (int64_t r = 0; r < b.rows;) {
      const int64_t n = static_cast<int64_t>(std::min<uint64_t>(column.size(), b.rows - r));
      impl.read_storage(b.t.storage, static_cast<uint64_t>(b.element(b.row_begin + r, b.col_begin + c)) * eb, n * eb,
                        impl.buffer.data());
      convert_to_f32(b.kind.dtype, impl.buffer.data(), n, column.data());
      for (int64_t k = 0; k < n; ++k) dst[(r + k) * b.cols + c] = column[k];
      r += n;
    }
  }
}

// Neither axis contiguous (a strided slice): element by element, buffered
// per row when it fits.
void read_strided(Impl& impl, const Block& b, float* dst) {
  const int eb = b.eb;
  const uint64_t row_extent = static_cast<uint64_t>((b.cols - 1) * b.m.col_stride + 1);
  for (int64_t r = 0; r < b.rows; ++r) {
    if (row_extent <= b.chunk_elems) {
      impl.buffer.resize(row_extent * eb);
      impl.read_storage(b.t.storage, static_cast<uint64_t>(b.element(b.row_begin + r, b.col_begin)) * eb,
                        row_extent * eb, impl.buffer.data());
      for (int64_t c = 0; c < b.cols; ++c) {
        convert_to_f32(b.kind.dtype, impl.buffer.data() + c * b.m.col_stride * eb, 1, dst + r * b.cols + c);
      }
    } else {
      uint8_t raw[8];
      for (int64_t c = 0; c < b.cols; ++c) {
        impl.read_storage(b.t.storage, static_cast<uint64_t>(b.element(b.row_begin + r, b.col_begin + c)) * eb, eb,
                          raw);
        convert_to_f32(b.kind.dtype, raw, 1, dst + r * b.cols + c);
      }
    }
  }
}

}  // namespace

void TorchCheckpoint::Impl::read_storage(size_t index, uint64_t offset, size_t bytes, void* dst) {
  const Storage& s = storages[index];
  DLRM_ASSERT(offset + bytes <= static_cast<uint64_t>(s.numel) * s.kind->bytes);
  if (format == TorchFormat::kLegacy) {
    read_exact(file, path, dst, bytes, s.file_offset + offset, s.data_what, kCopyAgain);
    return;
  }
  if (entry_storage != index) {
    if (entry) zip_fclose(entry);
    entry = zip_fopen_index(zip, static_cast<zip_uint64_t>(s.zip_index), 0);
    entry_storage = entry ? index : SIZE_MAX;
    DLRM_CHECK(entry != nullptr, "{}: cannot open {}: {}", path.string(), entry_name(s), zip_strerror(zip));
  }
  DLRM_CHECK(zip_fseek(entry, static_cast<zip_int64_t>(offset), SEEK_SET) == 0, "{}: cannot seek in {}: {}",
             path.string(), entry_name(s), zip_file_strerror(entry));
  zip_read_exact(entry, dst, bytes, path, [&] { return fmt::format("{} at byte {}", entry_name(s), offset); });
}

void TorchCheckpoint::Impl::read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin,
                                       int64_t col_end, float* dst) {
  DLRM_CHECK(index < layouts.size(), "{}: no tensor {}", path.string(), index);
  const TorchTensorLayout& t = layouts[index];
  const Storage& s = storages[t.storage];
  const Matrix m = as_matrix(t);
  DLRM_CHECK(row_begin >= 0 && rows >= 0 && row_begin + rows <= m.rows && col_begin >= 0 && col_begin <= col_end &&
                 col_end <= m.cols,
             "{}: block rows [{}, {}) cols [{}, {}) is outside tensor '{}' {}", path.string(), row_begin,
             row_begin + rows, col_begin, col_end, tensors[index].name, shape_string(t.size));
  const int64_t cols = col_end - col_begin;
  if (rows == 0 || cols == 0) return;
  DLRM_CHECK(kWeightTypes.contains(s.kind->dtype), "{}: tensor '{}' holds {} values, not floats", path.string(),
             tensors[index].name, s.kind->dtype_name);
  const Block b{.t = t,
                .kind = *s.kind,
                .m = m,
                .row_begin = row_begin,
                .rows = rows,
                .col_begin = col_begin,
                .cols = cols,
                .eb = s.kind->bytes,
                .chunk_elems = std::max<uint64_t>(1, kChunkBytes / s.kind->bytes)};
  if (m.col_stride == 1 || cols == 1) {
    const bool dense_rows = m.row_stride == m.cols || rows == 1;
    if (dense_rows && cols == m.cols) {
      read_run(*this, b, dst);
    } else {
      read_rows(*this, b, dst);
    }
  } else if (m.row_stride == 1) {
    read_columns(*this, b, dst);
  } else {
    read_strided(*this, b, dst);
  }
}

}  // namespace dlrm::import
