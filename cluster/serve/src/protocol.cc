// The REST side of the protocol: request bodies (JSON, and the binary-data
// extension) into a checked InferRequest, through the rules of
// tensor_check.h. The bodies the server writes are in http_body.cc.
#include "dlrm/serve/protocol.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "dlrm/common/json_exact.h"
#include "tensor_check.h"

namespace dlrm::serve {

using detail::DataType;
using detail::Input;
using detail::RequestCheck;

namespace {

using Json = rapidjson::Value;

// Iterative: a deeply nested body cannot exhaust the stack. Validated UTF-8:
// the id is echoed into the answer, names into messages.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

const char* kind_of(const Json& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "a boolean";
    case rapidjson::kObjectType: return "an object";
    case rapidjson::kArrayType: return "an array";
    case rapidjson::kStringType: return "a string";
    case rapidjson::kNumberType: return "a number";
  }
  return "?";
}

const Json* member(const Json& object, const char* key) {
  const auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// A real number as a message shows it: "1.0", not "1", when it was written as a real.
std::string real_text(double v) {
  std::string text = fmt::format("{}", v);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

// One JSON element as T, the C++ type of the input's datatype: integers for
// the INT types (within T's range), any number for the FP types (within FP32's
// range for float).
template <class T>
T element_value(const Json& v, const RequestCheck& check, Input input, int64_t index) {
  if (!v.IsNumber()) [[unlikely]] {
    check.fail_element(input, index, fmt::format("expected a number, found {}", kind_of(v)));
  }
  if constexpr (std::is_integral_v<T>) {
    constexpr const char* kType = sizeof(T) == 4 ? "INT32" : "INT64";
    if (v.IsInt()) [[likely]] {
      return v.GetInt();
    }
    if (sizeof(T) == 8 && v.IsInt64()) return static_cast<T>(v.GetInt64());
    if (v.IsInt64()) check.fail_element(input, index, fmt::format("{} is outside {}'s range", v.GetInt64(), kType));
    if (v.IsUint64()) check.fail_element(input, index, fmt::format("{} is outside {}'s range", v.GetUint64(), kType));
    check.fail_element(input, index,
                       fmt::format("{} is a real number; datatype {} takes integers", real_text(v.GetDouble()), kType));
  } else {
    const double d = v.GetDouble();
    if constexpr (std::is_same_v<T, float>) {
      const float f = static_cast<float>(d);
      if (std::isinf(f)) [[unlikely]] {
        check.fail_element(input, index, fmt::format("{} is outside FP32's range", d));
      }
      return f;
    } else {
      return d;
    }
  }
}

// `data`, flat ([N*cols] numbers) or nested ([N] rows of [cols] numbers), into the request.
template <class T>
void store_json(const Json& data, Input input, RequestCheck& check, int64_t rows) {
  if (!data.IsArray()) check.fail(input, fmt::format("'data' must be an array, found {}", kind_of(data)));
  const auto array = data.GetArray();
  const int64_t cols = check.columns(input);
  std::vector<T> values;
  if (array.Empty() || !array[0].IsArray()) {
    check.count(input, "data", array.Size());
    values.reserve(array.Size());
    for (rapidjson::SizeType i = 0; i < array.Size(); ++i) {
      values.push_back(element_value<T>(array[i], check, input, i));
    }
  } else {
    if (static_cast<int64_t>(array.Size()) != rows) {
      check.fail(input, fmt::format("'data' holds {} rows, shape [{},{}] needs {}", array.Size(), rows, cols, rows));
    }
    values.reserve(check.elements(input));
    for (rapidjson::SizeType r = 0; r < array.Size(); ++r) {
      const Json& row = array[r];
      if (!row.IsArray()) {
        check.fail(input, fmt::format("'data' row {} is {}, not a row of {} values", r, kind_of(row), cols));
      }
      if (static_cast<int64_t>(row.Size()) != cols) {
        check.fail(input, fmt::format("'data' row {} holds {} values, shape [{},{}] needs {} per row", r, row.Size(),
                                      rows, cols, cols));
      }
      for (rapidjson::SizeType c = 0; c < row.Size(); ++c) {
        values.push_back(element_value<T>(row[c], check, input, r * cols + c));
      }
    }
  }
  check.store(input, std::span<const T>(values));
}

void store_json(const Json& data, Input input, DataType type, RequestCheck& check, int64_t rows) {
  switch (type) {
    case DataType::kInt32: return store_json<int32_t>(data, input, check, rows);
    case DataType::kInt64: return store_json<int64_t>(data, input, check, rows);
    case DataType::kFp32: return store_json<float>(data, input, check, rows);
    case DataType::kFp64: return store_json<double>(data, input, check, rows);
  }
}

std::vector<int64_t> read_shape(const Json* shape, Input input, const RequestCheck& check) {
  if (!shape) check.fail(input, "'shape' is missing");
  if (!shape->IsArray()) {
    check.fail(input, fmt::format("'shape' must be an array of integers, found {}", kind_of(*shape)));
  }
  std::vector<int64_t> dims;
  dims.reserve(shape->Size());
  for (const Json& d : shape->GetArray()) {
    if (!d.IsInt64()) check.fail(input, fmt::format("'shape' must be an array of integers, it holds {}", kind_of(d)));
    dims.push_back(d.GetInt64());
  }
  return dims;
}

// The size of the input's binary data (the extension), if it has some.
std::optional<uint64_t> binary_data_size(const Json& tensor, Input input, const RequestCheck& check) {
  const Json* parameters = member(tensor, "parameters");
  if (!parameters) return std::nullopt;
  if (!parameters->IsObject()) {
    check.fail(input, fmt::format("'parameters' must be an object, found {}", kind_of(*parameters)));
  }
  const Json* size = member(*parameters, "binary_data_size");
  if (!size) return std::nullopt;
  if (!size->IsUint64()) check.fail(input, "parameters.binary_data_size must be a non-negative integer");
  return size->GetUint64();
}

// inputs[position] into the request. `binary` (set with the extension) is the
// part of the body after the JSON not taken by the inputs before this one.
void read_input(const Json& tensor, size_t position, RequestCheck& check, std::optional<std::string_view>& binary) {
  if (!tensor.IsObject()) {
    throw BadRequest(fmt::format("inputs[{}] must be an object, found {}", position, kind_of(tensor)));
  }
  const Json* name = member(tensor, "name");
  if (!name || !name->IsString()) throw BadRequest(fmt::format("inputs[{}] has no 'name' string", position));
  const Input input = check.input(std::string_view(name->GetString(), name->GetStringLength()));
  const Json* datatype = member(tensor, "datatype");
  if (!datatype || !datatype->IsString()) check.fail(input, "'datatype' is missing or not a string");
  const DataType type = check.datatype(input, std::string_view(datatype->GetString(), datatype->GetStringLength()));
  const std::vector<int64_t> shape = read_shape(member(tensor, "shape"), input, check);
  check.shape(input, shape);
  const int64_t rows = shape[0];

  const Json* data = member(tensor, "data");
  const std::optional<uint64_t> size = binary_data_size(tensor, input, check);
  if (data && size) check.fail(input, "gives both 'data' and parameters.binary_data_size");
  if (data) return store_json(*data, input, type, check, rows);
  if (!size) check.fail(input, "has no 'data' (nor parameters.binary_data_size)");
  if (!binary) check.fail(input, "parameters.binary_data_size needs the Inference-Header-Content-Length header");
  if (*size > binary->size()) {
    check.fail(input,
               fmt::format("binary_data_size {} is more than the {} bytes of binary data left", *size, binary->size()));
  }
  check.store_bytes(input, type, binary->substr(0, *size), "binary data");
  binary->remove_prefix(*size);
}

// Whether `parameters.<key>` (a boolean when present) asks for binary output.
std::optional<bool> binary_flag(const Json& object, const char* key, std::string_view where) {
  const Json* parameters = member(object, "parameters");
  if (!parameters) return std::nullopt;
  if (!parameters->IsObject()) throw BadRequest(fmt::format("{}'parameters' must be an object", where));
  const Json* flag = member(*parameters, key);
  if (!flag) return std::nullopt;
  if (!flag->IsBool()) {
    throw BadRequest(fmt::format("{}parameters.{} must be a boolean, found {}", where, key, kind_of(*flag)));
  }
  return flag->GetBool();
}

void read_outputs(const Json& root, const RequestCheck& check, InferRequest& request) {
  if (const std::optional<bool> flag = binary_flag(root, "binary_data_output", "")) request.binary_output = *flag;
  const Json* outputs = member(root, "outputs");
  if (!outputs) return;
  if (!outputs->IsArray()) throw BadRequest(fmt::format("'outputs' must be an array, found {}", kind_of(*outputs)));
  for (rapidjson::SizeType i = 0; i < outputs->Size(); ++i) {
    const Json& output = (*outputs)[i];
    const Json* name = output.IsObject() ? member(output, "name") : nullptr;
    if (!name || !name->IsString()) {
      throw BadRequest(fmt::format("outputs[{}] must be an object with a 'name' string", i));
    }
    const std::string_view text(name->GetString(), name->GetStringLength());
    check.output(text);
    const std::string where = fmt::format("output {}: ", detail::quote(text));
    if (const std::optional<bool> flag = binary_flag(output, "binary_data", where)) request.binary_output = *flag;
  }
}

rapidjson::Document parse_json(std::string_view text) {
  // A NUL would end rapidjson's stream early and hide what follows it.
  if (const void* nul = std::memchr(text.data(), 0, text.size())) {
    throw BadRequest(fmt::format("request body is not valid JSON: a NUL byte (at byte {})",
                                 static_cast<const char*>(nul) - text.data()));
  }
  rapidjson::Document doc;
  // Numbers to the nearest double: an FP64 feature is rounded once, to fp32.
  const rapidjson::ParseResult ok = parse_json_exact<kParseFlags>(doc, text);
  if (!ok) {
    throw BadRequest(fmt::format("request body is not valid JSON: {} (at byte {})",
                                 rapidjson::GetParseError_En(ok.Code()), ok.Offset()));
  }
  if (!doc.IsObject()) throw BadRequest(fmt::format("request body must be a JSON object, found {}", kind_of(doc)));
  return doc;
}

}  // namespace

InferRequest parse_http_request(std::string_view body, std::optional<size_t> header_length,
                                const ModelSignature& model) {
  if (header_length && *header_length > body.size()) {
    throw BadRequest(fmt::format("Inference-Header-Content-Length {} is more than the body's {} bytes", *header_length,
                                 body.size()));
  }
  std::optional<std::string_view> binary;
  if (header_length) binary = body.substr(*header_length);
  const rapidjson::Document root = parse_json(header_length ? body.substr(0, *header_length) : body);

  InferRequest request;
  RequestCheck check(model, request);
  if (const Json* id = member(root, "id")) {
    if (!id->IsString()) throw BadRequest(fmt::format("'id' must be a string, found {}", kind_of(*id)));
    request.id.assign(id->GetString(), id->GetStringLength());
  }
  const Json* inputs = member(root, "inputs");
  if (!inputs) throw BadRequest("request has no 'inputs'");
  if (!inputs->IsArray()) throw BadRequest(fmt::format("'inputs' must be an array, found {}", kind_of(*inputs)));
  for (rapidjson::SizeType i = 0; i < inputs->Size(); ++i) read_input((*inputs)[i], i, check, binary);
  check.finish();
  read_outputs(root, check, request);
  if (binary && !binary->empty()) {
    throw BadRequest(fmt::format("{} bytes follow the JSON header but the inputs' binary_data_size add up to {}",
                                 body.size() - *header_length, body.size() - *header_length - binary->size()));
  }
  return request;
}

int ModelSignature::lookups() const {
  int n = 0;
  for (int t = 0; t < tables(); ++t) n += table_hotness(t);
  return n;
}

std::string unknown_model(const ModelSignature& model, std::string_view name, std::string_view version) {
  if (name != model.name) {
    return fmt::format("unknown model {}; this server serves '{}'", detail::quote(name), model.name);
  }
  if (!version.empty() && version != model.version) {
    return fmt::format("model '{}' has no version {}; it has '{}'", model.name, detail::quote(version), model.version);
  }
  return {};
}

int http_status(Status s) {
  switch (s) {
    case Status::kOk: return 200;
    case Status::kBadRequest: return 400;
    case Status::kOverloaded: return 429;
    case Status::kUnavailable: return 503;
    case Status::kInternal: return 500;
  }
  return 500;
}

const char* status_label(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kBadRequest: return "bad_request";
    case Status::kOverloaded: return "overloaded";
    case Status::kUnavailable: return "unavailable";
    case Status::kInternal: return "error";
  }
  return "error";
}

}  // namespace dlrm::serve
