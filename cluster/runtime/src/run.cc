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
#include "dlrm/cluster/shard_rank.h"
#include "dlrm/common/error.h"
#include "dlrm/common/npy.h"
#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/npz.h"
#include "dlrm/model/manifest.h"

namespace fs = std::filesystem;

namespace dlrm::cluster {

int effective_batch(int batch, int64_t samples, int dense_ranks) {
  return static_cast<int>(std::min<int64_t>(batch, (samples + dense_ranks - 1) / dense_ranks));
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
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

uint64_t peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

// What every rank knows once the job has started.
struct Job {
  Job(const ClusterOptions& options, MPI_Comm communicator) : opt(options), comm(communicator) {}
  const ClusterOptions& opt;
  MPI_Comm comm;
  int rank = 0, size = 0;
  double t_entry = 0;
  std::string host;
  std::vector<std::string> labels;  // per rank, naming it in collective errors
  model::Manifest manifest;
  Roles roles;
  bool dense = false;
  int threads = 1;
  int batch = 0;                     // --batch, or fewer when a dense rank has fewer samples
  int64_t samples = 0, steps = 0;    // the data's samples, the batches of the busiest dense rank

  void check(const std::string& stage, const std::string& error) const {
    collective_check(comm, stage, error, labels);
  }
};

// A dense rank's block of samples [begin, end) and its loop.
struct DenseSide {
  std::optional<datasets::NpzDataset> npz;  // --data X.npz: this rank's records (viewed by data)
  std::optional<datasets::Dataset> data;
  int64_t begin = 0, end = 0;
  std::unique_ptr<DatasetSource> source;
  std::unique_ptr<DenseRank> loop;
  std::vector<int32_t> labels;
};

// Manifest, roles and threads, each checked on every rank together.
void start(Job& job) {
  DLRM_CHECK(job.opt.batch > 0, "--batch must be positive, got {}", job.opt.batch);
  MPI_Comm_rank(job.comm, &job.rank);
  MPI_Comm_size(job.comm, &job.size);
  job.host = processor_name();
  const auto hosts = gather_strings(job.comm, job.host, 0);
  for (int r = 0; r < static_cast<int>(hosts.size()); ++r) job.labels.push_back(fmt::format("rank {} ({})", r, hosts[r]));
  job.check("loading the model manifest", capture([&] { job.manifest = model::load_manifest(job.opt.model); }));
  const char* placement = std::getenv("DLRM_SHARD_RANKS");
  job.check("assigning roles", capture([&] {
              job.roles = assign_roles(job.rank, job.size, job.manifest.num_shards(), placement ? placement : "");
            }));
  if (job.rank == 0) {
    job.labels.clear();
    for (int r = 0; r < job.size; ++r) {
      job.labels.push_back(fmt::format("rank {} ({} {} on {})", r, to_string(job.roles.role[r]), job.roles.index[r],
                                       hosts[r]));
    }
    spdlog::info("model {}: {} tables, dim {}, {} shards ({} plan, {}); {} dense ranks, batch {}",
                 job.opt.model.string(), job.manifest.arch.num_tables(), job.manifest.arch.dim,
                 job.manifest.num_shards(), job.manifest.plan, to_string(job.manifest.dtype),
                 job.roles.dense_ranks(), job.opt.batch);
  }
  job.dense = job.roles.my_role() == Role::kDense;
  job.threads = choose_threads(job.comm, job.dense, job.opt.threads);
  omp_set_num_threads(job.threads);
}

// The dense rank's samples (an .npz: only its own are read), checked
// indices, its MLPs and loop.
void load_dense(Job& job, const RoutingTable& routing, DenseSide& side) {
  const ClusterOptions& opt = job.opt;
  const auto& arch = job.manifest.arch;
  const datasets::RecordLayout layout{arch.dense_features, arch.num_tables()};
  const bool npz = datasets::is_npz(opt.data);
  if (npz) {
    job.samples = datasets::npz_samples(opt.data, layout);
  } else {
    side.data.emplace(datasets::Dataset::open(opt.data, layout));
    job.samples = side.data->samples();
  }
  if (opt.limit > 0) job.samples = std::min(job.samples, opt.limit);
  DLRM_CHECK(job.samples > 0, "{} holds no samples", opt.data.string());
  const int d = job.roles.my_index(), dense_count = job.roles.dense_ranks();
  side.begin = job.samples * d / dense_count;
  side.end = job.samples * (d + 1) / dense_count;
  if (npz) {
    side.npz.emplace(datasets::read_npz_dataset(opt.data, layout, side.begin, side.end - side.begin));
    side.data.emplace(side.npz->view());
  }
  job.batch = effective_batch(opt.batch, job.samples, dense_count);
  job.steps = (side.end - side.begin + job.batch - 1) / job.batch;
  if (!opt.fold_indices) {
    if (auto bad = datasets::find_bad_index(*side.data, side.begin, side.end, arch.table_rows)) {
      DLRM_FAIL("{}", datasets::describe(*bad, opt.data));
    }
  }
  side.loop = std::make_unique<DenseRank>(opt.model, job.manifest, routing,
                                          DenseRankOptions{job.batch, opt.mlp, opt.interaction});
  side.source = std::make_unique<DatasetSource>(*side.data, side.begin, side.end, job.batch, arch.table_rows,
                                                opt.fold_indices);
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

// Rank 0, before the run: the output directories exist, and --reference (read
// here, once) matches the data.
std::vector<float> check_outputs(const Job& job) {
  const ClusterOptions& opt = job.opt;
  for (const fs::path* p : {&opt.out, &opt.report}) {
    if (p->empty()) continue;
    const fs::path dir = p->parent_path().empty() ? fs::path(".") : p->parent_path();
    DLRM_CHECK(fs::is_directory(dir), "output directory {} of {} does not exist; create it first", dir.string(),
               p->string());
  }
  if (opt.reference.empty()) return {};
  std::vector<float> reference = datasets::read_reference_predictions(opt.reference);
  const auto count = static_cast<int64_t>(reference.size());
  DLRM_CHECK(count == job.samples,
             "{} holds {} predictions but the data has {} samples; pass the matching --reference (or --limit)",
             opt.reference.string(), count, job.samples);
  return reference;
}

// The warm-up (untimed: faults in buffers, builds primitives, warms caches and
// MPI paths), then the timed run; returns this rank's seconds.
double run_steps(Job& job, Exchange& exchange, DenseSide& dense, ShardRank* shard) {
  auto steps = [&](int64_t count) {
    if (count <= 0) return;
    if (job.dense) {
      dense.loop->run(count, *dense.source, exchange);
    } else {
      shard->run(count, exchange);
    }
  };
  if (job.opt.warmup_batches > 0) {
    steps(std::min<int64_t>(job.opt.warmup_batches, job.steps));
    exchange.drain();
    exchange.reset_counters();
    if (job.dense) {
      dense.loop->reset_measurements();
      dense.source->rewind();
    }
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
  RankReport& me = r.facts;
  me.rank = job.rank;
  me.role = job.roles.my_role();
  me.index = job.roles.my_index();
  me.host = job.host;
  me.threads = job.threads;
  me.peak_rss_bytes = peak_rss_bytes();
  me.load_seconds = load_seconds;
  if (job.dense) {
    me.samples = dense.end - dense.begin;
    me.stage_seconds = dense.loop->stage_seconds();
    r.first_sample = dense.begin;
    r.predictions = dense.source->predictions();
    r.labels = dense.labels;
    r.latencies_ms = dense.loop->latencies_ms();
  } else {
    me.embedding_bytes = shard->embedding_bytes();
    me.embedding_resident_bytes = shard->resident_bytes();
    // Shard ranks: pooling time, and everything else was waiting for peers.
    me.stage_seconds[static_cast<int>(Stage::kPool)] = exchange.pool_seconds();
    me.stage_seconds[static_cast<int>(Stage::kShardWait)] = seconds - exchange.pool_seconds();
  }
  r.seconds = seconds;
  r.index_bytes = exchange.index_bytes();
  r.pooled_bytes = exchange.pooled_bytes();
  return r;
}

// Rank 0: the report, the outputs and the summary; returns the exit code.
int write_outcome(const Job& job, const GatheredRun& run, const std::vector<float>& reference, Transport transport,
                  ClusterOutcome& outcome) {
  const ClusterOptions& opt = job.opt;
  Report& report = outcome.report;
  report.model = opt.model.string();
  report.data = opt.data.string();
  report.dtype = to_string(job.manifest.dtype);
  report.plan = job.manifest.plan;
  report.mlp = to_string(opt.mlp);
  report.interaction = to_string(opt.interaction);
  report.batch = job.batch;
  report.shards = job.roles.shards();
  report.dense_ranks = job.roles.dense_ranks();
  report.batches = job.steps;
  report.exchange_type = to_string(opt.pooled_type);
  report.exchange_transport = to_string(transport);
  summarize_run(run, {opt.reference.empty() ? nullptr : &reference, opt.auc_budget}, job.manifest.arch.num_tables(),
                job.manifest.arch.dim, element_bits(opt.pooled_type) / 8, report);
  if (!opt.out.empty()) write_npy_f32(opt.out, run.predictions.data(), {job.samples});
  if (!opt.report.empty()) write_report(report, opt.report);
  if (!opt.quiet) std::cout << report_table(report) << std::flush;
  outcome.predictions = run.predictions;
  outcome.labels = run.labels;
  if (!opt.out.empty()) spdlog::info("predictions written to {}", opt.out.string());
  if (!opt.report.empty()) spdlog::info("report written to {}", opt.report.string());
  const bool quantized = job.manifest.dtype != ElementType::kFp32 || opt.mlp != ElementType::kFp32;
  if (report.auc_within_budget && !*report.auc_within_budget) {
    spdlog::error("accuracy budget exceeded: AUC {:.6f} is below {:.6f} = (1 - {}) x the reference's AUC {:.6f} "
                  "({} tables, {} MLPs); use a wider storage type, recalibrate, or raise --auc-budget",
                  *report.auc, (1.0 - opt.auc_budget) * *report.reference_auc, opt.auc_budget, *report.reference_auc,
                  report.dtype, report.mlp);
    return 3;
  }
  if (quantized && !report.reference_auc && opt.warn_unchecked_budget) {
    spdlog::warn("the accuracy budget was not checked: pass --reference with fp32 predictions on labelled data");
  }
  return 0;
}

}  // namespace

ClusterOutcome run_cluster_outcome(const ClusterOptions& options, MPI_Comm comm) {
  Job job(options, comm);
  job.t_entry = options.start_time > 0 ? options.start_time : steady_seconds();
  start(job);
  // Every rank routes: dense ranks encode requests, every rank sizes the
  // shared-memory windows of the exchange from it.
  const RoutingTable routing(job.manifest);
  DenseSide dense;
  std::unique_ptr<ShardRank> shard;
  job.check("loading shards and data", capture([&] {
              if (job.dense) {
                load_dense(job, routing, dense);
              } else {
                const int s = job.roles.my_index();
                shard = std::make_unique<ShardRank>(options.model, job.manifest, s, options.verify,
                                                    options.shard_in_memory);
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
  job.check("opening the exchange", capture([&] {
              exchange.emplace(comm, job.roles, options.pooled_type, options.transport,
                               max_response_floats(routing, job.batch));
            }));
  const double seconds = run_steps(job, *exchange, dense, shard.get());
  const RankResult mine = rank_result(job, *exchange, dense, shard.get(), seconds, load_seconds);
  const GatheredRun run = gather_run(comm, mine, job.samples);
  ClusterOutcome outcome;
  if (job.rank == 0) outcome.exit_code = write_outcome(job, run, reference, exchange->transport(), outcome);
  return outcome;
}

int run_cluster(const ClusterOptions& options, MPI_Comm comm) { return run_cluster_outcome(options, comm).exit_code; }

}  // namespace dlrm::cluster
