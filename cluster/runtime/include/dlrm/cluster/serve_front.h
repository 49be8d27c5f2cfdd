// The front of dlrm-serve (world rank 0): the Backend the REST and gRPC
// servers hand their checked requests to. Requests queue in the dynamic
// batcher; steps of their pairs (inputs included) go to the dense ranks over
// the StepLink; a request is answered when its last pair is scored.
//
//   server threads   submit(request): refused at once when not ready
//                    (kUnavailable) or when the queue is full (kOverloaded),
//                    else queued; the future is set when it is scored
//   MPI thread       run(): moves queued requests into the batcher, sends a
//                    step when a dense rank can take one and the batcher is
//                    ready (a full batch, or the oldest pair has waited
//                    --max-wait-us), takes answers, completes requests
// A step goes while fewer than StepLink::limit() are in flight (two; three
// when a full batch per dense rank is queued), so pairs that arrive while the
// dense ranks are busy gather into larger batches.
#pragma once

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "dlrm/cluster/step_link.h"
#include "dlrm/scenario/batcher.h"
#include "dlrm/serve/endpoint.h"
#include "dlrm/serve/metrics.h"

namespace dlrm::cluster {

struct ServeConfig {
  int batch = 256;                  // the most pairs one dense rank scores in a step
  int64_t max_wait_us = 0;          // how long a partial batch may wait for more pairs
  int64_t max_queue_pairs = 65536;  // pairs queued (not yet sent) beyond which requests get kOverloaded
  double drain_timeout_s = 30;      // after a stop: how long requests in flight may take
};

// What the front saw, for the summary at exit.
struct ServeStats {
  int64_t requests = 0, pairs = 0, steps = 0;
  double seconds = 0;
  bool drained = true;  // every request admitted was answered before the drain timeout
};

class ServeFront final : public serve::Backend {
 public:
  ServeFront(MPI_Comm world, std::vector<int> dense, const serve::ModelSignature& model, ServeConfig config,
             serve::Metrics& metrics);
  bool ready() const override { return ready_.load() && !draining_.load(); }
  std::future<serve::InferResult> submit(serve::InferRequest request) override;
  // Every rank has loaded: requests are taken from now on.
  void set_ready() { ready_ = true; }
  // Serves until stop() returns true (checked every loop turn; then: stop
  // taking requests, let `stop_accepting` (the endpoint's stop, which
  // returns once its requests are answered) run beside the loop, answer what
  // is queued), then ends the dense ranks' run.
  ServeStats run(const std::function<bool()>& stop, const std::function<void()>& stop_accepting);

 private:
  struct Pending {
    serve::InferRequest request;
    std::promise<serve::InferResult> promise;
    std::vector<float> probabilities;
    int64_t left = 0;
  };
  void admit(int64_t now_ns);
  void send_step();
  void scored(const scenario::PairRef& pair, float probability);
  void fail_all(serve::Status status, const std::string& message);

  StepLink link_;
  const serve::ModelSignature& model_;
  ServeConfig config_;
  serve::Metrics& metrics_;
  scenario::DynamicBatcher batcher_;
  std::unordered_map<int64_t, Pending> pending_;  // by request id, admitted and unanswered
  int64_t next_id_ = 0;
  ServeStats stats_;

  std::atomic<bool> ready_{false}, draining_{false};
  std::mutex mutex_;  // guards incoming_ and queued_
  std::condition_variable wake_;
  std::vector<Pending> incoming_;  // submitted, not yet in the batcher
  int64_t queued_ = 0;             // pairs submitted and not yet sent in a step
};

}  // namespace dlrm::cluster
