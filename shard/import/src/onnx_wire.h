// The protobuf wire level of ONNX files (private to dlrm_import): a bounded
// reader over a byte range of a file, and the TensorProto scan that locates an
// initializer's payloads by file offset instead of loading them.
//
// Field numbers from onnx.proto: ModelProto graph = 7; GraphProto node = 1,
// initializer = 5; TensorProto dims = 1, data_type = 2, segment = 3,
// float_data = 4, int32_data = 5, name = 8, raw_data = 9, double_data = 10,
// external_data = 13 (StringStringEntryProto key = 1, value = 2),
// data_location = 14.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/common/staged_output.h"

namespace dlrm::import {

// A file opened for pread.
struct DataFile {
  std::filesystem::path path;
  int fd = -1;
  uint64_t bytes = 0;
  ~DataFile() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens `path` for pread; `purpose` ends the error messages (" (external
// data of initializer 'x' of m.onnx; ...)", or ""). Throws when it is
// missing, unreadable or not a regular file.
std::shared_ptr<DataFile> open_data_file(const std::filesystem::path& path, const std::string& purpose);

// Protobuf wire-format reader over bytes [begin, end) of a file, buffered.
class Wire {
 public:
  Wire(const DataFile& file, uint64_t begin, uint64_t end, std::string what)
      : file_(file), pos_(begin), end_(end), what_(std::move(what)) {}

  bool at_end() const { return pos_ >= end_; }
  uint64_t pos() const { return pos_; }

  // A base-128 varint (at most 10 bytes).
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = byte();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("a varint longer than 10 bytes");
  }
  // Next field: returns its number and sets `wire` to the wire type.
  uint32_t tag(int& wire) {
    const uint64_t t = varint();
    wire = static_cast<int>(t & 7);
    const uint64_t number = t >> 3;
    if (number == 0 || number > (1u << 29)) fail(fmt::format("field number {}", number));
    return static_cast<uint32_t>(number);
  }
  // Length of a length-delimited payload, checked to lie inside this reader.
  uint64_t length() {
    const uint64_t n = varint();
    if (n > end_ - pos_) {
      DLRM_FAIL("{} is truncated or damaged: {} at byte {} claims {} bytes but only {} remain (copy the file "
                "again)",
                file_.path.string(), what_, pos_, n, end_ - pos_);
    }
    return n;
  }
  // Skips a payload of wire type `wire`: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
  void skip(int wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1: advance(8); return;
      case 2: advance(length()); return;
      case 5: advance(4); return;
      default: fail(fmt::format("wire type {} (groups are not used by ONNX)", wire));
    }
  }
  // Moves `n` bytes on (a payload skipped or scanned by another reader).
  void advance(uint64_t n) {
    if (n > end_ - pos_) {
      DLRM_FAIL("{} is truncated: {} needs {} bytes at byte {} but only {} remain", file_.path.string(), what_, n,
                pos_, end_ - pos_);
    }
    pos_ += n;
  }
  // The next `n` bytes; more than `max` is malformed (`field` names them).
  std::string bytes(uint64_t n, uint64_t max, const char* field) {
    if (n > max) fail(fmt::format("{} of {} bytes (more than {})", field, n, max));
    std::string s(static_cast<size_t>(n), '\0');
    read(s.data(), s.size());
    return s;
  }
  // A little-endian fixed32 / fixed64 value (float, double).
  template <class T>
  T fixed() {
    T v;
    read(&v, sizeof v);
    return v;
  }

  // "FILE: malformed protobuf in WHAT at byte P: ..."
  [[noreturn]] void fail(const std::string& what) {
    DLRM_FAIL("{}: malformed protobuf in {} at byte {}: {}; the file is damaged or not an ONNX model",
              file_.path.string(), what_, pos_, what);
  }

 private:
  uint8_t byte() {
    uint8_t b;
    read(&b, 1);
    return b;
  }
  void read(void* dst, size_t n) {
    if (n > end_ - pos_) {
      DLRM_FAIL("{} is truncated: {} needs {} bytes at byte {} but only {} remain (copy the file again)",
                file_.path.string(), what_, n, pos_, end_ - pos_);
    }
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
      if (pos_ >= buffer_start_ && pos_ < buffer_start_ + buffer_.size()) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(n, buffer_start_ + buffer_.size() - pos_));
        std::memcpy(out, buffer_.data() + (pos_ - buffer_start_), take);
        out += take;
        pos_ += take;
        n -= take;
        continue;
      }
      constexpr uint64_t kBlock = 64u << 10;
      buffer_.resize(static_cast<size_t>(std::min<uint64_t>(kBlock, end_ - pos_)));
      buffer_start_ = pos_;
      read_exact(file_.fd, file_.path, buffer_.data(), buffer_.size(), pos_, what_);
    }
  }

  const DataFile& file_;
  uint64_t pos_;
  uint64_t end_;
  std::string what_;
  std::vector<uint8_t> buffer_;
  uint64_t buffer_start_ = 0;
};

// Bytes [offset, offset + length) of a file.
struct Span {
  uint64_t offset = 0;
  uint64_t length = 0;
};

uint64_t span_bytes(const std::vector<Span>& spans);  // sum of the lengths

// One initializer as found in the file.
struct RawTensor {
  std::string name;
  std::vector<int64_t> dims;
  int64_t data_type = 0;
  int64_t data_location = 0;
  std::vector<Span> raw_data, float_data, double_data, int32_data;  // packed payloads in the .onnx file
  std::vector<float> loose_floats;    // unpacked float_data / double_data elements
  std::vector<uint32_t> loose_ints;   // unpacked int32_data elements
  std::vector<std::pair<std::string, std::string>> external;
  bool segmented = false;
  uint64_t offset = 0;  // where the TensorProto starts (for messages)
};

// The TensorProto at bytes [begin, end) of `model`: every field it has,
// payloads as spans of the file (packed) or values (unpacked). Throws on
// malformed protobuf (naming the file, the tensor's offset and the byte).
RawTensor scan_tensor(const DataFile& model, uint64_t begin, uint64_t end);

}  // namespace dlrm::import
