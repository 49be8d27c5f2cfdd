#include "dlrm/cluster/run.h"

#include <omp.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "dlrm/cluster/batch_source.h"
#include "dlrm/cluster/dense_rank.h"
#include "dlrm/cluster/mpi_util.h"
#include "dlrm/cluster/roles.h"
#include "dlrm/cluster/run_summary.h"
#include "dlrm/cluster/scenario_run.h"
#include "dlrm/cluster/shard_rank.h"
#include "dlrm/common/error.h"
#include "dlrm/common/npy.h"
#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/open.h"
#include "dlrm/model/manifest.h"
#include "job.h"

namespace fs = std::filesystem;

namespace dlrm::cluster {

int effective_batch(int batch, int64_t samples, int dense_ranks) {
  return static_cast<int>(std::min<int64_t>(batch, (samples + dense_ranks - 1) / dense_ranks));
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int choose_threads(MPI_Comm comm, bool dense, int requested) {
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int mine = dense ? 1 : 0, dense_on_node = 0;
  MPI_Allreduce(&mine, &dense_on_node, 1, MPI_INT, MPI_SUM, node);
  MPI_Comm_free(&node);
  if (!dense) return 1;
  if (requested > 0) return requested;
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env && std::atoi(env) > 0) return std::atoi(env);
  cpu_set_t set;
  CPU_ZERO(&set);
  int affinity = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, std::min(affinity, cpus / std::max(1, dense_on_node)));
}

namespace {

// A dense rank's block of samples [begin, end) and its loop.
struct DenseSide {
  std::optional<datasets::SampleData> samples;  // this rank's part of --data
  const datasets::Dataset* data = nullptr;      // samples->data()
  int64_t begin = 0, end = 0;
  std::unique_ptr<DatasetSource> source;
  std::unique_ptr<DenseRank> loop;
  std::vector<int32_t> labels;
};

// The dense rank's samples (only its own are read, or mapped), checked
// indices, its MLPs and loop.
void load_dense(Job& job, const RoutingTable& routing, DenseSide& side) {
  const ClusterOptions& opt = job.opt;
  const auto& arch = job.manifest.arch;
  const datasets::DataShape shape{arch.dense_features, arch.num_tables(), arch.hotness};
  job.samples = datasets::count_samples(opt.data, shape);
  if (opt.limit > 0) job.samples = std::min(job.samples, opt.limit);
  DLRM_CHECK(job.samples > 0, "{} holds no samples", opt.data.string());
  const int d = job.roles.my_index(), dense_count = job.roles.dense_ranks();
  side.begin = job.samples * d / dense_count;
  side.end = job.samples * (d + 1) / dense_count;
  side.samples.emplace(datasets::open_samples(opt.data, shape, side.begin, side.end - side.begin));
  side.data = &side.samples->data();
  job.batch = effective_batch(opt.batch, job.samples, dense_count);
  job.steps = (side.end - side.begin + job.batch - 1) / job.batch;
  if (!opt.fold_indices) {
    if (auto bad = datasets::find_bad_index(*side.data, side.begin, side.end, arch.table_rows)) {
      DLRM_FAIL("{}", datasets::describe(*bad, opt.data));
    }
  }
  side.loop = std::make_unique<DenseRank>(opt.model, job.manifest, routing,
                                          DenseRankOptions{.batch = job.batch,
                                                           .mlp = opt.mlp,
                                                           .interaction = opt.interaction,
                                                           .pool = job.transport == Transport::kPool});
  side.source = std::make_unique<DatasetSource>(*side.data, side.begin, side.end, job.batch, job.steps,
                                                arch.table_rows, opt.fold_indices);
  for (int64_t i = side.begin; i < side.end; ++i) side.labels.push_back(side.data->label(i));
}

// Every rank learns the sample count, the steps and the batch size the dense
// ranks chose (the same on all of them).
void agree_on_steps(Job& job) {
  int64_t local[3] = {job.samples, job.steps, job.batch}, global[3] = {0, 0, 0};
  check_mpi(MPI_Allreduce(local, global, 3, MPI_INT64_T, MPI_MAX, job.comm), "allreduce");
  job.samples = global[0];
  job.steps = global[1];
  job.batch = static_cast<int>(global[2]);
  if (job.rank == 0 && job.batch < job.opt.batch) {
    spdlog::info("--batch {} is more than any dense rank's {} samples: batches of {}", job.opt.batch, job.batch,
                 job.batch);
  }
}

// The warm-up (untimed: faults in buffers, builds primitives, warms caches and
// MPI paths), then the timed run; returns this rank's seconds.
double run_steps(Job& job, Exchange& exchange, DenseSide& dense, ShardRank* shard) {
  auto steps = [&](int64_t count) {
    if (job.dense) {
      dense.source->rewind(count);
      dense.loop->run(*dense.source, exchange);
    } else {
      shard->run(exchange);
    }
  };
  if (job.opt.warmup_batches > 0) {
    steps(std::min<int64_t>(job.opt.warmup_batches, job.steps));
    exchange.drain();
    exchange.reset_counters();
    if (job.dense) dense.loop->reset_measurements();
    check_mpi(MPI_Barrier(job.comm), "barrier");
  }
  const double t0 = steady_seconds();
  steps(job.steps);
  exchange.finish();
  return steady_seconds() - t0;
}

// This rank's part of the report.
RankResult rank_result(const Job& job, const Exchange& exchange, const DenseSide& dense, const ShardRank* shard,
                       double seconds, double load_seconds) {
  RankResult r;
  r.facts = worker_facts(job, load_seconds);
  RankReport& me = r.facts;
  if (job.dense) {
    me.samples = dense.end - dense.begin;
    me.stage_seconds = dense.loop->stage_seconds();
    r.first_sample = dense.begin;
    r.predictions = dense.source->predictions();
    r.labels = dense.labels;
    r.latencies_ms = dense.loop->latencies_ms();
  }
  finish_worker_result(r, job.dense ? nullptr : shard, exchange, seconds);
  return r;
}

// Rank 0: the report, the outputs and the summary; returns the exit code.
int write_outcome(const Job& job, const GatheredRun& run, const std::vector<float>& reference, Transport transport,
                  ClusterOutcome& outcome) {
  const ClusterOptions& opt = job.opt;
  Report& report = outcome.report;
  describe_run(job, transport, report);
  report.batches = job.steps;
  summarize_run(run, {opt.reference.empty() ? nullptr : &reference, opt.auc_budget}, job.manifest.arch,
                element_bits(opt.wire_type(transport)) / 8, report);
  outcome.predictions = run.predictions;
  outcome.labels = run.labels;
  return write_outputs(job, report, run.predictions);
}

}  // namespace

