// Private to shard/: what the shard and dense file formats share.
#pragma once

#include <cstdint>
#include <cstring>

#include "dlrm/common/checksum.h"

namespace dlrm::model {

inline uint64_t round_up(uint64_t n, uint64_t align) { return (n + align - 1) / align * align; }

// XXH3 of a header block [0, bytes) with the header's header_checksum field
// taken as zero (Header: ShardFileHeader or DenseFileHeader).
template <class Header>
uint64_t header_checksum_of(const uint8_t* block, size_t bytes) {
  Header header;
  std::memcpy(&header, block, sizeof(header));
  header.header_checksum = 0;
  Checksum sum;
  sum.update(&header, sizeof(header));
  sum.update(block + sizeof(header), bytes - sizeof(header));
  return sum.digest();
}

}  // namespace dlrm::model
