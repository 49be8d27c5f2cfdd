#include "dlrm/cluster/serve_front.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "dlrm/cluster/query_source.h"
#include "dlrm/cluster/run.h"
#include "dlrm/common/error.h"

namespace dlrm::cluster {

namespace {

// The loop's longest sleep with steps in flight (answers arrive without
// warning), with every step in flight (the dense ranks have work queued, and
// an answer seen a little late costs nothing: the front takes less of the
// cores it shares) and with nothing to do (a new request wakes it at once).
constexpr auto kPoll = std::chrono::microseconds(100);
constexpr auto kPollFull = std::chrono::microseconds(1000);
constexpr auto kIdle = std::chrono::milliseconds(20);
constexpr auto kStuck = std::chrono::nanoseconds(std::chrono::seconds(10));

serve::InferResult refused(serve::Status status, std::string message) {
  return {status, std::move(message), {}};
}

}  // namespace

ServeFront::ServeFront(MPI_Comm world, std::vector<int> dense, const serve::ModelSignature& model, ServeConfig config,
                       serve::Metrics& metrics)
    : link_(world, std::move(dense), config.batch),
      model_(model),
      config_(config),
      metrics_(metrics),
      batcher_(config.batch, config.max_wait_us * 1000) {}

std::future<serve::InferResult> ServeFront::submit(serve::InferRequest request) {
  Pending p;
  auto future = p.promise.get_future();
  const int64_t n = request.pairs;
  if (!ready()) {
    p.promise.set_value(refused(serve::Status::kUnavailable, draining_ ? "the server is shutting down"
                                                                       : "the server is not ready yet (ranks are "
                                                                         "loading); retry when /v2/health/ready says so"));
    return future;
  }
  if (n > config_.max_queue_pairs) {
    p.promise.set_value(refused(serve::Status::kBadRequest,
                                fmt::format("a request of {} pairs is over --max-queue-pairs {}; send it in parts", n,
                                            config_.max_queue_pairs)));
    return future;
  }
  {
    std::lock_guard lock(mutex_);
    if (queued_ + n > config_.max_queue_pairs) {
      p.promise.set_value(refused(serve::Status::kOverloaded,
                                  fmt::format("the queue is full ({} pairs waiting, --max-queue-pairs {}); retry later",
                                              queued_, config_.max_queue_pairs)));
      return future;
    }
    queued_ += n;
    p.request = std::move(request);
    incoming_.push_back(std::move(p));
  }
  wake_.notify_one();
  return future;
}

// Submitted requests into the batcher.
void ServeFront::admit(int64_t now_ns) {
  std::vector<Pending> incoming;
  {
    std::lock_guard lock(mutex_);
    incoming.swap(incoming_);
  }
  for (Pending& p : incoming) {
    const int64_t id = next_id_++;
    p.left = p.request.pairs;
    p.probabilities.assign(p.request.pairs, 0.0f);
    batcher_.add({id, static_cast<int32_t>(p.request.pairs), 0, 0}, now_ns);
    pending_.emplace(id, std::move(p));
  }
}

// A step of queued pairs; each pair's inputs go with it (kStepData).
void ServeFront::send_step() {
  auto pairs = take_step(batcher_, link_.dense_ranks());
  int64_t sent = 0;
  const int features = model_.dense_features, lookups = model_.lookups();  // index columns per pair
  link_.send(std::move(pairs), kStepData, [&](int, const StepLink::Pairs& batch, std::vector<int32_t>& message) {
    const size_t n = batch.size(), start = message.size();
    message.resize(start + n * (features + lookups));
    auto* dense = reinterpret_cast<float*>(message.data() + start);
    int32_t* rows = message.data() + start + n * features;
    const Pending* p = nullptr;
    int64_t id = -1;
    for (size_t i = 0; i < n; ++i) {
      if (batch[i].query != id) {
        id = batch[i].query;
        p = &pending_.at(id);
      }
      const size_t k = static_cast<size_t>(batch[i].pair);
      std::memcpy(dense + i * features, p->request.dense.data() + k * features, sizeof(float) * features);
      std::memcpy(rows + i * lookups, p->request.sparse.data() + k * lookups, sizeof(int32_t) * lookups);
    }
    if (n > 0) metrics_.batch(static_cast<int>(n));
    sent += static_cast<int64_t>(n);
  });
  ++stats_.steps;
  std::lock_guard lock(mutex_);
  queued_ -= sent;
}

void ServeFront::scored(const scenario::PairRef& pair, float probability) {
  auto it = pending_.find(pair.query);
  if (it == pending_.end()) return;  // answered already (fail_all)
  Pending& p = it->second;
  p.probabilities[pair.pair] = probability;
  if (--p.left > 0) return;
  stats_.pairs += p.request.pairs;
  ++stats_.requests;
  metrics_.scored(p.request.pairs);
  p.promise.set_value({serve::Status::kOk, {}, std::move(p.probabilities)});
  pending_.erase(it);
}

// Answers every request not yet answered (their pairs may still be in flight;
// their answers are then dropped).
void ServeFront::fail_all(serve::Status status, const std::string& message) {
  admit(0);
  for (auto& [id, p] : pending_) p.promise.set_value(refused(status, message));
  stats_.drained = pending_.empty();
  pending_.clear();
  batcher_ = scenario::DynamicBatcher(config_.batch, config_.max_wait_us * 1000);
  std::lock_guard lock(mutex_);
  queued_ = 0;
}

ServeStats ServeFront::run(const std::function<bool()>& stop, const std::function<void()>& stop_accepting) {
  const int64_t t0 = steady_ns();
  std::thread stopper;
  std::atomic<bool> stopped{false};
  int64_t drain_deadline = 0;
  while (true) {
    int64_t now = steady_ns();
    if (!draining_ && stop()) {
      draining_ = true;
      drain_deadline = now + static_cast<int64_t>(config_.drain_timeout_s * 1e9);
      spdlog::info("stopping: no new requests; answering the {} in flight (at most {} s)", pending_.size(),
                   config_.drain_timeout_s);
      stopper = std::thread([&] {
        stop_accepting();
        stopped = true;
        wake_.notify_one();
      });
    }
    admit(now);
    bool busy = false;
    while (link_.in_flight() < link_.limit(batcher_.queued()) && batcher_.ready(now)) {
      send_step();
      busy = true;
    }
    busy |= link_.poll([this](const scenario::PairRef& pair, float p) { scored(pair, p); });
    metrics_.set_queue(batcher_.queued(), static_cast<int64_t>(pending_.size()));
    if (draining_ && now > drain_deadline && !pending_.empty()) {
      spdlog::error("drain timeout: {} requests were not answered within {} s", pending_.size(),
                    config_.drain_timeout_s);
      fail_all(serve::Status::kUnavailable, "the server stopped before this request was scored");
    }
    // Steps still unanswered well after that: a dense rank is stuck; end the
    // job rather than hang.
    DLRM_CHECK(!draining_ || now < drain_deadline + kStuck.count() || link_.in_flight() == 0,
               "{} steps sent to the dense ranks were not answered within {} s of the drain timeout", link_.in_flight(),
               std::chrono::duration<double>(kStuck).count());
    if (draining_ && stopped && pending_.empty() && link_.in_flight() == 0) break;
    if (busy) continue;
    // Nothing to do now: sleep until a request arrives, the oldest queued
    // pair's wait ends, or (with steps in flight) a short poll interval.
    std::unique_lock lock(mutex_);
    if (!incoming_.empty()) continue;
    auto sleep = link_.in_flight() == 0           ? std::chrono::nanoseconds(kIdle)
                 : link_.in_flight() >= StepLink::kMaxInFlight ? std::chrono::nanoseconds(kPollFull)
                                                       : std::chrono::nanoseconds(kPoll);
    if (batcher_.queued() > 0) sleep = std::min(sleep, std::chrono::nanoseconds(batcher_.deadline_ns() - now));
    if (sleep.count() > 0) wake_.wait_for(lock, sleep);
  }
  if (stopper.joinable()) stopper.join();
  link_.end();
  stats_.seconds = (steady_ns() - t0) * 1e-9;
  return stats_;
}

}  // namespace dlrm::cluster
