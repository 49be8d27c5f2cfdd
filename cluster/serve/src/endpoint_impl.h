// The two servers behind Endpoint (private to dlrm_endpoint).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "dlrm/serve/endpoint.h"

namespace dlrm::serve {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// REST on cpp-httplib: a listening thread and a pool of `threads` workers.
class Endpoint::Http {
 public:
  Http(const EndpointOptions& options, const ModelSignature& model, Backend& backend, Metrics& metrics);
  ~Http();
  void start();
  void stop();
  std::string address() const { return address_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

// gRPC on grpc++'s synchronous server.
class Endpoint::Grpc {
 public:
  Grpc(const EndpointOptions& options, const ModelSignature& model, Backend& backend, Metrics& metrics);
  ~Grpc();
  void start();
  void stop();
  std::string address() const { return address_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace dlrm::serve
