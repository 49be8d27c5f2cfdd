// The cluster run: every rank calls run_cluster() under mpirun.
//
// Per batch, on each dense rank:
//   read_input   mmap'd records -> log(x+1) dense features and index bags
//   route        RequestBuilder encodes one message per shard
//   exchange     all-to-all of message sizes, then of the indices (posted
//                non-blocking; the bottom MLP runs meanwhile)
//   bottom_mlp   oneDNN
//   exchange     the pooled rows: all-to-all, or written by the shards
//                straight into a shared-memory window on one host
//   assemble     answers -> emb[batch][tables][dim]
//   interaction  dot interaction straight into the top MLP input
//   top_mlp      oneDNN, sigmoid fused
// and on each shard rank: receive requests, pool (ShardServer), answer.
// Dense ranks own contiguous blocks of the data; every rank runs the same
// number of batches (short ranks send empty ones). Predictions, labels and
// per-batch latencies are gathered to rank 0, which writes the outputs.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dlrm/dense/model_mlps.h"
#include "dlrm/cluster/exchange.h"
#include "dlrm/cluster/report.h"
#include "dlrm/dense/interaction.h"

namespace dlrm::cluster {

struct ClusterOptions {
  std::filesystem::path model;
  std::filesystem::path data;
  std::filesystem::path out;        // predictions .npy (optional)
  std::filesystem::path report;     // REPORT.json (optional)
  std::filesystem::path reference;  // reference predictions .npy (optional)
  int batch = 256;
  int64_t limit = 0;          // use only the first `limit` samples (0: all)
  int threads = 0;            // OpenMP threads per dense rank (0: cores on the node / dense ranks there)
  bool fold_indices = false;  // map out-of-range indices to index mod rows instead of failing
  bool verify = true;         // checksum every shard file at load
  bool shard_in_memory = true;  // copy rows into anonymous memory (false: serve from the page cache)
  bool quiet = false;         // no summary table on stdout
  bool warn_unchecked_budget = true;  // warn when a quantized run had no --reference to check its AUC against
  double start_time = 0;      // steady_clock seconds at program start (load time is measured from it)
  int warmup_batches = 0;     // run the first N batches once, untimed, before the measured run
  dense::MlpPrecision mlp = dense::MlpPrecision::kFp32;
  PooledType pooled_type = PooledType::kFp32;  // how pooled rows cross the all-to-all
  Transport transport = Transport::kAuto;       // shared memory on one host, else all-to-all
  // Products of the dot interaction: fp32, or bf16 (for int8 MLPs; see interaction.h).
  dense::InteractionPrecision interaction = dense::InteractionPrecision::kFp32;
  // Allowed relative AUC loss against --reference's predictions (fp32) on the
  // data's labels: 0.01 is MLPerf's 99% target, 0.001 its 99.9% target. The
  // run exits non-zero when the AUC falls below (1 - budget) x reference AUC.
  double auc_budget = 0.01;
};

// Runs the whole job on `comm`; returns the process exit code (0 on every
// rank, or non-zero on every rank after a collective error that rank 0 has
// reported). Errors that only one rank can see mid-run abort the job.
int run_cluster(const ClusterOptions& options, MPI_Comm comm);

// What a run leaves on rank 0 (empty elsewhere), for programs that go on
// after it (dlrm-bench).
struct ClusterOutcome {
  Report report;
  std::vector<float> predictions;  // sample order
  std::vector<int32_t> labels;
};
ClusterOutcome run_cluster_outcome(const ClusterOptions& options, MPI_Comm comm);

// The batch a run uses: --batch, or the most samples a dense rank gets of
// `samples` when that is fewer (no buffer, MLP primitive or exchange window
// is sized by an oversized --batch).
int effective_batch(int batch, int64_t samples, int dense_ranks);

// The clock ClusterOptions::start_time is read from.
double steady_seconds();

// Collective over `comm`: OpenMP threads for this rank. Dense ranks share the
// cores they may run on with the other dense ranks of their node; shard ranks
// pool with one thread. `requested` > 0 (--threads) or OMP_NUM_THREADS win.
int choose_threads(MPI_Comm comm, bool dense, int requested);

}  // namespace dlrm::cluster
