// Private to dense/: a 64-byte aligned buffer that only grows, for MLP
// activations and oneDNN scratchpads (no allocation once warm).
#pragma once

#include <cstdlib>

#include "dlrm/common/error.h"

namespace dlrm::dense {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }

  void reserve_bytes(size_t bytes) {
    if (bytes <= bytes_) return;
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    DLRM_CHECK(p != nullptr, "out of memory allocating {} bytes of MLP buffers", rounded);
    std::free(data_);
    data_ = p;
    bytes_ = rounded;
  }
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace dlrm::dense
