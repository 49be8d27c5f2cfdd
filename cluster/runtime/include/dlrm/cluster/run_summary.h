// A run's results, from every rank to rank 0, and the Report made of them.
//
//   gather_run(comm, mine)        collective: every rank's RankResult -> rank 0
//                                 (rank facts, times, bytes, predictions and
//                                 labels in sample order, batch latencies)
//   summarize_run(run, ...)       rank 0: pairs/s = samples / slowest rank's
//                                 seconds, latency percentiles, mean stage
//                                 seconds per role, bytes per pair, AUC, and
//                                 the comparison with --reference
#pragma once

#include "dlrm/model/manifest.h"

#include <mpi.h>

#include <cstdint>
#include <vector>

#include "dlrm/cluster/report.h"

namespace dlrm::cluster {

struct RankResult {
  RankReport facts;
  double seconds = 0;  // the timed run
  uint64_t index_bytes = 0, pooled_bytes = 0;
  uint64_t lookups = 0;  // indices this dense rank routed
  int64_t first_sample = 0;  // dense ranks: predictions[i] is sample first_sample + i
  std::vector<float> predictions;
  std::vector<int32_t> labels;
  std::vector<double> latencies_ms;  // per batch
};

struct GatheredRun {
  std::vector<RankReport> ranks;  // by rank
  double seconds = 0;             // the slowest rank's
  uint64_t index_bytes = 0, pooled_bytes = 0, lookups = 0;
  std::vector<float> predictions;  // sample order
  std::vector<int32_t> labels;
  std::vector<double> latencies_ms;
};

// Collective over `comm`; the result is filled on rank 0 only. The dense
// ranks' sample blocks must tile [0, samples).
GatheredRun gather_run(MPI_Comm comm, const RankResult& mine, int64_t samples);

// The reference predictions' comparison, on rank 0.
struct ReferenceCheck {
  const std::vector<float>* predictions = nullptr;  // --reference, or null
  double auc_budget = 0.01;
};

// Fills the measured fields of `report` (its descriptive fields are the
// caller's): pairs, seconds, throughput, latencies, stages, bytes, ranks,
// AUC and the reference comparison. The minimum bytes per pair are the
// data's lookups per pair as int32 indices out plus one pooled row of dim
// elements per table back (0 when report.exchange_transport, which the
// caller sets first, is "pool": nothing crosses a wire).
void summarize_run(const GatheredRun& run, const ReferenceCheck& reference, const model::ModelArch& arch,
                   int pooled_element_bytes, Report& report);

}  // namespace dlrm::cluster
