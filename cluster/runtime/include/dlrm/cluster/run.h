// A cluster run over a data file: every rank calls run_cluster() under mpirun.
//
//   startup   manifest, roles (ranks 0..S-1 serve shards unless DLRM_SHARD_RANKS
//             says otherwise), threads; shard ranks load their shard
//             (ShardRank), dense ranks their block of samples [begin, end)
//             (DatasetSource) and the MLPs (DenseRank)
//   run       warm-up batches (untimed), then every batch: DenseRank::run on
//             dense ranks, ShardRank::run on shard ranks, over one Exchange;
//             every rank runs the same number of steps
//   report    gathered to rank 0 (run_summary.h), which writes --out,
//             --report and prints the summary table
// A collective error (bad option, file, data) ends every rank with exit 1
// after rank 0 names the ranks and causes; an error only one rank sees
// mid-run aborts the job.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "dlrm/cluster/exchange.h"
#include "dlrm/cluster/report.h"
#include "dlrm/common/element_type.h"
#include "dlrm/scenario/settings.h"

namespace dlrm::cluster {

// A scenario run (scenario_run.h): queries as they arrive instead of the
// data file from start to end.
struct ScenarioOptions {
  scenario::Settings settings;
  std::filesystem::path summary;      // --summary: mlperf_log_summary.txt-shaped
  std::filesystem::path latency_log;  // --latency-log: one CSV line per query
  bool progress = true;
};

struct ClusterOptions {
  std::filesystem::path model;
  std::filesystem::path data;
  std::filesystem::path out;        // predictions .npy (optional)
  std::filesystem::path report;     // REPORT.json (optional)
  std::filesystem::path reference;  // reference predictions .npy (optional)
  int batch = 256;
  int64_t limit = 0;            // use only the first `limit` samples (0: all)
  int threads = 0;              // OpenMP threads per dense rank (0: cores on the node / dense ranks there)
  bool fold_indices = false;    // map out-of-range indices to index mod rows instead of failing
  bool verify = true;           // checksum every shard file at load
  bool shard_in_memory = true;  // copy rows into anonymous memory (false: serve from the page cache)
  bool quiet = false;           // no summary table on stdout
  bool warn_unchecked_budget = true;  // warn when a quantized run had no --reference to check its AUC against
  bool say_transport = true;          // log what --exchange-transport auto chose, and why
  double start_time = 0;              // steady_clock seconds at program start (load time is measured from it)
  int warmup_batches = 0;             // run the first N batches once, untimed, before the measured run
  ElementType mlp = ElementType::kFp32;          // dense::kMlpTypes
  ElementType pooled_type = ElementType::kFp32;  // kExchangeTypes: pooled rows on the wire (not with kPool)
  // auto: pool where the shard ranks share the dense ranks' cores on one
  // host, shared memory elsewhere on a host, all-to-all between hosts
  // (resolve_transport in job.h).
  Transport transport = Transport::kAuto;
  // The pooled rows' element type in effect under the transport the run
  // resolved: fp32 with the pool transport, where no row crosses a wire.
  ElementType wire_type(Transport resolved) const {
    return resolved == Transport::kPool ? ElementType::kFp32 : pooled_type;
  }
  ElementType interaction = ElementType::kFp32;  // dense::kInteractionTypes: the interaction's products
  // Allowed relative AUC loss against --reference's predictions (fp32) on the
  // data's labels: 0.01 is MLPerf's 99% target, 0.001 its 99.9% target. The
  // run exits 3 when the AUC falls below (1 - budget) x reference AUC.
  double auc_budget = 0.01;
  std::optional<ScenarioOptions> scenario;  // --scenario: queries as they arrive (world rank 0 is the front)
};

// Runs the whole job on `comm` (a scenario run when options.scenario is set);
// returns the process exit code: 0, 3 when the accuracy budget is exceeded
// (rank 0), or 1 on every rank after a collective error.
int run_cluster(const ClusterOptions& options, MPI_Comm comm);

// What a run leaves on rank 0 (empty elsewhere), for programs that go on
// after it (dlrm-bench).
struct ClusterOutcome {
  int exit_code = 0;
  Report report;
  std::vector<float> predictions;  // sample order
  std::vector<int32_t> labels;
};
ClusterOutcome run_cluster_outcome(const ClusterOptions& options, MPI_Comm comm);

// The batch a run uses: --batch, or the most samples a dense rank gets of
// `samples` when that is fewer (no buffer, MLP primitive or exchange window
// is sized by an oversized --batch).
int effective_batch(int batch, int64_t samples, int dense_ranks);

// The clock ClusterOptions::start_time is read from, in seconds and in
// nanoseconds (the fronts' query and request times).
double steady_seconds();
int64_t steady_ns();

// Collective over `comm`: OpenMP threads for this rank. Dense ranks share the
// cores they may run on with the other dense ranks of their node; shard ranks
// pool with one thread. `requested` > 0 (--threads) or OMP_NUM_THREADS win.
int choose_threads(MPI_Comm comm, bool dense, int requested);

}  // namespace dlrm::cluster
