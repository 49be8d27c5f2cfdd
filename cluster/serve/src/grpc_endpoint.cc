// inference.GRPCInferenceService on grpc++'s synchronous server.
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <limits>

#include "dlrm/common/error.h"
#include "dlrm/serve/grpc_codec.h"
#include "endpoint_impl.h"
#include "inference.grpc.pb.h"

namespace dlrm::serve {

namespace {

grpc::StatusCode grpc_code(Status s) {
  switch (s) {
    case Status::kOk: return grpc::StatusCode::OK;
    case Status::kBadRequest: return grpc::StatusCode::INVALID_ARGUMENT;
    case Status::kOverloaded: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Status::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case Status::kInternal: return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::UNKNOWN;
}

// gRPC's own limit on a message sits above --max-body-bytes, so that a
// request a little over it reaches the handler and gets INVALID_ARGUMENT
// naming the option; far larger ones are refused by gRPC itself
// (RESOURCE_EXHAUSTED) before they are read.
int transport_limit(int64_t max_body_bytes) {
  return static_cast<int>(std::min<int64_t>(std::numeric_limits<int>::max(), 2 * max_body_bytes + (1 << 20)));
}

class GrpcServer final : public Endpoint::Server, public inference::GRPCInferenceService::Service {
 public:
  GrpcServer(const EndpointOptions& options, const ModelSignature& model, Backend& backend, Metrics& metrics)
      : options_(options), model_(model), backend_(backend), metrics_(metrics) {}

  ~GrpcServer() override { stop(); }

  std::string start() override {
    const auto [host, port] = split_address(options_.grpc, "--grpc");
    grpc::ServerBuilder builder;
    int bound = 0;
    builder.AddListeningPort(options_.grpc, grpc::InsecureServerCredentials(), &bound);
    builder.RegisterService(this);
    // One server per port: without this, gRPC binds a port that another
    // process already listens on (SO_REUSEPORT) and shares its traffic.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(transport_limit(options_.max_body_bytes));
    grpc::ResourceQuota quota("dlrm-serve");
    quota.SetMaxThreads(options_.threads);
    builder.SetResourceQuota(quota);
    server_ = builder.BuildAndStart();
    DLRM_CHECK(server_ && bound > 0, "--grpc {}: cannot listen there (the port is taken, or the address is not this "
                                     "host's); choose another with --grpc HOST:PORT", options_.grpc);
    return fmt::format("{}:{}", host, bound);
  }

  void stop() override {
    if (!server_) return;
    server_->Shutdown();  // stops accepting; returns once the calls in flight are answered
    server_->Wait();
    server_.reset();
  }

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* out) override {
    out->set_live(true);
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* out) override {
    out->set_ready(backend_.ready());
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* in,
                          inference::ModelReadyResponse* out) override {
    if (auto bad = unknown(in->name(), in->version())) return *bad;
    out->set_ready(backend_.ready());
    return grpc::Status::OK;
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* out) override {
    grpc_server_metadata(*out);
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* in,
                             inference::ModelMetadataResponse* out) override {
    if (auto bad = unknown(in->name(), in->version())) return *bad;
    grpc_metadata(model_, *out);
    return grpc::Status::OK;
  }
  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* in,
                          inference::ModelInferResponse* out) override {
    const auto t0 = std::chrono::steady_clock::now();
    const grpc::Status status = infer(*in, *out);
    metrics_.request(Protocol::kGrpc, status_of(status.error_code()), seconds_since(t0));
    return status;
  }

 private:
  static Status status_of(grpc::StatusCode code) {
    switch (code) {
      case grpc::StatusCode::OK: return Status::kOk;
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::NOT_FOUND: return Status::kBadRequest;
      case grpc::StatusCode::RESOURCE_EXHAUSTED: return Status::kOverloaded;
      case grpc::StatusCode::UNAVAILABLE: return Status::kUnavailable;
      default: return Status::kInternal;
    }
  }

  std::optional<grpc::Status> unknown(const std::string& name, const std::string& version) const {
    std::string why = unknown_model(model_, name, version);
    if (why.empty()) return std::nullopt;
    return grpc::Status(grpc::StatusCode::NOT_FOUND, std::move(why));
  }

  grpc::Status infer(const inference::ModelInferRequest& in, inference::ModelInferResponse& out) {
    if (auto bad = unknown(in.model_name(), in.model_version())) return *bad;
    const size_t bytes = in.ByteSizeLong();
    if (bytes > static_cast<size_t>(options_.max_body_bytes)) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              fmt::format("request of {} bytes is over --max-body-bytes {}", bytes, options_.max_body_bytes)};
    }
    InferRequest request;
    try {
      request = parse_grpc_request(in, model_);
    } catch (const BadRequest& e) {
      return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
    }
    InferRequest shape;  // what the answer echoes
    shape.id = request.id;
    shape.raw_output = request.raw_output;
    InferResult result = backend_.submit(std::move(request)).get();
    if (result.status != Status::kOk) return {grpc_code(result.status), result.message};
    grpc_response(model_, shape, result.probabilities, out);
    return grpc::Status::OK;
  }

  const EndpointOptions& options_;
  const ModelSignature& model_;
  Backend& backend_;
  Metrics& metrics_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace

std::unique_ptr<Endpoint::Server> Endpoint::Server::grpc(const EndpointOptions& options, const ModelSignature& model,
                                                         Backend& backend, Metrics& metrics) {
  return std::make_unique<GrpcServer>(options, model, backend, metrics);
}

}  // namespace dlrm::serve
