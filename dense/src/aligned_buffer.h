// Private to dense/: a 64-byte aligned buffer that only grows, for MLP
// activations, and the user-mode oneDNN scratchpad every primitive of one MLP
// shares (no allocation once warm).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
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

// One scratchpad for all the primitives of an MLP: require() each
// primitive's need as it is built, then bind() to (re)build the memory object
// over the grown buffer and point every primitive at it.
class SharedScratchpad {
 public:
  void require(size_t bytes) { bytes_ = std::max(bytes_, bytes); }
  const dnnl::memory& bind(const dnnl::engine& engine) {
    const size_t bytes = std::max<size_t>(bytes_, 64);
    buffer_.reserve_bytes(bytes);
    memory_ = dnnl::memory(
        dnnl::memory::desc({static_cast<dnnl::memory::dim>(bytes)}, dnnl::memory::data_type::u8,
                           dnnl::memory::format_tag::x),
        engine, buffer_.data());
    return memory_;
  }

 private:
  AlignedBuffer buffer_;
  dnnl::memory memory_;
  size_t bytes_ = 0;
};

}  // namespace dlrm::dense
