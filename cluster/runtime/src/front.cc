#include "dlrm/cluster/front.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <thread>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/cluster/query_source.h"
#include "dlrm/cluster/run.h"
#include "dlrm/common/error.h"
#include "dlrm/scenario/early_stopping.h"
#include "dlrm/scenario/queries.h"

namespace dlrm::cluster {

namespace {

constexpr double kProgressSeconds = 5;
// The front's longest sleep between polls for answers: with a step that is
// not yet in flight, and with every step in flight.
constexpr auto kIdle = std::chrono::microseconds(100);
constexpr auto kIdleFull = std::chrono::microseconds(1000);

}  // namespace

// The queries of one trial and what is known of them.
class Front::TrialState {
 public:
  TrialState(const scenario::Settings& settings, int64_t samples, int64_t offline_queries, int batch)
      : settings(settings),
        generator(settings, samples),
        batcher(batch, settings.max_wait_us * 1000),
        offline_queries_(offline_queries) {
    if (settings.mode == scenario::Mode::kAccuracy) predictions.assign(samples, std::nanf(""));
    t0 = steady_ns();
    // The latency log's times are relative to t0; this lets them be lined up with system traces.
    spdlog::debug("trial clock origin: CLOCK_MONOTONIC {} ns", t0);
  }

  int64_t now() const { return steady_ns() - t0; }

  // Issues the queries whose time has come; returns when the next one is due (or max).
  int64_t issue(int64_t now_ns) {
    using scenario::Scenario;
    if (done_issuing) return std::numeric_limits<int64_t>::max();
    switch (settings.scenario) {
      case Scenario::kOffline:
        while (!done_issuing) {
          if (settings.mode == scenario::Mode::kPerformance &&
              static_cast<int64_t>(records.size()) >= offline_queries_) {
            done_issuing = true;
          } else if (!next_query(0, now_ns)) {
            done_issuing = true;
          }
        }
        return std::numeric_limits<int64_t>::max();
      case Scenario::kServer:
        if (!pending) pending = generator.next();
        while (pending && pending->scheduled_ns <= now_ns) {
          enqueue(*pending, now_ns);
          pending = enough() ? std::nullopt : generator.next();
          if (!pending) done_issuing = true;
        }
        if (!pending) done_issuing = true;
        return pending ? pending->scheduled_ns : std::numeric_limits<int64_t>::max();
      case Scenario::kSingleStream:
        if (outstanding == 0) {
          if (enough() || !next_query(now_ns, now_ns)) done_issuing = true;
        }
        return std::numeric_limits<int64_t>::max();
    }
    return std::numeric_limits<int64_t>::max();
  }

  // A pair was scored.
  void scored(const scenario::PairRef& pair, float prediction, int64_t now_ns) {
    if (!predictions.empty()) predictions[pair.sample] = prediction;
    const auto q = static_cast<size_t>(pair.query);
    if (--left[q] == 0) {
      records[q].completed_ns = now_ns;
      latencies.push_back(now_ns - records[q].scheduled_ns);
      --outstanding;
    }
  }

  void progress(int64_t now_ns) {
    if (now_ns < next_progress_) return;
    next_progress_ = now_ns + static_cast<int64_t>(kProgressSeconds * 1e9);
    // The p99 by the summary's rule (scenario::percentile_index).
    std::vector<int64_t> sorted = latencies;
    double p99 = 0;
    if (!sorted.empty()) {
      const auto k = sorted.begin() + scenario::percentile_index(static_cast<int64_t>(sorted.size()), 0.99);
      std::nth_element(sorted.begin(), k, sorted.end());
      p99 = static_cast<double>(*k) * 1e-6;
    }
    spdlog::info("{} {}: {:.0f} s, {} queries issued, {} done, p99 so far {:.2f} ms", to_string(settings.scenario),
                 to_string(settings.mode), now_ns * 1e-9, records.size(), records.size() - outstanding, p99);
  }

  scenario::Settings settings;
  scenario::QueryGenerator generator;
  scenario::DynamicBatcher batcher;
  std::vector<scenario::QueryRecord> records;
  std::vector<int32_t> left;  // pairs not yet scored, per query
  std::vector<int64_t> latencies;
  std::vector<float> predictions;
  std::optional<scenario::Query> pending;  // server: the next scheduled query
  int64_t outstanding = 0;
  bool done_issuing = false, interrupted = false;
  int64_t t0 = 0;

