// The gRPC side of the protocol: inference.GRPCInferenceService's messages
// (proto/inference.proto, wire-compatible with KServe's grpc_predict_v2.proto)
// to and from the checked request of protocol.h.
#pragma once

#include <vector>

#include "dlrm/serve/protocol.h"

namespace inference {
class ModelInferRequest;
class ModelInferResponse;
class ModelMetadataResponse;
class ServerMetadataResponse;
}  // namespace inference

namespace dlrm::serve {

// Inputs from `contents` (int_contents, int64_contents, fp32_contents,
// fp64_contents by datatype) or from raw_input_contents (all inputs raw, in
// input order, little-endian row-major). Throws BadRequest as
// parse_http_request does; raw_output is set when the inputs were raw.
InferRequest parse_grpc_request(const inference::ModelInferRequest& message, const ModelSignature& model);
// `probability` [N, 1] FP32: in raw_output_contents when request.raw_output,
// else in contents.fp32_contents.
void grpc_response(const ModelSignature& model, const InferRequest& request, const std::vector<float>& probabilities,
                   inference::ModelInferResponse& out);
void grpc_metadata(const ModelSignature& model, inference::ModelMetadataResponse& out);
void grpc_server_metadata(inference::ServerMetadataResponse& out);

}  // namespace dlrm::serve
