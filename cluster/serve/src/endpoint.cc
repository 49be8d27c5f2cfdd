#include "dlrm/serve/endpoint.h"

#include <charconv>
#include <thread>

#include "dlrm/common/error.h"
#include "endpoint_impl.h"

namespace dlrm::serve {

std::pair<std::string, int> split_address(const std::string& address, const std::string& option) {
  const auto colon = address.rfind(':');
  int port = -1;
  if (colon != std::string::npos && colon > 0) {
    const char* first = address.data() + colon + 1;
    const char* last = address.data() + address.size();
    const auto [end, ec] = std::from_chars(first, last, port);
    if (ec != std::errc() || end != last || first == last) port = -1;
  }
  DLRM_CHECK(port >= 0 && port <= 65535, "{} '{}' is not host:port (for example 127.0.0.1:8000; port 0 picks a free "
                                         "one)", option, address);
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, port};
}

Endpoint::Endpoint(EndpointOptions options, ModelSignature model, Backend& backend, Metrics& metrics)
    : options_(std::move(options)), model_(std::move(model)), backend_(backend), metrics_(metrics) {}

Endpoint::~Endpoint() { stop(); }

void Endpoint::start() {
  if (!options_.http.empty()) {
    http_ = Server::http(options_, model_, backend_, metrics_);
    http_address_ = http_->start();
  }
  if (!options_.grpc.empty()) {
    grpc_ = Server::grpc(options_, model_, backend_, metrics_);
    grpc_address_ = grpc_->start();
  }
}

void Endpoint::stop() {
  // Both stop accepting at once; each returns when its requests are answered.
  std::thread http_stop;
  if (http_) http_stop = std::thread([this] { http_->stop(); });
  if (grpc_) grpc_->stop();
  if (http_stop.joinable()) http_stop.join();
}

std::string Endpoint::http_address() const { return http_address_; }
std::string Endpoint::grpc_address() const { return grpc_address_; }

}  // namespace dlrm::serve
