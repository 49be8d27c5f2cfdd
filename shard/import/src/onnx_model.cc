// ONNX models (see onnx_model.h): the ModelProto's graph, its Gemm / MatMul
// nodes (parsed with libonnx) and its initializers (scanned at the wire level,
// onnx_wire.h) become the weights of a state_dict.
#include "dlrm/import/onnx_model.h"

#include <onnx/onnx_pb.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <regex>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/half.h"
#include "onnx_model_impl.h"

namespace fs = std::filesystem;

namespace dlrm::import {

namespace {

constexpr uint64_t kMaxNodeBytes = 256u << 20;  // a larger NodeProto is refused

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

}  // namespace

void OnnxModel::Impl::scan() {
  model = open_data_file(path, "");
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

void OnnxModel::Impl::scan_graph(uint64_t begin, uint64_t end) {
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
      RawTensor t = scan_tensor(*model, wire.pos(), wire.pos() + n);
      wire.advance(n);
      add_tensor(std::move(t));
    } else {
      wire.skip(type);
    }
  }
}

void OnnxModel::Impl::scan_node(const std::string& bytes, uint64_t offset) {
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

void OnnxModel::Impl::add_tensor(RawTensor raw) {
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
    case kOnnxFloat: t.dtype = ElementType::kFp32; t.info.dtype_name = "float32"; break;
    case kOnnxFloat16: t.dtype = ElementType::kFp16; t.info.dtype_name = "float16"; break;
    case kOnnxBFloat16: t.dtype = ElementType::kBf16; t.info.dtype_name = "bfloat16"; break;
    case kOnnxDouble: t.dtype = ElementType::kFp64; t.info.dtype_name = "float64"; break;
    default: t.dtype = ElementType::kOther; t.info.dtype_name = onnx_type_name(raw.data_type);
  }
  t.info.dtype = t.dtype;
  if (!kWeightTypes.contains(t.dtype)) {  // reported by the architecture check; no data needed
    t.info.shape = raw.dims;
    infos.push_back(t.info);
    tensors.push_back(std::move(t));
    return;
  }
  locate_data(raw, t, numel, where);
  tensors.push_back(std::move(t));
  infos.push_back(tensors.back().info);
}

void OnnxModel::Impl::locate_data(RawTensor& raw, Tensor& t, uint64_t numel, const std::string& where) {
  const uint64_t eb = static_cast<uint64_t>(element_bits(t.dtype) / 8);
  const uint64_t need = numel * eb;
  if (raw.data_location == 1) {
    locate_external(raw, t, need, where);
  } else if (!raw.raw_data.empty()) {
    DLRM_CHECK(span_bytes(raw.raw_data) == need, "{}: raw_data holds {} bytes but {} of {} needs {}", where,
               span_bytes(raw.raw_data), shape_string(raw.dims), t.info.dtype_name, need);
    t.file = model;
    t.spans = raw.raw_data;
  } else if ((t.dtype == ElementType::kFp32 && !raw.float_data.empty()) ||
             (t.dtype == ElementType::kFp64 && !raw.double_data.empty())) {
    const auto& spans = t.dtype == ElementType::kFp32 ? raw.float_data : raw.double_data;
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
  } else if ((t.dtype == ElementType::kFp16 || t.dtype == ElementType::kBf16) &&
             (!raw.int32_data.empty() || !raw.loose_ints.empty())) {
    decode_half_ints(raw, t, numel, where);
  } else {
    DLRM_CHECK(numel == 0, "{} has no data (no raw_data, typed values or external data)", where);
    t.in_memory = true;
  }
}

void OnnxModel::Impl::decode_half_ints(RawTensor& raw, Tensor& t, uint64_t numel, const std::string& where) {
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
    t.memory[i] = t.dtype == ElementType::kFp16 ? fp16_to_float(h) : bf16_to_float(h);
  }
  t.in_memory = true;
}

void OnnxModel::Impl::locate_external(const RawTensor& raw, Tensor& t, uint64_t need, const std::string& where) {
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
    std::shared_ptr<DataFile> f = open_data_file(
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

void OnnxModel::Impl::finish() {
  auto dcn = std::find_if(ignored.begin(), ignored.end(), dlrm_dcn_key);
  DLRM_CHECK(dcn == ignored.end(),
             "{}: initializer '{}' is a parameter of TorchRec's DLRM_DCN (DLRM-v2); ONNX import reads only the DLRM "
             "reference layout (emb_l.K.weight, bot_l.I.*, top_l.I.*, dot interaction). Save the model's state_dict "
             "with torch.save (or one KEY.npy per key) and import that instead",
             path.string(), *dcn);
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
