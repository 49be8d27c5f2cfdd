// The REST bodies the server writes: the inference answer (JSON, or JSON
// followed by binary data), the model's and the server's metadata, errors.
// Written by hand into one reserved string: the answer of a large request is
// thousands of floats, each std::to_chars's shortest text that reads back to
// the same float.
#include <charconv>
#include <cmath>
#include <cstring>

#include "dlrm/serve/protocol.h"
#include "tensor_check.h"

namespace dlrm::serve {

namespace {

constexpr std::string_view kReplacement = "\\ufffd";

// `s` as a JSON string literal. Bytes that are not UTF-8 become U+FFFD, so
// that the document stays valid whatever the text.
void append_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = detail::utf8_sequence(s, i);
      if (n == 0) {
        out += kReplacement;
        ++i;
      } else {
        out.append(s, i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

template <class T>
void append_number(std::string& out, T v) {
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, v);
  out.append(text, end);
}

// Shortest round-trip text; null for NaN and infinities, which JSON lacks.
// Negative zero as "-0.0": readers take "-0" for the integer 0 and lose the sign.
void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
  } else if (v == 0 && std::signbit(v)) {
    out += "-0.0";
  } else {
    append_number(out, v);
  }
}

}  // namespace

HttpBody http_response(const ModelSignature& model, const InferRequest& request,
                       const std::vector<float>& probabilities) {
  HttpBody out;
  std::string& body = out.body;
  const size_t n = probabilities.size();
  // About 12 bytes per shortest float text and its comma.
  body.reserve(160 + model.name.size() + model.version.size() + request.id.size() + n * 16);
  body += R"({"model_name":)";
  append_string(body, model.name);
  body += R"(,"model_version":)";
  append_string(body, model.version);
  if (!request.id.empty()) {
    body += R"(,"id":)";
    append_string(body, request.id);
  }
  body += R"(,"outputs":[{"name":")";
  body += detail::kOutputName;
  body += R"(","datatype":"FP32","shape":[)";
  append_number(body, n);
  body += ",1]";
  if (request.binary_output) {
    body += R"(,"parameters":{"binary_data_size":)";
    append_number(body, n * sizeof(float));
    body += "}}]}";
    out.header_length = body.size();
    // Little-endian floats, as the host holds them (tensor_check.cc asserts a little-endian host).
    body.append(reinterpret_cast<const char*>(probabilities.data()), n * sizeof(float));
    out.content_type = "application/octet-stream";
    return out;
  }
  body += R"(,"data":[)";
  for (size_t i = 0; i < n; ++i) {
    if (i) body += ',';
    append_float(body, probabilities[i]);
  }
  body += "]}]}";
  out.content_type = kJsonContentType;
  return out;
}

std::string metadata_json(const ModelSignature& model) {
  std::string out = R"({"name":)";
  append_string(out, model.name);
  out += R"(,"versions":[)";
  append_string(out, model.version);
  out += R"(],"platform":)";
  append_string(out, model.platform);
  // The inputs, then the outputs, as tensor_metadata() lists them.
  out += R"(,"inputs":[)";
  bool input = true, first = true;
  for (const detail::TensorMetadata& t : detail::tensor_metadata(model)) {
    if (input && !t.input) {
      out += R"(],"outputs":[)";
      first = true;
    }
    input = t.input;
    if (!first) out += ',';
    first = false;
    out += R"({"name":)";
    append_string(out, t.name);
    out += R"(,"datatype":)";
    append_string(out, t.datatype);
    out += R"(,"shape":[-1,)";
    append_number(out, t.cols);
    out += "]}";
  }
  out += "]}";
  return out;
}

std::string server_metadata_json() {
  std::string out = R"({"name":)";
  append_string(out, detail::kServerName);
  out += R"(,"version":)";
  append_string(out, DLRM_VERSION);
  out += R"(,"extensions":[)";
  append_string(out, detail::kServerExtension);
  out += "]}";
  return out;
}

std::string error_json(std::string_view message) {
  std::string out = R"({"error":)";
  append_string(out, message);
  out += '}';
  return out;
}

}  // namespace dlrm::serve
