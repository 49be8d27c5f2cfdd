// What dlrm-cluster and dlrm-bench share: the options that choose how the
// cluster serves, and the program-level error policy under mpirun.
#pragma once

#include <CLI/CLI.hpp>
#include <mpi.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <functional>
#include <string>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/cluster/run.h"
#include "dlrm/dense/interaction.h"
#include "dlrm/dense/model_mlps.h"
#include "dlrm/common/log.h"

namespace dlrm::tools {

// --model, --batch, --threads, --exchange-dtype, --exchange-transport,
// --interaction, --mlp, --no-verify and --shard-memory, written straight
// into `options`.
inline void add_model_options(CLI::App& app, cluster::ClusterOptions& options) {
  app.add_option("--model", options.model, "model directory written by dlrm-shard")->required();
  app.add_option("--batch", options.batch, "samples per batch on each dense rank")->capture_default_str();
  app.add_option("--threads", options.threads, "OpenMP threads per dense rank (default: the node's cores / dense ranks)");
  app.add_option("--exchange-dtype", "pooled rows on the wire: fp32 (default), or fp16 / bf16 (half the bytes)")
      ->check(CLI::IsMember({"fp32", "fp16", "bf16"}))
      ->each([&options](const std::string& name) { options.pooled_type = parse_element_type(name, cluster::kExchangeTypes, "exchange type"); });
  app.add_option("--exchange-transport",
                 "how pooled rows reach the dense ranks: auto (default: shm when every rank is on one host), "
                 "alltoall (MPI all-to-all), shm (shards write into the dense ranks' shared memory) or pool "
                 "(one host: the dense ranks pool from the shards' rows in shared memory themselves)")
      ->check(CLI::IsMember({"auto", "alltoall", "shm", "pool"}))
      ->each([&options](const std::string& name) { options.transport = cluster::parse_transport(name); });
  app.add_option("--interaction",
                 "products of the dot interaction: fp32 (default), or bf16 (rows rounded to bf16, fp32 sums; "
                 "twice as fast, meant for --mlp int8)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->each([&options](const std::string& name) { options.interaction = parse_element_type(name, dense::kInteractionTypes, "interaction precision"); });
  app.add_option("--mlp", "MLP precision: fp32 (default), or int8 (needs dlrm-shard calibrate first)")
      ->check(CLI::IsMember({"fp32", "int8"}))
      ->each([&options](const std::string& name) { options.mlp = parse_element_type(name, dense::kMlpTypes, "MLP precision"); });
  app.add_flag("--no-verify", [&options](int64_t) { options.verify = false; },
               "skip recomputing shard checksums at load");
  app.add_option("--shard-memory",
                 "where shard ranks keep rows: anon (default: a private copy, NUMA-local, huge pages) or mmap (the "
                 "page cache)")
      ->check(CLI::IsMember({"anon", "mmap"}))
      ->each([&options](const std::string& name) { options.shard_in_memory = name == "anon"; });
}

// The model options, and the data file's: --limit, --warmup, --fold-indices.
inline void add_serving_options(CLI::App& app, cluster::ClusterOptions& options) {
  add_model_options(app, options);
  app.add_option("--limit", options.limit, "use only the first N samples");
  app.add_option("--warmup", options.warmup_batches, "run the first N batches once, untimed, before measuring")
      ->capture_default_str();
  app.add_flag("--fold-indices", options.fold_indices,
               "map indices outside a table to index mod rows (the reference preprocessing) instead of failing");
}

// MPI_Init for a program whose dense ranks run OpenMP (oneDNN) threads while
// only the main thread calls MPI (FUNNELED), then the rank-tagged logger.
// Returns this rank.
inline int init_mpi_program(int& argc, char**& argv, const char* name) {
  cluster::default_mca_params();  // what a shared core needs, unless the user chose otherwise
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  init_logging(name, rank);
  return rank;
}

// Parses `app` and runs `body` on every rank with the project's policy:
// a parse error is printed by rank 0 only; a CollectiveFailure (every rank
// saw it, rank 0 named the ranks and causes) ends every rank with exit 1; any
// other error is this rank's alone, so it is reported and the whole job is
// aborted rather than left to hang. MPI_Init must have run; this finalizes.
// SIGPIPE is ignored: when a peer dies, a rank writing to its TCP socket gets
// an error instead of dying by the signal, so mpirun reports the rank that
// really failed first (a healthy rank's signal 13 could win that race).
inline int run_mpi_program(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  std::signal(SIGPIPE, SIG_IGN);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = rank == 0 ? app.exit(e) : (e.get_exit_code() == 0 ? 0 : 1);
    MPI_Finalize();
    return code;
  }
  int code = 1;
  try {
    code = body();
  } catch (const cluster::CollectiveFailure& e) {
    spdlog::debug("{}", e.what());
    MPI_Finalize();
    return 1;
  } catch (const std::exception& e) {
    report_fatal(e);
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
  MPI_Finalize();
  return code;
}

}  // namespace dlrm::tools
