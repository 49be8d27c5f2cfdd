// The protobuf wire level of ONNX files (see onnx_wire.h): opening data
// files and scanning one TensorProto.
#include "onnx_wire.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

namespace fs = std::filesystem;

namespace dlrm::import {

namespace {

constexpr uint64_t kMaxNameBytes = 1u << 16;

// A length-delimited payload as a span of the file, skipped over.
Span packed(Wire& wire) {
  const uint64_t n = wire.length();
  Span s{wire.pos(), n};
  wire.advance(n);
  return s;
}

// TensorProto.dims (1): one varint, or packed varints.
void scan_dims(Wire& wire, int type, std::vector<int64_t>& dims) {
  if (type == 0) {
    dims.push_back(static_cast<int64_t>(wire.varint()));
  } else if (type == 2) {
    const uint64_t n = wire.length();
    const uint64_t stop = wire.pos() + n;
    while (wire.pos() < stop) dims.push_back(static_cast<int64_t>(wire.varint()));
    if (wire.pos() != stop) wire.fail("packed dims overrun");
  } else {
    wire.skip(type);
  }
}

// TensorProto.external_data (13): StringStringEntryProto {1: key, 2: value}.
std::pair<std::string, std::string> scan_external_entry(Wire& wire) {
  const uint64_t n = wire.length();
  const uint64_t stop = wire.pos() + n;
  std::string key, value;
  while (wire.pos() < stop) {
    int type = 0;
    const uint32_t field = wire.tag(type);
    if ((field == 1 || field == 2) && type == 2) {
      (field == 1 ? key : value) = wire.bytes(wire.length(), kMaxNameBytes, "an external_data entry");
    } else {
      wire.skip(type);
    }
  }
  if (wire.pos() != stop) wire.fail("external_data entry overrun");
  return {std::move(key), std::move(value)};
}

}  // namespace

std::shared_ptr<DataFile> open_data_file(const fs::path& p, const std::string& purpose) {
  auto f = std::make_shared<DataFile>();
  f->path = p;
  f->fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) {
    const int err = errno;
    DLRM_CHECK(err != ENOENT, "{} does not exist{}", p.string(), purpose);
    DLRM_FAIL("cannot open {}{}: {}", p.string(), purpose, std::strerror(err));
  }
  struct stat st;
  DLRM_CHECK(::fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode), "{} is not a regular file{}", p.string(), purpose);
  f->bytes = static_cast<uint64_t>(st.st_size);
  return f;
}

uint64_t span_bytes(const std::vector<Span>& spans) {
  uint64_t n = 0;
  for (const Span& s : spans) n += s.length;
  return n;
}

RawTensor scan_tensor(const DataFile& model, uint64_t begin, uint64_t end) {
  Wire wire(model, begin, end, fmt::format("the initializer (TensorProto) at byte {}", begin));
  RawTensor t;
  t.offset = begin;
  while (!wire.at_end()) {
    int type = 0;
    const uint32_t field = wire.tag(type);
    switch (field) {
      case 1: scan_dims(wire, type, t.dims); break;
      case 2:
        if (type == 0) t.data_type = static_cast<int64_t>(wire.varint()); else wire.skip(type);
        break;
      case 3:
        t.segmented = true;
        wire.skip(type);
        break;
      case 4:  // float_data
        if (type == 2) {
          t.float_data.push_back(packed(wire));
        } else if (type == 5) {
          t.loose_floats.push_back(wire.fixed<float>());
        } else {
          wire.skip(type);
        }
        break;
      case 5:  // int32_data (fp16 / bf16 bits, one per element)
        if (type == 2) {
          t.int32_data.push_back(packed(wire));
        } else if (type == 0) {
          t.loose_ints.push_back(static_cast<uint32_t>(wire.varint()));
        } else {
          wire.skip(type);
        }
        break;
      case 8:
        if (type == 2) t.name = wire.bytes(wire.length(), kMaxNameBytes, "a tensor name"); else wire.skip(type);
        break;
      case 9:
        if (type == 2) t.raw_data = {packed(wire)}; else wire.skip(type);  // a bytes field: the last one counts
        break;
      case 10:  // double_data
        if (type == 2) {
          t.double_data.push_back(packed(wire));
        } else if (type == 1) {
          t.loose_floats.push_back(static_cast<float>(wire.fixed<double>()));
        } else {
          wire.skip(type);
        }
        break;
      case 13:
        if (type == 2) t.external.push_back(scan_external_entry(wire)); else wire.skip(type);
        break;
      case 14:
        if (type == 0) t.data_location = static_cast<int64_t>(wire.varint()); else wire.skip(type);
        break;
      default:
        wire.skip(type);
    }
  }
  return t;
}

}  // namespace dlrm::import
