// The gRPC side of the protocol: ModelInferRequest into a checked
// InferRequest through the rules of tensor_check.h, and the response and
// metadata messages.
#include "dlrm/serve/grpc_codec.h"

#include <fmt/format.h>

#include <array>
#include <span>

#include "inference.pb.h"
#include "tensor_check.h"

namespace dlrm::serve {

using detail::DataType;
using detail::Input;
using detail::RequestCheck;

namespace {

using inference::InferTensorContents;

// The fields of InferTensorContents, for the message that names a wrong one.
struct ContentsField {
  const char* name;
  int (InferTensorContents::*size)() const;
};
constexpr std::array<ContentsField, 8> kContentsFields{{
    {"bool_contents", &InferTensorContents::bool_contents_size},
    {"int_contents", &InferTensorContents::int_contents_size},
    {"int64_contents", &InferTensorContents::int64_contents_size},
    {"uint_contents", &InferTensorContents::uint_contents_size},
    {"uint64_contents", &InferTensorContents::uint64_contents_size},
    {"fp32_contents", &InferTensorContents::fp32_contents_size},
    {"fp64_contents", &InferTensorContents::fp64_contents_size},
    {"bytes_contents", &InferTensorContents::bytes_contents_size},
}};

// The field of InferTensorContents that carries `type`.
const char* contents_field(DataType type) {
  switch (type) {
    case DataType::kInt32: return "int_contents";
    case DataType::kInt64: return "int64_contents";
    case DataType::kFp32: return "fp32_contents";
    case DataType::kFp64: return "fp64_contents";
  }
  return "?";
}

// The first non-empty field of `contents` other than `allowed` ("" for none), or nullptr.
const char* other_field(const InferTensorContents& contents, std::string_view allowed) {
  for (const ContentsField& f : kContentsFields) {
    if (f.name != allowed && (contents.*f.size)() > 0) return f.name;
  }
  return nullptr;
}

template <class T>
void store_field(RequestCheck& check, Input input, const google::protobuf::RepeatedField<T>& field, const char* name) {
  check.count(input, name, static_cast<size_t>(field.size()));
  check.store(input, std::span<const T>(field.data(), static_cast<size_t>(field.size())));
}

void store_contents(RequestCheck& check, Input input, DataType type, const InferTensorContents& contents) {
  const char* field = contents_field(type);
  if (const char* wrong = other_field(contents, field)) {
    check.fail(input,
               fmt::format("contents has {} but datatype {} takes {}", wrong, detail::datatype_name(type), field));
  }
  switch (type) {
    case DataType::kInt32: return store_field(check, input, contents.int_contents(), field);
    case DataType::kInt64: return store_field(check, input, contents.int64_contents(), field);
    case DataType::kFp32: return store_field(check, input, contents.fp32_contents(), field);
    case DataType::kFp64: return store_field(check, input, contents.fp64_contents(), field);
  }
}

void check_model(const inference::ModelInferRequest& message, const ModelSignature& model) {
  if (std::string why = unknown_model(model, message.model_name(), message.model_version()); !why.empty()) {
    throw BadRequest(why);
  }
}

}  // namespace

InferRequest parse_grpc_request(const inference::ModelInferRequest& message, const ModelSignature& model) {
  check_model(message, model);
  InferRequest request;
  request.id = message.id();
  RequestCheck check(model, request);
  const bool raw = message.raw_input_contents_size() > 0;
  if (raw && message.raw_input_contents_size() != message.inputs_size()) {
    throw BadRequest(fmt::format("raw_input_contents has {} entries for {} inputs (one per input, in input order)",
                                 message.raw_input_contents_size(), message.inputs_size()));
  }
  for (int i = 0; i < message.inputs_size(); ++i) {
    const auto& tensor = message.inputs(i);
    const Input input = check.input(tensor.name());
    const DataType type = check.datatype(input, tensor.datatype());
    check.shape(input, std::span<const int64_t>(tensor.shape().data(), static_cast<size_t>(tensor.shape_size())));
    if (!raw) {
      store_contents(check, input, type, tensor.contents());
      continue;
    }
    if (other_field(tensor.contents(), "")) check.fail(input, "contents must be empty when raw_input_contents is used");
    check.store_bytes(input, type, message.raw_input_contents(i), fmt::format("raw_input_contents[{}]", i));
  }
  check.finish();
  for (const auto& output : message.outputs()) check.output(output.name());
  request.raw_output = raw;
  return request;
}

void grpc_response(const ModelSignature& model, const InferRequest& request, const std::vector<float>& probabilities,
                   inference::ModelInferResponse& out) {
  out.Clear();
  out.set_model_name(model.name);
  out.set_model_version(model.version);
  out.set_id(request.id);
  auto* output = out.add_outputs();
  output->set_name(detail::kOutputName);
  output->set_datatype("FP32");
  output->add_shape(static_cast<int64_t>(probabilities.size()));
  output->add_shape(1);
  if (request.raw_output) {
    // Little-endian floats, as the host holds them (tensor_check.cc asserts a little-endian host).
    out.add_raw_output_contents(reinterpret_cast<const char*>(probabilities.data()),
                                probabilities.size() * sizeof(float));
  } else {
    output->mutable_contents()->mutable_fp32_contents()->Add(probabilities.begin(), probabilities.end());
  }
}

void grpc_metadata(const ModelSignature& model, inference::ModelMetadataResponse& out) {
  out.Clear();
  out.set_name(model.name);
  out.add_versions(model.version);
  out.set_platform(model.platform);
  for (const detail::TensorMetadata& t : detail::tensor_metadata(model)) {
    auto* tensor = t.input ? out.add_inputs() : out.add_outputs();
    tensor->set_name(t.name);
    tensor->set_datatype(t.datatype);
    tensor->add_shape(-1);
    tensor->add_shape(t.cols);
  }
}

void grpc_server_metadata(inference::ServerMetadataResponse& out) {
  out.Clear();
  out.set_name(detail::kServerName);
  out.set_version(DLRM_VERSION);
  out.add_extensions(detail::kServerExtension);
}

}  // namespace dlrm::serve
