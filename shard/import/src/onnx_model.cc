// ONNX models (see onnx_model.h). ModelProto, GraphProto and TensorProto are
// walked at the protobuf wire level (field numbers from onnx.proto: ModelProto
// graph = 7; GraphProto node = 1, initializer = 5; TensorProto dims = 1,
// data_type = 2, segment = 3, float_data = 4, int32_data = 5, name = 8,
// raw_data = 9, double_data = 10, external_data = 13, data_location = 14);
// each NodeProto is handed to libonnx.
#include "dlrm/import/onnx_model.h"

#include <fcntl.h>
#include <onnx/onnx_pb.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <regex>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/half.h"
#include "dlrm/common/staged_output.h"

namespace fs = std::filesystem;

namespace dlrm::import {

namespace {

constexpr uint64_t kChunkBytes = 8u << 20;
constexpr uint64_t kMaxNodeBytes = 256u << 20;   // one NodeProto (a Loop body is a few KB)
constexpr uint64_t kMaxNameBytes = 1u << 16;
constexpr int64_t kMaxTransposedElements = 1 << 28;  // dense weights are transposed in memory

// ONNX TensorProto.DataType values.
enum OnnxType : int {
  kOnnxFloat = 1,
  kOnnxFloat16 = 10,
  kOnnxDouble = 11,
  kOnnxBFloat16 = 16,
};

std::string onnx_type_name(int64_t t) {
  static const std::map<int64_t, const char*> kNames = {
      {0, "UNDEFINED"}, {1, "FLOAT"},   {2, "UINT8"},  {3, "INT8"},       {4, "UINT16"},     {5, "INT16"},
      {6, "INT32"},     {7, "INT64"},   {8, "STRING"}, {9, "BOOL"},       {10, "FLOAT16"},   {11, "DOUBLE"},
      {12, "UINT32"},   {13, "UINT64"}, {14, "COMPLEX64"}, {15, "COMPLEX128"}, {16, "BFLOAT16"}};
  auto it = kNames.find(t);
  return it != kNames.end() ? it->second : fmt::format("type {}", t);
}

bool state_dict_name(const std::string& name) {
  static const std::regex kKey(R"((emb_l\.\d+\.weight)|((bot_l|top_l)\.\d+\.(weight|bias)))");
  return std::regex_match(name, kKey);
}

bool linear_weight_name(const std::string& name) {
  static const std::regex kKey(R"((bot_l|top_l)\.\d+\.weight)");
  return std::regex_match(name, kKey);
}

// A file opened for pread.
struct DataFile {
  fs::path path;
  int fd = -1;
  uint64_t bytes = 0;
  ~DataFile() {
    if (fd >= 0) ::close(fd);
  }
};

// Protobuf wire-format reader over bytes [begin, end) of a file, buffered.
class Wire {
 public:
  Wire(const DataFile& file, uint64_t begin, uint64_t end, std::string what)
      : file_(file), pos_(begin), end_(end), what_(std::move(what)) {}

  bool at_end() const { return pos_ >= end_; }
  uint64_t pos() const { return pos_; }

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
  void skip(int wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1: advance(8); return;
      case 2: advance(length()); return;
      case 5: advance(4); return;
      default: fail(fmt::format("wire type {} (groups are not used by ONNX)", wire));
    }
  }
  void advance(uint64_t n) {
    if (n > end_ - pos_) {
      DLRM_FAIL("{} is truncated: {} needs {} bytes at byte {} but only {} remain", file_.path.string(), what_, n,
                pos_, end_ - pos_);
    }
    pos_ += n;
  }
  std::string bytes(uint64_t n, uint64_t max, const char* field) {
    if (n > max) fail(fmt::format("{} of {} bytes (more than {})", field, n, max));
    std::string s(static_cast<size_t>(n), '\0');
    read(s.data(), s.size());
    return s;
  }
  template <class T>
  T fixed() {
    T v;
    read(&v, sizeof v);
    return v;
  }

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

struct Span {
  uint64_t offset = 0;
  uint64_t length = 0;
};

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

struct Tensor {
  TensorInfo info;
  std::vector<int64_t> stored;  // dims as stored
  bool transposed = false;
  TensorDtype dtype = TensorDtype::kF32;
  // Bytes in `file` at `spans` (concatenated), or decoded values in `memory`.
  std::shared_ptr<DataFile> file;
  std::vector<Span> spans;
  std::vector<float> memory;
  bool in_memory = false;
  std::string where;  // "initializer 'x' (external file y)"
};

}  // namespace

struct OnnxModel::Impl {
  fs::path path;
  std::shared_ptr<DataFile> model;
  std::vector<Tensor> tensors;
  std::vector<TensorInfo> infos;
  std::vector<std::string> ignored;
  std::map<std::string, std::shared_ptr<DataFile>> external_files;
  std::map<std::string, bool> weight_transposed;  // from Gemm / MatMul nodes
  std::vector<uint8_t> buffer;     // raw bytes of a non-fp32 read
  std::vector<float> rows_buffer;  // the rows of a column slice
  size_t external_count = 0;

