// The Open Inference Protocol (KServe v2) as dlrm-serve speaks it, without
// any network: the model's signature, a checked inference request, and the
// REST bodies (JSON, and the binary-data extension).
//
//   model "dlrm" (ModelSignature::name), version "1", platform "dlrm-cluster"
//   inputs   dense   [-1, F]  INT32 | INT64 | FP32 | FP64   raw counts as in the data files;
//                             the model's transform log(max(x, 0) + 1) is applied here
//                             (a dcn model, DLRM-v2: FP32 | FP64 features already
//                             transformed, as MLPerf's dlrm-v2 data files hold them)
//            sparse  [-1, L]  INT32 | INT64                 row indices, in range: L = T with one
//                             per table, or for a multi-hot model L = h_0 + .. + h_{T-1}, the
//                             model's lookups per table (ModelSignature::hotness), table by
//                             table: columns [h_0 + .. + h_{t-1}, .. + h_t) are table t's bag
//   output   probability [-1, 1] FP32
//
// parse_http_request() either returns a checked InferRequest or throws
// BadRequest whose message names the input (or field) and what is wrong with
// it: "input 'sparse': shape [4,25] does not match [N,26]", "input 'sparse'
// row 3, table 7: index 1000000 is outside the table's 1000000 rows".
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dlrm::serve {

// How a request ended: the REST status code and the gRPC status follow.
enum class Status { kOk, kBadRequest, kOverloaded, kUnavailable, kInternal };
int http_status(Status s);           // 200, 400, 429, 503, 500
const char* status_label(Status s);  // "ok", "bad_request", "overloaded", "unavailable", "error" (metrics)

struct ModelSignature {
  std::string name = "dlrm";
  std::string version = "1";
  std::string platform = "dlrm-cluster";
  int dense_features = 13;
  std::vector<int64_t> table_rows;  // one per table
  std::vector<int> hotness;         // lookups per pair in each table (empty: one each)
  bool dense_transformed = false;   // dense takes transformed features (FP32/FP64) as they are
  int tables() const { return static_cast<int>(table_rows.size()); }
  int table_hotness(int t) const { return hotness.empty() ? 1 : hotness[static_cast<size_t>(t)]; }
  // Columns of `sparse`: the lookups per pair in all tables.
  int lookups() const;
};

// Why a request for model `name`, version `version` ("" for any) is not for
// this model, or "" when it is: a 404 / NOT_FOUND (REST, gRPC), or refused
// by parse_grpc_request.
std::string unknown_model(const ModelSignature& model, std::string_view name, std::string_view version);

// A request that the server refuses with 400 / INVALID_ARGUMENT.
class BadRequest : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A checked request of `pairs` pairs.
struct InferRequest {
  std::string id;                // echoed in the answer ("" when the request had none)
  int64_t pairs = 0;             // >= 1
  std::vector<float> dense;      // [pairs, F], transformed (datasets::dense_feature)
  std::vector<int32_t> sparse;   // [pairs, lookups()], each index in its table's range
  bool binary_output = false;    // REST: answer `probability` as binary data (the extension)
  bool raw_output = false;       // gRPC: answer in raw_output_contents (the request used raw_input_contents)
};

// POST /v2/models/{name}/infer. header_length: the value of the
// Inference-Header-Content-Length header when present: then the body is that
// many bytes of JSON followed by the inputs' binary data, in input order,
// each input's size given by its "parameters": {"binary_data_size": K}.
InferRequest parse_http_request(std::string_view body, std::optional<size_t> header_length,
                                const ModelSignature& model);

// The content type of JSON answers. The charset parameter is also what keeps
// cpp-httplib from gzipping every answer for clients that accept gzip (it
// compresses "application/json" exactly): on answers of a few KiB that costs
// more CPU, on the cores the ranks share, than it saves on loopback.
inline constexpr const char* kJsonContentType = "application/json; charset=utf-8";

struct HttpBody {
  std::string body;
  std::string content_type;              // kJsonContentType, or application/octet-stream with binary data
  std::optional<size_t> header_length;   // set with binary data: send as Inference-Header-Content-Length
};
// The answer to `request`: {"model_name", "model_version", "id"?, "outputs":
// [{"name": "probability", "datatype": "FP32", "shape": [N, 1], "data": [...]}]},
// floats written so that they read back exactly; with binary_output the data
// follows the JSON as N little-endian floats ("parameters": {"binary_data_size": 4N}).
HttpBody http_response(const ModelSignature& model, const InferRequest& request, const std::vector<float>& probabilities);

// GET /v2/models/{name}: name, versions, platform, inputs and outputs.
std::string metadata_json(const ModelSignature& model);
// GET /v2: name "dlrm-serve", version, extensions ["binary_tensor_data"].
std::string server_metadata_json();
// {"error": "<message>"}
std::string error_json(std::string_view message);

}  // namespace dlrm::serve
