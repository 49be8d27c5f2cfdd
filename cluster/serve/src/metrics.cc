// Prometheus's text exposition format 0.0.4: per metric a # HELP and a
// # TYPE line, then its samples. Every series exists from the start (zero
// counters, empty histograms), so that rate() and absent() behave from the
// first scrape.
#include "dlrm/serve/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace dlrm::serve {

namespace {

// Request latencies: 0.5 ms (a small request on an idle server) to 10 s.
std::vector<double> latency_bounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// 1, 2, 4, ... below `batch`, then `batch`: a full batch lands in the last bucket.
std::vector<double> batch_bounds(int batch) {
  std::vector<double> bounds;
  for (int64_t b = 1; b < batch; b *= 2) bounds.push_back(static_cast<double>(b));
  bounds.push_back(std::max(batch, 1));
  return bounds;
}

// Shortest round-trip text; Prometheus reads "+Inf", "-Inf" and "NaN".
void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char text[32];
    // Shortest round-trip digits; "general" writes 0.0005, not 5e-04.
    out.append(text, std::to_chars(text, text + sizeof text, v, std::chars_format::general).ptr);
  }
}

void append_value(std::string& out, uint64_t v) {
  char text[24];
  out.append(text, std::to_chars(text, text + sizeof text, v).ptr);
}

void append_value(std::string& out, int64_t v) {
  char text[24];
  out.append(text, std::to_chars(text, text + sizeof text, v).ptr);
}

// name{labels} value
template <class T>
void append_sample(std::string& out, std::string_view name, std::string_view labels, T value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  append_value(out, value);
  out += '\n';
}

void append_header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

constexpr std::array<Protocol, 2> kProtocolList = {Protocol::kHttp, Protocol::kGrpc};
constexpr std::array<Status, 5> kStatusList = {Status::kOk, Status::kBadRequest, Status::kOverloaded,
                                               Status::kUnavailable, Status::kInternal};

const char* protocol_label(Protocol p) { return p == Protocol::kHttp ? "http" : "grpc"; }

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;  // no bucket holds it; _count stays the +Inf bucket
  // The first bucket whose upper bound is >= value ("le"), else +Inf.
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& labels) const {
  std::vector<uint64_t> counts;
  double sum;
  uint64_t count;
  {
    std::lock_guard lock(mutex_);
    counts = counts_;
    sum = sum_;
    count = count_;
  }
  const std::string bucket = name + "_bucket";
  const std::string prefix = labels.empty() ? "le=\"" : labels + ",le=\"";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    std::string le = prefix;
    append_value(le, i < bounds_.size() ? bounds_[i] : INFINITY);
    le += '"';
    append_sample(out, bucket, le, cumulative);
  }
  append_sample(out, name + "_sum", labels, sum);
  append_sample(out, name + "_count", labels, count);
}

Metrics::Metrics(int batch)
    : latency_{Histogram(latency_bounds()), Histogram(latency_bounds())}, batch_(batch_bounds(batch)) {}

void Metrics::request(Protocol protocol, Status status, double seconds) {
  const int p = static_cast<int>(protocol);
  requests_[p][static_cast<int>(status)].fetch_add(1, std::memory_order_relaxed);
  latency_[p].observe(seconds);
}

void Metrics::batch(int pairs) { batch_.observe(pairs); }

void Metrics::scored(int64_t pairs) { scored_.fetch_add(pairs, std::memory_order_relaxed); }

void Metrics::set_queue(int64_t queued_pairs, int64_t requests_in_flight) {
  queued_.store(queued_pairs, std::memory_order_relaxed);
  in_flight_.store(requests_in_flight, std::memory_order_relaxed);
}

std::string Metrics::text() const {
  std::string out;
  out.reserve(8192);
  append_header(out, "dlrm_requests_total", "counter", "Inference requests answered, by protocol and outcome.");
  for (Protocol p : kProtocolList) {
    for (Status s : kStatusList) {
      const std::string labels =
          std::string("protocol=\"") + protocol_label(p) + "\",outcome=\"" + status_label(s) + '"';
      append_sample(out, "dlrm_requests_total", labels,
                    requests_[static_cast<int>(p)][static_cast<int>(s)].load(std::memory_order_relaxed));
    }
  }
  append_header(out, "dlrm_request_duration_seconds", "histogram",
                "Time from an inference request's arrival to its answer, in seconds.");
  for (Protocol p : kProtocolList) {
    latency_[static_cast<int>(p)].write(out, "dlrm_request_duration_seconds",
                                        std::string("protocol=\"") + protocol_label(p) + '"');
  }
  append_header(out, "dlrm_batch_pairs", "histogram", "Pairs in each batch sent to a dense rank.");
  batch_.write(out, "dlrm_batch_pairs", "");
  append_header(out, "dlrm_queue_pairs", "gauge", "Pairs admitted and not yet sent to a dense rank.");
  append_sample(out, "dlrm_queue_pairs", "", queued_.load(std::memory_order_relaxed));
  append_header(out, "dlrm_requests_in_flight", "gauge", "Inference requests admitted and not yet answered.");
  append_sample(out, "dlrm_requests_in_flight", "", in_flight_.load(std::memory_order_relaxed));
  append_header(out, "dlrm_pairs_scored_total", "counter", "Pairs scored since the server started.");
  append_sample(out, "dlrm_pairs_scored_total", "", scored_.load(std::memory_order_relaxed));
  return out;
}

}  // namespace dlrm::serve
