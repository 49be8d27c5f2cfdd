// The two servers behind Endpoint (private to dlrm_endpoint).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "dlrm/serve/endpoint.h"

namespace dlrm::serve {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class Endpoint::Server {
 public:
  virtual ~Server() = default;
  // Binds its address (throws dlrm::Error naming the option when it cannot)
  // and serves from threads of its own; returns the address bound.
  virtual std::string start() = 0;
  // Stops accepting; returns once the requests in flight are answered.
  virtual void stop() = 0;

  // REST on cpp-httplib, gRPC on grpc++'s synchronous server.
  static std::unique_ptr<Server> http(const EndpointOptions& options, const ModelSignature& model, Backend& backend,
                                      Metrics& metrics);
  static std::unique_ptr<Server> grpc(const EndpointOptions& options, const ModelSignature& model, Backend& backend,
                                      Metrics& metrics);
};

}  // namespace dlrm::serve
