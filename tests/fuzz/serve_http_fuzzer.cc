// libFuzzer target: REST inference bodies (cluster/serve/src/protocol.cc and
// http_body.cc). When the input's first line is a decimal number it is the
// Inference-Header-Content-Length and the rest is the body (the binary-data
// extension); otherwise the whole input is a JSON body. Every body is either
// refused with BadRequest, whose message is one short line that error_json
// carries unchanged, or accepted as a request that keeps the model's rules;
// the answer to an accepted one must read back bit-exact (ASan + UBSan).
#include <rapidjson/document.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dlrm/serve/protocol.h"
#include "serve_fuzz_checks.h"

namespace serve = dlrm::serve;
using serve_fuzz::model;

namespace {

// The answer, read back: the id, the shape, and the floats bit-exact.
void check_answer(const serve::InferRequest& r) {
  const std::vector<float> p = serve_fuzz::probabilities(r);
  const serve::HttpBody body = serve::http_response(model(), r, p);
  std::string_view json = body.body;
  if (r.binary_output) {
    if (!body.header_length || body.body.size() != *body.header_length + 4 * p.size()) __builtin_trap();
    json = json.substr(0, *body.header_length);
    if (std::memcmp(body.body.data() + *body.header_length, p.data(), 4 * p.size()) != 0) __builtin_trap();
  }
  const rapidjson::Document doc = serve_fuzz::parse_json(json);
  if (r.id.empty() == doc.HasMember("id")) __builtin_trap();
  const auto& out = doc["outputs"][0];
  if (out["shape"][0].GetInt64() != r.pairs) __builtin_trap();
  if (r.binary_output) return;
  if (out["data"].Size() != p.size()) __builtin_trap();
  for (size_t i = 0; i < p.size(); ++i) {
    const float back = static_cast<float>(out["data"][static_cast<rapidjson::SizeType>(i)].GetDouble());
    if (std::bit_cast<uint32_t>(back) != std::bit_cast<uint32_t>(p[i])) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view body = input;
  std::optional<size_t> header_length;
  if (const size_t nl = input.find('\n'); nl != std::string_view::npos && nl > 0 && nl <= 20) {
    size_t value = 0;
    const auto [end, ec] = std::from_chars(input.data(), input.data() + nl, value);
    if (ec == std::errc() && end == input.data() + nl) {
      header_length = value;
      body = input.substr(nl + 1);
    }
  }
  // Against a one-index-per-table model and a multi-hot one (dcn, transformed features).
  for (const serve::ModelSignature* m : {&model(), &serve_fuzz::multi_hot_model()}) {
    try {
      const serve::InferRequest r = serve::parse_http_request(body, header_length, *m);
      serve_fuzz::check_request(r, *m);
      check_answer(r);
    } catch (const serve::BadRequest& e) {
      serve_fuzz::check_refusal(e);
    }
  }
  return 0;
}