ClusterOutcome run_cluster_outcome(const ClusterOptions& options, MPI_Comm comm) {
  if (options.scenario) return run_scenario(options, comm);
  Job job(options, comm);
  job.t_entry = options.start_time > 0 ? options.start_time : steady_seconds();
  start_job(job, false);
  // Every rank routes: dense ranks encode requests, every rank sizes the
  // shared-memory windows of the exchange from it.
  const RoutingTable routing(job.manifest);
  DenseSide dense;
  std::unique_ptr<ShardRank> shard;
  job.check("setting aside shared memory for the rows", capture([&] { share_rows(job); }));
  job.check("loading shards and data", capture([&] {
              if (job.dense) {
                load_dense(job, routing, dense);
              } else {
                const int s = job.roles.my_index();
                shard = std::make_unique<ShardRank>(options.model, job.manifest, s, options.verify,
                                                    options.shard_in_memory, job.shared_rows.get());
              }
            }));
  agree_on_steps(job);
  std::vector<float> reference;
  job.check("checking outputs", capture([&] {
              if (job.rank == 0) reference = check_outputs(job);
            }));
  check_mpi(MPI_Barrier(comm), "barrier");
  const double load_seconds = steady_seconds() - job.t_entry;
  std::optional<Exchange> exchange;
  job.check("opening the exchange", capture([&] { open_exchange(job, routing, exchange); }));
  const double seconds = run_steps(job, *exchange, dense, shard.get());
  const RankResult mine = rank_result(job, *exchange, dense, shard.get(), seconds, load_seconds);
  const GatheredRun run = gather_run(comm, mine, job.samples);
  release_rows(job);
  ClusterOutcome outcome;
  if (job.rank == 0) outcome.exit_code = write_outcome(job, run, reference, exchange->transport(), outcome);
  return outcome;
}

int run_cluster(const ClusterOptions& options, MPI_Comm comm) { return run_cluster_outcome(options, comm).exit_code; }

}  // namespace dlrm::cluster
