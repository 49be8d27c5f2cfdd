// The servers of dlrm-serve: REST (cpp-httplib) and gRPC (grpc++) on the
// addresses given, both handing checked requests to one Backend (the front of
// the cluster) and answering when it has scored them.
//
//   Endpoint endpoint(options, backend, metrics);
//   endpoint.start();      binds both (throws dlrm::Error naming the address
//                          when it cannot), serves from threads of its own
//   ... backend.ready() turns true once every rank has loaded ...
//   endpoint.stop();       stops accepting, lets the requests in flight
//                          finish, returns when both servers have stopped
//
// REST routes: GET /v2, /v2/health/live, /v2/health/ready, /v2/models/{name},
// /v2/models/{name}/ready, /metrics; POST /v2/models/{name}/infer.
// gRPC: inference.GRPCInferenceService (ServerLive, ServerReady, ModelReady,
// ServerMetadata, ModelMetadata, ModelInfer).
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/serve/metrics.h"
#include "dlrm/serve/protocol.h"

namespace dlrm::serve {

// A scored request, or why not.
struct InferResult {
  Status status = Status::kOk;
  std::string message;              // for every status but kOk
  std::vector<float> probabilities;  // kOk: one per pair
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Every rank has loaded, and the server is not draining.
  virtual bool ready() const = 0;
  // Takes a checked request. The future is ready at once with kOverloaded
  // when the queue is full, kUnavailable when not ready, else once scored.
  virtual std::future<InferResult> submit(InferRequest request) = 0;
};

struct EndpointOptions {
  std::string http = "127.0.0.1:8000";  // host:port; "" for none; port 0 picks a free one
  std::string grpc = "127.0.0.1:8001";
  int64_t max_body_bytes = 64 << 20;     // a larger request gets 400 / INVALID_ARGUMENT
  int threads = 32;                      // per server: requests handled at once
};

class Endpoint {
 public:
  Endpoint(EndpointOptions options, ModelSignature model, Backend& backend, Metrics& metrics);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  void start();
  void stop();
  // The bound addresses (host:port, the port picked when 0 was asked), "" when off.
  std::string http_address() const;
  std::string grpc_address() const;
  // What REST and gRPC each are (src/endpoint_impl.h).
  class Server;

 private:
  EndpointOptions options_;
  ModelSignature model_;
  Backend& backend_;
  Metrics& metrics_;
  std::unique_ptr<Server> http_, grpc_;
  std::string http_address_, grpc_address_;
};

// "host:port" split; throws dlrm::Error naming `option` when malformed.
std::pair<std::string, int> split_address(const std::string& address, const std::string& option);

}  // namespace dlrm::serve
