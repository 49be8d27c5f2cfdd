// REST routes of the Open Inference Protocol on cpp-httplib.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "dlrm/common/error.h"
#include "endpoint_impl.h"

namespace dlrm::serve {

namespace {

// An idle keep-alive connection holds a worker this long; it is also how long
// a stop may wait for such connections to close.
constexpr int kKeepAliveSeconds = 2;
constexpr size_t kKeepAliveRequests = 1 << 20;

void answer(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), kJsonContentType);
}

// The value of Inference-Header-Content-Length, if the request has one.
std::optional<size_t> header_length(const httplib::Request& req) {
  if (!req.has_header("Inference-Header-Content-Length")) return std::nullopt;
  const std::string v = req.get_header_value("Inference-Header-Content-Length");
  size_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
    throw BadRequest(fmt::format("header Inference-Header-Content-Length: '{}' is not a byte count", v));
  }
  return n;
}

class HttpServer final : public Endpoint::Server {
 public:
  HttpServer(const EndpointOptions& options, const ModelSignature& model, Backend& backend, Metrics& metrics)
      : options_(options), model_(model), backend_(backend), metrics_(metrics) {
    const int threads = options.threads;
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
    server_.set_keep_alive_timeout(kKeepAliveSeconds);
    server_.set_keep_alive_max_count(kKeepAliveRequests);
    // httplib writes an answer's headers and body apart: with Nagle's
    // algorithm the body waits for the client's delayed ACK (40 ms).
    server_.set_tcp_nodelay(true);
    routes();
  }

  ~HttpServer() override { stop(); }

  std::string start() override {
    const std::string address = bind();
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    return address;
  }

  void stop() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::string bind() {
    const auto [host, port] = split_address(options_.http, "--http");
    const int bound = port == 0 ? server_.bind_to_any_port(host) : (server_.bind_to_port(host, port) ? port : -1);
    DLRM_CHECK(bound > 0, "--http {}: cannot listen there (the port is taken, or the address is not this host's); "
                          "choose another with --http HOST:PORT", options_.http);
    return fmt::format("{}:{}", host, bound);
  }

  void routes() {
    server_.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
      answer(res, 200, R"({"live":true})");
    });
    // The protocol's health answers: 200 for true, 4xx for false.
    server_.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
      const bool ready = backend_.ready();
      answer(res, ready ? 200 : 400, ready ? R"({"ready":true})" : R"({"ready":false})");
    });
    server_.Get("/v2", [](const httplib::Request&, httplib::Response& res) { answer(res, 200, server_metadata_json()); });
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_.text(), "text/plain; version=0.0.4; charset=utf-8");
    });
    const std::string model = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
    server_.Get(model, [this](const httplib::Request& req, httplib::Response& res) {
      if (known(req, res)) answer(res, 200, metadata_json(model_));
    });
    server_.Get(model + "/ready", [this](const httplib::Request& req, httplib::Response& res) {
      if (!known(req, res)) return;
      const bool ready = backend_.ready();
      answer(res, ready ? 200 : 400, fmt::format(R"({{"name":"{}","ready":{}}})", model_.name, ready));
    });
    // The body through a content reader: httplib's own reading would refuse
    // a body over 8 KiB sent as application/x-www-form-urlencoded (curl -d's
    // default) with 413.
    server_.Post(model + "/infer",
                 [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
                   // The body is read first, whatever the answer: one left
                   // unread would be taken for the connection's next request.
                   std::string body;
                   body.reserve(std::min<size_t>(req.get_header_value<uint64_t>("Content-Length"),
                                                 static_cast<size_t>(options_.max_body_bytes)));
                   const bool whole = reader([&body](const char* data, size_t n) {
                     body.append(data, n);
                     return true;
                   });
                   if (whole) {
                     if (known(req, res)) infer(req, body, res);
                   } else if (res.status == 413) {
                     too_large(req, res);
                   }
                 });
    // Answers without a body of their own: no route (404), a body over
    // --max-body-bytes (httplib's 413, a bad request here), others.
    server_.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                           httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      if (res.status == 413) {
        too_large(req, res);
      } else if (res.status == 404) {
        answer(res, 404, error_json(fmt::format("no route {} {}; the routes are under /v2 (see GET /v2/models/{})",
                                                req.method, req.path, model_.name)));
      } else {
        answer(res, res.status,
               error_json(fmt::format("{} {} failed with HTTP status {}", req.method, req.path, res.status)));
      }
      return httplib::Server::HandlerResponse::Handled;
    }));
    server_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("http: {}", what);
      answer(res, 500, error_json(what));
    });
  }

  void too_large(const httplib::Request& req, httplib::Response& res) {
    answer(res, 400, error_json(fmt::format("request body of {} bytes is over --max-body-bytes {}",
                                            req.get_header_value("Content-Length"), options_.max_body_bytes)));
    metrics_.request(Protocol::kHttp, Status::kBadRequest, 0);
  }

  // The model the path names is this one (else a 404 is written).
  bool known(const httplib::Request& req, httplib::Response& res) const {
    const std::string version = req.matches.size() > 2 ? std::string(req.matches[2]) : "";
    const std::string why = unknown_model(model_, std::string(req.matches[1]), version);
    if (why.empty()) return true;
    answer(res, 404, error_json(why));
    return false;
  }

  void infer(const httplib::Request& req, const std::string& body, httplib::Response& res) {
    const auto t0 = std::chrono::steady_clock::now();
    InferRequest request;
    try {
      request = parse_http_request(body, header_length(req), model_);
    } catch (const BadRequest& e) {
      answer(res, 400, error_json(e.what()));
      metrics_.request(Protocol::kHttp, Status::kBadRequest, seconds_since(t0));
      return;
    }
    InferRequest shape;  // what the answer echoes
    shape.id = request.id;
    shape.binary_output = request.binary_output;
    InferResult result = backend_.submit(std::move(request)).get();
    if (result.status == Status::kOk) {
      HttpBody body = http_response(model_, shape, result.probabilities);
      if (body.header_length) res.set_header("Inference-Header-Content-Length", std::to_string(*body.header_length));
      res.status = 200;
      res.set_content(std::move(body.body), body.content_type.c_str());
    } else {
      answer(res, http_status(result.status), error_json(result.message));
    }
    metrics_.request(Protocol::kHttp, result.status, seconds_since(t0));
  }

  const EndpointOptions& options_;
  const ModelSignature& model_;
  Backend& backend_;
  Metrics& metrics_;
  httplib::Server server_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Endpoint::Server> Endpoint::Server::http(const EndpointOptions& options, const ModelSignature& model,
                                                         Backend& backend, Metrics& metrics) {
  return std::make_unique<HttpServer>(options, model, backend, metrics);
}

}  // namespace dlrm::serve
