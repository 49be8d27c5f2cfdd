// dlrm-cluster: serves a sharded DLRM model under mpirun.
//   mpirun -n 4 dlrm-cluster --model DIR --data FILE [--batch N] [--out PRED.npy]
//          [--report REPORT.json] [--reference REF.npy]
// Ranks 0 .. S-1 serve the S shards of the model; the other ranks are dense ranks.
#include <CLI/CLI.hpp>
#include <mpi.h>

#include <cstdlib>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/cluster/pipeline.h"
#include "dlrm/common/error.h"
#include "dlrm/common/log.h"

int main(int argc, char** argv) {
  const double start_time = dlrm::cluster::steady_seconds();
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  dlrm::init_logging("dlrm-cluster", rank);

  dlrm::cluster::ClusterOptions options;
  CLI::App app{"Serve a sharded DLRM model: shard ranks pool embeddings, dense ranks run the MLPs.\n"
               "Run under mpirun with at least (shards + 1) ranks."};
  app.add_option("--model", options.model, "model directory written by dlrm-shard")->required();
  app.add_option("--data", options.data, "samples: MLPerf binary layout (dlrm-data, terabyte_processed_test.bin) or an .npz of accuracy data")->required();
  app.add_option("--batch", options.batch, "samples per batch on each dense rank")->capture_default_str();
  app.add_option("--out", options.out, "write predictions (float32 .npy, sample order)");
  app.add_option("--report", options.report, "write the run's REPORT.json");
  app.add_option("--reference", options.reference, "compare predictions with these (float32 .npy, or the reference array of an .npz)");
  app.add_option("--limit", options.limit, "use only the first N samples");
  app.add_option("--warmup", options.warmup_batches, "run the first N batches once, untimed, before measuring");
  app.add_option("--threads", options.threads, "OpenMP threads per dense rank (default: the node's cores / dense ranks)");
  app.add_flag("--fold-indices", options.fold_indices,
               "map indices outside a table to index mod rows (the reference preprocessing) instead of failing");
  bool no_verify = false;
  app.add_flag("--no-verify", no_verify, "skip recomputing shard checksums at load");
  app.add_flag("--quiet", options.quiet, "no summary table");
  std::string exchange_type = "fp32";
  app.add_option("--exchange-dtype", exchange_type, "pooled rows on the wire: fp32, or fp16 / bf16 (half the bytes)")
      ->check(CLI::IsMember({"fp32", "fp16", "bf16"}))
      ->capture_default_str();
  std::string mlp = "fp32";
  app.add_option("--mlp", mlp, "MLP precision: fp32, or int8 (needs dlrm-shard calibrate first)")
      ->check(CLI::IsMember({"fp32", "int8"}))
      ->capture_default_str();
  app.add_option("--auc-budget", options.auc_budget,
                 "allowed relative AUC loss against --reference on labelled data (0.01: MLPerf 99%, 0.001: 99.9%); "
                 "exceeding it exits 3")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  std::string shard_memory = "anon";
  app.add_option("--shard-memory", shard_memory,
                 "where shard ranks keep rows: anon (a private copy, NUMA-local, huge pages) or mmap (the page cache)")
      ->check(CLI::IsMember({"anon", "mmap"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = rank == 0 ? app.exit(e) : (e.get_exit_code() == 0 ? 0 : 1);
    MPI_Finalize();
    return code;
  }
  options.verify = !no_verify;
  options.shard_in_memory = shard_memory == "anon";
  options.mlp = dlrm::cluster::parse_mlp_precision(mlp);
  options.pooled_type = dlrm::cluster::parse_pooled_type(exchange_type);
  options.start_time = start_time;

  int code = 1;
  try {
    code = dlrm::cluster::run_cluster(options, MPI_COMM_WORLD);
  } catch (const dlrm::cluster::CollectiveFailure& e) {
    // Every rank saw it; rank 0 has named the ranks and causes.
    spdlog::debug("{}", e.what());
    MPI_Finalize();
    return 1;
  } catch (const std::exception& e) {
    // Only this rank knows: say so, then take the whole job down (no hang).
    dlrm::report_fatal(e);
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
  MPI_Finalize();
  return code;
}
