// The front's side of the step protocol with the dense ranks
// (query_source.h): one step = one batch (or none) per dense rank, sent
// without waiting; each dense rank answers each step with its predictions.
// The front keeps several steps in flight and polls for answers.
//
//   StepLink link({world, dense ranks, batch});
//   link.send(pairs, encode);   pairs[d]: what dense rank d scores this step;
//                               encode(d, pairs[d], message) appends the payload
//                               after the header [kind, step, n]
//   link.poll(scored);          scored(pair, prediction) for every pair of every
//                               answer that has arrived; true when one had
//   link.end();                 ends the dense ranks' run (after the last answer)
#pragma once

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "dlrm/scenario/batcher.h"

namespace dlrm::cluster {

// One step's pairs from the batcher: what is queued, up to a full batch per
// dense rank, spread evenly over them (a step lasts as long as its largest
// batch).
std::vector<std::vector<scenario::PairRef>> take_step(scenario::DynamicBatcher& batcher, int dense_ranks);

class StepLink {
 public:
  using Pairs = std::vector<scenario::PairRef>;
  using Encoder = std::function<void(int dense, const Pairs& pairs, std::vector<int32_t>& message)>;
  using Scored = std::function<void(const scenario::PairRef& pair, float prediction)>;

  // dense: world ranks of the dense ranks, in dense order; batch: the most
  // pairs one dense rank scores in a step.
  StepLink(MPI_Comm world, std::vector<int> dense, int batch);
  ~StepLink();
  StepLink(const StepLink&) = delete;
  StepLink& operator=(const StepLink&) = delete;

  int dense_ranks() const { return static_cast<int>(dense_.size()); }
  int batch() const { return batch_; }
  // Steps sent and not yet answered by every dense rank.
  int in_flight() const { return static_cast<int>(steps_.size()); }
  // The most steps a front keeps in flight with `queued` pairs waiting: a
  // third keeps a dense rank busy while the front reacts, but only a full one
  // (a batch per dense rank) pays for the wait it adds to the pairs behind it.
  static constexpr int kMaxInFlight = 3;
  int limit(int64_t queued) const {
    return queued >= static_cast<int64_t>(batch_) * dense_ranks() ? kMaxInFlight : kMaxInFlight - 1;
  }
  // Sends one step of message kind `kind` (query_source.h).
  void send(std::vector<Pairs> pairs, int32_t kind, const Encoder& encode);
  bool poll(const Scored& scored);
  void end();
  // Pairs answered so far.
  int64_t pairs() const { return pairs_; }

 private:
  struct Step {
    std::vector<Pairs> pairs;                     // per dense rank
    std::vector<std::vector<int32_t>> messages;   // kept until sent
    std::vector<MPI_Request> sends;
    int answered = 0;
  };
  void handle(int d, const Scored& scored);
  void post_receive(int d);

  MPI_Comm world_;
  std::vector<int> dense_;
  int batch_;
  std::deque<Step> steps_;  // unanswered, oldest first
  int64_t next_step_ = 0, first_step_ = 0;
  std::vector<MPI_Request> answers_;  // per dense rank: the posted receive
  std::vector<std::vector<char>> answer_buffers_;
  int64_t pairs_ = 0;
};

}  // namespace dlrm::cluster
