// The front of a scenario run (world rank 0): it issues queries by LoadGen's
// rules, forms batches of their pairs and hands them to the dense ranks, one
// step at a time, and completes each query when all its pairs are scored.
//
//   per loop turn, at time now (ns from the trial's start):
//     issue     offline: every query at 0; server: those scheduled <= now;
//               single-stream: the next one when none is outstanding
//     dispatch  while fewer than StepLink::limit() steps are unanswered and the
//               batcher is ready: a step = one batch (or none) per dense rank
//     complete  each dense rank's answer to a step: its predictions go to
//               their queries; a query completes with its last pair
//   until the trial has issued what it must (min duration and query count;
//   accuracy mode: every sample once) and every query has completed.
// The dense ranks step on between trials; end() ends their run.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

#include "dlrm/cluster/step_link.h"
#include "dlrm/scenario/batcher.h"
#include "dlrm/scenario/result.h"
#include "dlrm/scenario/settings.h"

namespace dlrm::cluster {

struct FrontConfig {
  MPI_Comm world = MPI_COMM_NULL;
  std::vector<int> dense;  // world ranks of the dense ranks, in dense order
  int batch = 256;         // the most pairs one dense rank scores in a step
  int64_t samples = 0;     // the samples every dense rank holds
  bool progress = true;    // a progress line every few seconds
};

struct Trial {
  scenario::ScenarioResult result;
  std::vector<scenario::QueryRecord> records;
  std::vector<float> predictions;  // accuracy mode: by sample
};

class Front {
 public:
  explicit Front(FrontConfig config);
  Front(const Front&) = delete;
  Front& operator=(const Front&) = delete;

  // One trial of `settings`. offline_queries: how many queries an offline
  // trial issues in performance mode.
  Trial run(const scenario::Settings& settings, int64_t offline_queries);
  // Ends the dense ranks' run (and with it the shard ranks').
  void end();
  // Pairs scored over every trial so far.
  int64_t pairs() const { return link_.pairs(); }

 private:
  class TrialState;
  void send_step(scenario::DynamicBatcher& batcher);

  FrontConfig config_;
  StepLink link_;
};

}  // namespace dlrm::cluster
