// Streaming 64-bit checksum (XXH3-64) used by every dlrm-cluster binary file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace dlrm {

class Checksum {
 public:
  Checksum();
  ~Checksum();
  Checksum(Checksum&&) noexcept;
  Checksum& operator=(Checksum&&) noexcept;
  void update(const void* src, size_t bytes);
  uint64_t digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

uint64_t checksum(const void* src, size_t bytes);
std::string checksum_hex(uint64_t digest);  // 16 lowercase hex digits

}  // namespace dlrm
