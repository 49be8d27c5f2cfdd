// Where the unpickler's bytes come from (see pickle.h): memory, or a file
// region read through a 64 KB buffer.
#include <algorithm>
#include <cstring>

#include "dlrm/import/pickle.h"

namespace dlrm::import::pickle {

bool MemorySource::read(void* dst, size_t n) {
  if (n > size_ - pos_) return false;
  if (n) std::memcpy(dst, data_ + pos_, n);
  pos_ += n;
  return true;
}

FileSource::FileSource(std::FILE* file, uint64_t offset, uint64_t end) : file_(file), pos_(offset), end_(end) {
  buffer_start_ = offset;
}

bool FileSource::read(void* dst, size_t n) {
  if (n > end_ - pos_) return false;
  auto* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    uint64_t in_buffer_end = buffer_start_ + buffer_.size();
    if (pos_ >= buffer_start_ && pos_ < in_buffer_end) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, in_buffer_end - pos_));
      std::memcpy(out, buffer_.data() + (pos_ - buffer_start_), take);
      out += take;
      pos_ += take;
      n -= take;
      continue;
    }
    // Refill: 64 KB from pos_ (never past end_).
    constexpr uint64_t kBlock = 64 << 10;
    size_t want = static_cast<size_t>(std::min<uint64_t>(kBlock, end_ - pos_));
    buffer_.resize(want);
    buffer_start_ = pos_;
    if (::fseeko(file_, static_cast<off_t>(pos_), SEEK_SET) != 0) return false;
    size_t got = std::fread(buffer_.data(), 1, want, file_);
    buffer_.resize(got);
    if (got == 0) return false;
  }
  return true;
}

}  // namespace dlrm::import::pickle
