// dlrm-cluster: serves a sharded DLRM model under mpirun.
//   mpirun -n 4 dlrm-cluster --model DIR --data FILE [--batch N] [--out PRED.npy]
//          [--report REPORT.json] [--reference REF.npy]
//   mpirun -n 5 dlrm-cluster --model DIR --data FILE --scenario server [--target-qps Q] ...
// Ranks 0 .. S-1 serve the S shards of the model; the other ranks are dense
// ranks. With --scenario, rank 0 is the front that issues queries and the
// shards follow it (ranks 1 .. S).
#include <CLI/CLI.hpp>
#include <mpi.h>

#include <cstdlib>

#include "dlrm/cluster/run.h"
#include "dlrm/common/log.h"
#include "mpi_program.h"
#include "scenario_options.h"

int main(int argc, char** argv) {
  const double start_time = dlrm::cluster::steady_seconds();
  dlrm::tools::init_mpi_program(argc, argv, "dlrm-cluster");

  dlrm::cluster::ClusterOptions options;
  CLI::App app{"Serve a sharded DLRM model: shard ranks pool embeddings, dense ranks run the MLPs.\n"
               "Run under mpirun with at least (shards + 1) ranks."};
  dlrm::tools::add_serving_options(app, options);
  app.add_option("--data", options.data,
                 "samples: MLPerf binary layout (dlrm-data, terabyte_processed_test.bin), an .npz of accuracy data, "
                 "or MLPerf's dlrm-v2 multi-hot files (a directory holding day_N_dense.npy, "
                 "day_N_sparse_multi_hot.npz, day_N_labels.npy, or their prefix DIR/day_N)")
      ->required();
  app.add_option("--out", options.out, "write predictions (float32 .npy, sample order)");
  app.add_option("--report", options.report, "write the run's REPORT.json");
  app.add_option("--reference", options.reference,
                 "compare predictions with these (float32 .npy, or the reference array of an .npz)");
  app.add_flag("--quiet", options.quiet, "no summary table");
  app.add_option("--auc-budget", options.auc_budget,
                 "allowed relative AUC loss against --reference on labelled data (0.01: MLPerf 99%, 0.001: 99.9%); "
                 "exceeding it exits 3")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  dlrm::tools::ScenarioCli scenario;
  dlrm::tools::add_scenario_options(app, scenario);
  app.callback([&] { options.scenario = dlrm::tools::scenario_options(scenario); });
  return dlrm::tools::run_mpi_program(app, argc, argv, [&] {
    options.start_time = start_time;
    return dlrm::cluster::run_cluster(options, MPI_COMM_WORLD);
  });
}
