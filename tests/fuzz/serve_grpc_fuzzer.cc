// libFuzzer target: gRPC inference requests (cluster/serve/src/grpc_codec.cc).
// The input is a serialized inference.ModelInferRequest; one protobuf accepts
// is either refused with BadRequest (a short single-line message) or accepted
// as a request that keeps the model's rules, whose response must carry the
// probabilities exactly and survive serialization (ASan + UBSan).
#include <google/protobuf/stubs/logging.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "dlrm/serve/grpc_codec.h"
#include "inference.pb.h"
#include "serve_fuzz_checks.h"

namespace serve = dlrm::serve;

using serve_fuzz::model;

namespace {

// The response, through the wire and back: the shape, and the floats exactly.
void check_response(const serve::InferRequest& r) {
  const std::vector<float> p = serve_fuzz::probabilities(r);
  inference::ModelInferResponse out;
  serve::grpc_response(model(), r, p, out);
  inference::ModelInferResponse back;
  if (!back.ParseFromString(out.SerializeAsString())) __builtin_trap();
  if (back.outputs_size() != 1 || back.outputs(0).shape_size() != 2 || back.outputs(0).shape(0) != r.pairs) {
    __builtin_trap();
  }
  if (r.raw_output) {
    if (back.raw_output_contents_size() != 1) __builtin_trap();
    const std::string& bytes = back.raw_output_contents(0);
    if (bytes.size() != 4 * p.size() || std::memcmp(bytes.data(), p.data(), bytes.size()) != 0) __builtin_trap();
  } else {
    const auto& values = back.outputs(0).contents().fp32_contents();
    if (values.size() != r.pairs || std::memcmp(values.data(), p.data(), 4 * p.size()) != 0) __builtin_trap();
  }
}

}  // namespace

// Protobuf logs each string field that is not UTF-8 (and refuses the message): quiet.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  // Against a one-index-per-table model and a multi-hot one (dcn, transformed features).
  for (const serve::ModelSignature* m : {&model(), &serve_fuzz::multi_hot_model()}) {
    try {
      const serve::InferRequest r = serve::parse_grpc_request(message, *m);
      serve_fuzz::check_request(r, *m);
      if (r.raw_output != (message.raw_input_contents_size() > 0) || r.id != message.id()) __builtin_trap();
      check_response(r);
    } catch (const serve::BadRequest& e) {
      serve_fuzz::check_refusal(e);
    }
  }
  return 0;
}