  std::shared_ptr<DataFile> open_file(const fs::path& p, const std::string& purpose) {
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

  void scan() {
    model = open_file(path, "");
    DLRM_CHECK(model->bytes > 0, "{} is empty; it is not an ONNX model", path.string());
    Wire wire(*model, 0, model->bytes, "the ModelProto");
    bool graph = false;
    while (!wire.at_end()) {
      int type = 0;
      const uint32_t field = wire.tag(type);
      if (field == 7 && type == 2) {
        const uint64_t n = wire.length();
        scan_graph(wire.pos(), wire.pos() + n);
        wire.advance(n);
        graph = true;
      } else {
        wire.skip(type);
      }
    }
    DLRM_CHECK(graph, "{} has no graph; it is not an ONNX model (or it is empty)", path.string());
  }

  void scan_graph(uint64_t begin, uint64_t end) {
    Wire wire(*model, begin, end, "the GraphProto");
    while (!wire.at_end()) {
      int type = 0;
      const uint32_t field = wire.tag(type);
      if (field == 1 && type == 2) {
        const uint64_t n = wire.length();
        const uint64_t offset = wire.pos();
        scan_node(wire.bytes(n, kMaxNodeBytes, "a NodeProto"), offset);
      } else if (field == 5 && type == 2) {
        const uint64_t n = wire.length();
        RawTensor t = scan_tensor(wire.pos(), wire.pos() + n);
        wire.advance(n);
        add_tensor(std::move(t));
      } else {
        wire.skip(type);
      }
    }
  }

  void scan_node(const std::string& bytes, uint64_t offset) {
    onnx::NodeProto node;
    DLRM_CHECK(node.ParseFromString(bytes), "{}: the NodeProto at byte {} does not parse; the file is damaged",
               path.string(), offset);
    const std::string& op = node.op_type();
    if ((op != "Gemm" && op != "MatMul") || node.input_size() < 2) return;
    bool trans_b = false;  // MatMul(x, W): W is [in, out]
    if (op == "Gemm") {
      for (const auto& a : node.attribute()) {
        if (a.name() == "transB") trans_b = a.i() != 0;
      }
    }
    const std::string& weight = node.input(1);
    auto [it, fresh] = weight_transposed.emplace(weight, !trans_b);
    DLRM_CHECK(fresh || it->second == !trans_b,
               "{}: initializer '{}' is used both as [out, in] and as [in, out] by Gemm/MatMul nodes; cannot tell "
               "its layout",
               path.string(), weight);
  }

  std::vector<Span> packed(Wire& wire) {
    const uint64_t n = wire.length();
    Span s{wire.pos(), n};
    wire.advance(n);
    return {s};
  }

  RawTensor scan_tensor(uint64_t begin, uint64_t end) {
    Wire wire(*model, begin, end, fmt::format("the initializer (TensorProto) at byte {}", begin));
    RawTensor t;
    t.offset = begin;
    while (!wire.at_end()) {
      int type = 0;
      const uint32_t field = wire.tag(type);
      switch (field) {
        case 1:  // dims
          if (type == 0) {
            t.dims.push_back(static_cast<int64_t>(wire.varint()));
          } else if (type == 2) {
            const uint64_t n = wire.length();
            const uint64_t stop = wire.pos() + n;
            while (wire.pos() < stop) t.dims.push_back(static_cast<int64_t>(wire.varint()));
            if (wire.pos() != stop) wire.fail("packed dims overrun");
          } else {
            wire.skip(type);
          }
          break;
        case 2:
          if (type == 0) t.data_type = static_cast<int64_t>(wire.varint()); else wire.skip(type);
          break;
        case 3:
          t.segmented = true;
          wire.skip(type);
          break;
        case 4:  // float_data
          if (type == 2) {
            auto s = packed(wire);
            t.float_data.insert(t.float_data.end(), s.begin(), s.end());
          } else if (type == 5) {
            t.loose_floats.push_back(wire.fixed<float>());
          } else {
            wire.skip(type);
          }
          break;
        case 5:  // int32_data (fp16 / bf16 bits, one per element)
          if (type == 2) {
            auto s = packed(wire);
            t.int32_data.insert(t.int32_data.end(), s.begin(), s.end());
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
          if (type == 2) t.raw_data = packed(wire); else wire.skip(type);  // a bytes field: the last one counts
          break;
        case 10:  // double_data
          if (type == 2) {
            auto s = packed(wire);
            t.double_data.insert(t.double_data.end(), s.begin(), s.end());
          } else if (type == 1) {
            t.loose_floats.push_back(static_cast<float>(wire.fixed<double>()));
          } else {
            wire.skip(type);
          }
          break;
        case 13:  // external_data: StringStringEntryProto {1: key, 2: value}
          if (type == 2) {
            const uint64_t n = wire.length();
            const uint64_t stop = wire.pos() + n;
            std::string key, value;
            while (wire.pos() < stop) {
              int t2 = 0;
              const uint32_t f2 = wire.tag(t2);
              if ((f2 == 1 || f2 == 2) && t2 == 2) {
                (f2 == 1 ? key : value) = wire.bytes(wire.length(), kMaxNameBytes, "an external_data entry");
              } else {
                wire.skip(t2);
              }
            }
            if (wire.pos() != stop) wire.fail("external_data entry overrun");
            t.external.emplace_back(std::move(key), std::move(value));
          } else {
            wire.skip(type);
          }
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

  static uint64_t span_bytes(const std::vector<Span>& spans) {
    uint64_t n = 0;
    for (const Span& s : spans) n += s.length;
    return n;
  }

  void add_tensor(RawTensor raw) {
    if (!state_dict_name(raw.name)) {
      ignored.push_back(raw.name);
      return;
    }
    const std::string where = fmt::format("{}: initializer '{}'", path.string(), raw.name);
    DLRM_CHECK(!raw.segmented, "{} is segmented (TensorProto.segment), which is not supported; re-save the model "
               "with onnx.save_model",
               where);
    for (const Tensor& t : tensors) {
      DLRM_CHECK(t.info.name != raw.name, "{} appears twice", where);
    }
    Tensor t;
    t.info.name = raw.name;
    t.stored = raw.dims;
    t.where = fmt::format("initializer '{}'", raw.name);
    uint64_t numel = 1;
    for (int64_t d : raw.dims) {
      DLRM_CHECK(d >= 0 && d <= (int64_t{1} << 40), "{} has dimension {} in {}", where, d, shape_string(raw.dims));
      numel *= static_cast<uint64_t>(d);
      DLRM_CHECK(numel <= (uint64_t{1} << 44), "{} has too many elements ({})", where, shape_string(raw.dims));
    }
    switch (raw.data_type) {
      case kOnnxFloat: t.dtype = TensorDtype::kF32; t.info.dtype_name = "float32"; break;
      case kOnnxFloat16: t.dtype = TensorDtype::kF16; t.info.dtype_name = "float16"; break;
      case kOnnxBFloat16: t.dtype = TensorDtype::kBF16; t.info.dtype_name = "bfloat16"; break;
      case kOnnxDouble: t.dtype = TensorDtype::kF64; t.info.dtype_name = "float64"; break;
      default: t.dtype = TensorDtype::kOther; t.info.dtype_name = onnx_type_name(raw.data_type);
    }
    t.info.dtype = t.dtype;
    if (t.dtype == TensorDtype::kOther) {  // reported by the architecture check; no data needed
      t.info.shape = raw.dims;
      infos.push_back(t.info);
      tensors.push_back(std::move(t));
      return;
    }
    const uint64_t eb = static_cast<uint64_t>(dtype_bytes(t.dtype));
    const uint64_t need = numel * eb;
    if (raw.data_location == 1) {
      locate_external(raw, t, need, where);
    } else if (!raw.raw_data.empty()) {
      DLRM_CHECK(span_bytes(raw.raw_data) == need, "{}: raw_data holds {} bytes but {} of {} needs {}", where,
                 span_bytes(raw.raw_data), shape_string(raw.dims), t.info.dtype_name, need);
      t.file = model;
      t.spans = raw.raw_data;
    } else if ((t.dtype == TensorDtype::kF32 && !raw.float_data.empty()) ||
               (t.dtype == TensorDtype::kF64 && !raw.double_data.empty())) {
      const auto& spans = t.dtype == TensorDtype::kF32 ? raw.float_data : raw.double_data;
      DLRM_CHECK(raw.loose_floats.empty(), "{}: mixes packed and unpacked values; re-save the model", where);
      DLRM_CHECK(span_bytes(spans) == need, "{}: holds {} values but {} needs {}", where, span_bytes(spans) / eb,
                 shape_string(raw.dims), numel);
      t.file = model;
      t.spans = spans;
    } else if (!raw.loose_floats.empty()) {
      DLRM_CHECK(raw.loose_floats.size() == numel, "{}: holds {} values but {} needs {}", where,
                 raw.loose_floats.size(), shape_string(raw.dims), numel);
      t.memory = std::move(raw.loose_floats);
      t.in_memory = true;
    } else if ((t.dtype == TensorDtype::kF16 || t.dtype == TensorDtype::kBF16) &&
               (!raw.int32_data.empty() || !raw.loose_ints.empty())) {
      std::vector<uint32_t> bits = std::move(raw.loose_ints);
      for (const Span& s : raw.int32_data) {
        Wire w(*model, s.offset, s.offset + s.length, fmt::format("int32_data of {}", t.where));
        while (!w.at_end()) {
          bits.push_back(static_cast<uint32_t>(w.varint()));
          DLRM_CHECK(bits.size() <= numel, "{}: int32_data holds more than the {} values of {}", where, numel,
                     shape_string(raw.dims));
        }
      }
      DLRM_CHECK(bits.size() == numel, "{}: int32_data holds {} values but {} needs {}", where, bits.size(),
                 shape_string(raw.dims), numel);
      t.memory.resize(numel);
      for (size_t i = 0; i < numel; ++i) {
        const auto h = static_cast<uint16_t>(bits[i]);
        t.memory[i] = t.dtype == TensorDtype::kF16 ? fp16_to_float(h) : bf16_to_float(h);
      }
      t.in_memory = true;
    } else {
      DLRM_CHECK(numel == 0, "{} has no data (no raw_data, typed values or external data)", where);
      t.in_memory = true;
    }
    tensors.push_back(std::move(t));
    infos.push_back(tensors.back().info);
  }

  void locate_external(const RawTensor& raw, Tensor& t, uint64_t need, const std::string& where) {
    std::string location;
    uint64_t offset = 0, length = need;
    bool has_length = false;
    auto number = [&](const std::string& key, const std::string& value) {
      uint64_t v = 0;
      DLRM_CHECK(!value.empty() && value.size() <= 19 && value.find_first_not_of("0123456789") == std::string::npos,
                 "{}: external_data '{}' is '{}', not a byte count", where, key, value);
      v = std::stoull(value);
      return v;
    };
    for (const auto& [key, value] : raw.external) {
      if (key == "location") location = value;
      if (key == "offset") offset = number(key, value);
      if (key == "length") {
        length = number(key, value);
        has_length = true;
      }
    }
    DLRM_CHECK(!location.empty(), "{}: data_location is EXTERNAL but external_data has no 'location'", where);
    const fs::path rel(location);
    DLRM_CHECK(!rel.is_absolute() && std::none_of(rel.begin(), rel.end(), [](const fs::path& p) { return p == ".."; }),
               "{}: external data location '{}' leaves the model's directory; only files next to the .onnx are "
               "read",
               where, location);
    DLRM_CHECK(!has_length || length == need,
               "{}: external_data length {} but {} of {} needs {} bytes; the model is inconsistent", where, length,
               shape_string(raw.dims), t.info.dtype_name, need);
    const fs::path file = path.parent_path() / rel;
    auto it = external_files.find(location);
    if (it == external_files.end()) {
      std::shared_ptr<DataFile> f = open_file(
          file, fmt::format(" (external data of initializer '{}' of {}; it must sit next to the .onnx)", raw.name,
                            path.string()));
      it = external_files.emplace(location, std::move(f)).first;
    }
    const DataFile& f = *it->second;
    DLRM_CHECK(offset <= f.bytes && need <= f.bytes - offset,
               "external data file {} is short: initializer '{}' of {} needs bytes [{}, {}) but the file has {} "
               "bytes (copy it again)",
               file.string(), raw.name, path.string(), offset, offset + need, f.bytes);
    t.file = it->second;
    t.spans = {Span{offset, need}};
    t.where = fmt::format("initializer '{}' (external file {})", raw.name, file.string());
    ++external_count;
  }

  void finish() {
    if (tensors.empty()) {
      std::vector<std::string> shown(ignored.begin(), ignored.begin() + std::min<size_t>(6, ignored.size()));
      DLRM_FAIL("{}: no initializer is named like a DLRM state_dict key (emb_l.K.weight, bot_l.I.weight, ...){}; "
                "export with torch.onnx.export(model, ..., export_params=True) so that parameters keep their names",
                path.string(), ignored.empty() ? "" : fmt::format(" (found: {})", fmt::join(shown, ", ")));
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      Tensor& t = tensors[i];
      auto it = weight_transposed.find(t.info.name);
      t.transposed = it != weight_transposed.end() && it->second && linear_weight_name(t.info.name) &&
                     t.stored.size() == 2;
      t.info.shape = t.transposed ? std::vector<int64_t>{t.stored[1], t.stored[0]} : t.stored;
      infos[i] = t.info;
    }
  }

  // Elements [first, first + count) of tensor `t` as stored, converted to fp32.
  void read_elements(const Tensor& t, uint64_t first, uint64_t count, float* dst) {
    if (t.in_memory) {
      DLRM_ASSERT(first + count <= t.memory.size());
      std::copy_n(t.memory.data() + first, count, dst);
      return;
    }
    const uint64_t eb = static_cast<uint64_t>(dtype_bytes(t.dtype));
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
        if (t.dtype == TensorDtype::kF32) {
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

  void read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end, float* dst) {
    DLRM_CHECK(index < tensors.size(), "{}: no tensor {}", path.string(), index);
    const Tensor& t = tensors[index];
    const std::vector<int64_t>& shape = t.info.shape;
    const int64_t total_rows = shape.size() == 2 ? shape[0] : 1;
    const int64_t total_cols = shape.size() == 2 ? shape[1] : shape.size() == 1 ? shape[0] : 1;
    DLRM_CHECK(row_begin >= 0 && rows >= 0 && row_begin + rows <= total_rows && col_begin >= 0 &&
                   col_begin <= col_end && col_end <= total_cols,
               "{}: block rows [{}, {}) cols [{}, {}) is outside {} {}", path.string(), row_begin, row_begin + rows,
               col_begin, col_end, t.where, shape_string(shape));
    DLRM_CHECK(t.dtype != TensorDtype::kOther, "{}: {} holds {} values, not floats", path.string(), t.where,
               t.info.dtype_name);
    const int64_t cols = col_end - col_begin;
    if (rows == 0 || cols == 0) return;
    if (t.transposed) {
      // Stored [in, out] = [total_cols, total_rows]: read the stored rows
      // [col_begin, col_end) whole and transpose (dense weights only).
      DLRM_CHECK(cols * total_rows <= kMaxTransposedElements, "{}: {} is too large to transpose in memory",
                 path.string(), t.where);
      std::vector<float> stored(static_cast<size_t>(cols * total_rows));
      read_elements(t, static_cast<uint64_t>(col_begin * total_rows), stored.size(), stored.data());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = stored[c * total_rows + row_begin + r];
      }
      return;
    }
    if (cols == total_cols) {
      read_elements(t, static_cast<uint64_t>(row_begin * total_cols), static_cast<uint64_t>(rows * cols), dst);
      return;
    }
    // A column slice: read as many rows as fit the bounded buffer in one run
    // (from the slice's first column of the first row to its last column of
    // the last row) and cut the columns out.
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
};

OnnxModel::OnnxModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnnxModel::~OnnxModel() = default;

std::unique_ptr<OnnxModel> OnnxModel::open(const fs::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->scan();
  impl->finish();
  return std::unique_ptr<OnnxModel>(new OnnxModel(std::move(impl)));
}

std::string OnnxModel::describe() const {
  return fmt::format("onnx {}{}", fs::absolute(impl_->path).lexically_normal().string(),
                     impl_->external_count ? " (external data)" : "");
}
const fs::path& OnnxModel::path() const { return impl_->path; }
const std::vector<TensorInfo>& OnnxModel::tensors() const { return impl_->infos; }
const std::vector<std::string>& OnnxModel::ignored_initializers() const { return impl_->ignored; }
bool OnnxModel::transposed(size_t index) const { return impl_->tensors.at(index).transposed; }

void OnnxModel::read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end,
                           float* dst) {
  impl_->read_block(index, row_begin, rows, col_begin, col_end, dst);
}

std::unique_ptr<sharding::ModelSource> open_onnx_source(const fs::path& path, int64_t row_cap) {
  std::unique_ptr<OnnxModel> model = OnnxModel::open(path);
  if (!model->ignored_initializers().empty()) {
    spdlog::debug("{}: ignoring {} initializers that are not state_dict keys", path.string(),
                  model->ignored_initializers().size());
  }
  return make_state_dict_source(std::move(model), row_cap);
}

}  // namespace dlrm::import
