// The endpoint's metrics, in Prometheus's text exposition format (0.0.4),
// for GET /metrics. Thread-safe: the endpoints' threads and the front update
// them while a scrape reads them.
//
//   dlrm_requests_total{protocol="http|grpc",outcome="ok|bad_request|overloaded|unavailable|error"}  counter
//   dlrm_request_duration_seconds{protocol=...}   histogram (_bucket{le=...}, _sum, _count)
//   dlrm_batch_pairs                               histogram of the pairs in each dense-rank batch
//   dlrm_queue_pairs                               gauge: pairs admitted and not yet sent to a dense rank
//   dlrm_requests_in_flight                        gauge: requests admitted and not yet answered
//   dlrm_pairs_scored_total                        counter
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "dlrm/serve/protocol.h"

namespace dlrm::serve {

enum class Protocol { kHttp, kGrpc };

// Cumulative histogram with fixed upper bounds (a +Inf bucket is implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // Appends the _bucket, _sum and _count lines of `name` with `labels`
  // ("" or `key="value",...` without braces).
  void write(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // per bound, plus +Inf (not cumulative)
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  // batch: the largest dense-rank batch (the batch-size histogram's buckets reach it).
  explicit Metrics(int batch);
  void request(Protocol protocol, Status status, double seconds);
  void batch(int pairs);
  void scored(int64_t pairs);
  void set_queue(int64_t queued_pairs, int64_t requests_in_flight);
  std::string text() const;

 private:
  static constexpr int kStatuses = 5, kProtocols = 2;
  std::array<std::array<std::atomic<uint64_t>, kStatuses>, kProtocols> requests_{};
  std::array<Histogram, kProtocols> latency_;  // per protocol (a Histogram cannot move: an array, not a vector)
  Histogram batch_;
  std::atomic<int64_t> queued_{0}, in_flight_{0}, scored_{0};
};

}  // namespace dlrm::serve