 private:
  // Performance mode: issued what the settings ask (server: scheduled up to
  // min duration; single-stream: issued up to it; both: min query count).
  bool enough() const {
    if (settings.mode == scenario::Mode::kAccuracy || records.empty()) return false;
    const auto& last = records.back();
    const int64_t t = settings.scenario == scenario::Scenario::kServer ? last.scheduled_ns : last.issued_ns;
    return static_cast<int64_t>(records.size()) >= settings.min_query_count && t >= settings.min_duration_s * 1e9;
  }
  bool next_query(int64_t scheduled_ns, int64_t now_ns) {
    auto q = generator.next();
    if (!q) return false;
    q->scheduled_ns = scheduled_ns;
    enqueue(*q, now_ns);
    return true;
  }
  void enqueue(const scenario::Query& q, int64_t now_ns) {
    records.push_back({q.id, q.pairs, q.scheduled_ns, now_ns, 0});
    left.push_back(q.pairs);
    ++outstanding;
    batcher.add(q, now_ns);
  }
  int64_t offline_queries_;
  int64_t next_progress_ = static_cast<int64_t>(kProgressSeconds * 1e9);
};

Front::Front(FrontConfig config)
    : config_(std::move(config)), link_(config_.world, config_.dense, config_.batch) {}

void Front::send_step(scenario::DynamicBatcher& batcher) {
  link_.send(take_step(batcher, link_.dense_ranks()), kStepBatch,
             [](int, const StepLink::Pairs& pairs, std::vector<int32_t>& message) {
               for (const auto& p : pairs) message.push_back(static_cast<int32_t>(p.sample));
             });
}

Trial Front::run(const scenario::Settings& settings, int64_t offline_queries) {
  TrialState trial(settings, config_.samples, offline_queries, config_.batch);
  auto idle = std::chrono::microseconds(5);
  while (true) {
    int64_t now = trial.now();
    if (!trial.done_issuing && interrupted()) {
      trial.done_issuing = trial.interrupted = true;
      spdlog::warn("interrupted: no more queries; finishing the {} outstanding ({} pairs not yet sent), then the summary; "
                   "the same signal again (a second Ctrl-C) stops at once, without it",
                   trial.outstanding, trial.batcher.queued());
    }
    const int64_t next_arrival = trial.issue(now);
    bool busy = false;
    // A batch goes when it is full or its wait is over, or at once when no
    // query can arrive before the wait ends (offline, single-stream, a quiet
    // server): waiting would only add latency.
    const auto dispatch = [&] {
      return trial.batcher.ready(now) || (trial.batcher.queued() > 0 && next_arrival > trial.batcher.deadline_ns());
    };
    while (link_.in_flight() < link_.limit(trial.batcher.queued()) && dispatch()) {
      send_step(trial.batcher);
      busy = true;
    }
    const int64_t answered_ns = trial.now();
    busy |= link_.poll([&](const scenario::PairRef& pair, float p) { trial.scored(pair, p, answered_ns); });
    if (trial.done_issuing && trial.outstanding == 0 && link_.in_flight() == 0) break;
    if (config_.progress) trial.progress(now);
    if (busy) {
      idle = std::chrono::microseconds(5);
      continue;
    }
    // Nothing to do: sleep until the next arrival or batch deadline, at most
    // a short while (answers arrive without warning). A batch that waits for
    // a step to come back has no deadline to keep: the front must not spin
    // on a core the dense ranks need to finish that step.
    now = trial.now();
    // With every step in flight, the dense ranks have work queued and an
    // answer seen a little late costs nothing: poll less often, so the front
    // takes less of the cores it shares.
    const bool can_send = link_.in_flight() < link_.limit(trial.batcher.queued());
    const int64_t wake = can_send ? std::min(next_arrival, trial.batcher.deadline_ns()) : next_arrival;
    const auto until = std::chrono::nanoseconds(std::max<int64_t>(0, wake - now));
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(until, idle));
    const auto cap = link_.in_flight() >= StepLink::kMaxInFlight ? kIdleFull : kIdle;
    idle = std::min(idle * 2, cap);
  }
  Trial out;
  out.records = std::move(trial.records);
  out.result = scenario::evaluate(settings, out.records, trial.interrupted);
  out.predictions = std::move(trial.predictions);
  return out;
}

void Front::end() { link_.end(); }

}  // namespace dlrm::cluster
