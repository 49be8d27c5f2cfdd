#include "job.h"

#include <omp.h>
#include <spdlog/spdlog.h>
#include <sched.h>
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/huge_pages.h"
#include "dlrm/common/npy.h"
#include "dlrm/common/shm_room.h"
#include "dlrm/datasets/npz.h"

namespace fs = std::filesystem;

namespace dlrm::cluster {

Job::~Job() {
  if (comm != world && comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
}

namespace {

// Whether some shard rank may run where a dense rank's threads may.
bool shards_share_dense_cores(const Roles& roles, const std::vector<cpu_set_t>& masks) {
  for (int s : roles.shard_rank) {
    for (int d : roles.dense_rank) {
      cpu_set_t both;
      CPU_AND(&both, &masks[static_cast<size_t>(s)], &masks[static_cast<size_t>(d)]);
      if (CPU_COUNT(&both) > 0) return true;
    }
  }
  return false;
}

// Why the dense ranks cannot pool the rows themselves on this host ("" when
// they can).
std::string why_rows_stay(const Job& job) {
  if (!job.opt.shard_in_memory) return "--shard-memory mmap serves the rows from the page cache";
  uint64_t rows = 0;  // on whole huge pages, as SharedRows makes room for them
  for (const auto& shard : job.manifest.shards) rows += round_up_to_huge_page(shard.embedding_bytes);
  const auto room = shm_backing_room();
  if (room && !pool_rows_fit(rows, *room)) {
    return fmt::format("{} has {} free for {} of rows", shm_backing_directory(), format_binary_bytes(*room),
                       format_binary_bytes(rows));
  }
  return "";
}

}  // namespace

Transport resolve_transport(const Job& job) {
  if (job.opt.transport != Transport::kAuto) return job.opt.transport;
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(job.comm, MPI_COMM_TYPE_SHARED, job.rank, MPI_INFO_NULL, &node), "split by host");
  int node_size = 0, smallest = 0;
  MPI_Comm_size(node, &node_size);
  MPI_Comm_free(&node);
  check_mpi(MPI_Allreduce(&node_size, &smallest, 1, MPI_INT, MPI_MIN, job.comm), "allreduce");
  // Where each rank (and so each dense rank's threads) may run.
  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (sched_getaffinity(0, sizeof(mine), &mine) != 0) CPU_ZERO(&mine);
  std::vector<cpu_set_t> masks(static_cast<size_t>(job.size));
  constexpr int kMaskBytes = static_cast<int>(sizeof(cpu_set_t));
  check_mpi(MPI_Gather(&mine, kMaskBytes, MPI_BYTE, masks.data(), kMaskBytes, MPI_BYTE, 0, job.comm), "gather");
  int pool = 0;
  if (job.rank == 0 && smallest == job.size && shards_share_dense_cores(job.roles, masks)) {
    const std::string why = why_rows_stay(job);
    pool = why.empty() ? 1 : 0;
    if (job.opt.say_transport && pool) {
      spdlog::info("exchange transport: pool, as the shard ranks share the dense ranks' cores on one host: the dense "
                   "ranks pool the rows themselves from the shards' shared memory (pass --exchange-transport shm to "
                   "have the shard ranks pool)");
    } else if (job.opt.say_transport) {
      spdlog::info("exchange transport: the shard ranks share the dense ranks' cores, but {}: they pool the rows "
                   "themselves, not the dense ranks (pool)", why);
    }
  }
  check_mpi(MPI_Bcast(&pool, 1, MPI_INT, 0, job.comm), "broadcast of the transport");
  return pool ? Transport::kPool : Transport::kAuto;
}

void share_rows(Job& job) {
  if (job.front) return;
  job.transport = resolve_transport(job);
  if (job.transport != Transport::kPool) return;
  if (job.rank == 0 && job.opt.say_transport && job.opt.pooled_type != ElementType::kFp32) {
    spdlog::warn("--exchange-dtype {} has no effect with the pool transport: no pooled row crosses a wire, so they "
                 "stay fp32{}",
                 to_string(job.opt.pooled_type),
                 job.opt.transport == Transport::kAuto ? " (pass --exchange-transport shm for rows in that type)" : "");
  }
  job.shared_rows = std::make_unique<SharedRows>(job.comm, job.roles, job.manifest, job.opt.model);
}

void release_rows(Job& job) {
  if (job.shared_rows) job.shared_rows->finish();
}

void open_exchange(Job& job, const RoutingTable& routing, std::optional<Exchange>& exchange) {
  exchange.emplace(job.comm, job.roles, job.opt.wire_type(job.transport), job.transport,
                   max_response_floats(routing, job.batch), job.shared_rows.get());
}

void FrontWorker::load(const Job& job, const RoutingTable& routing, const datasets::Dataset* samples) {
  const ClusterOptions& opt = job.opt;
  if (!job.dense) {
    shard = std::make_unique<ShardRank>(opt.model, job.manifest, job.roles.my_index(), opt.verify,
                                        opt.shard_in_memory, job.shared_rows.get());
    return;
  }
  const auto& arch = job.manifest.arch;
  loop = std::make_unique<DenseRank>(opt.model, job.manifest, routing,
                                     DenseRankOptions{.batch = job.batch,
                                                      .mlp = opt.mlp,
                                                      .interaction = opt.interaction,
                                                      .every_batch_size = true,
                                                      .pool = job.transport == Transport::kPool});
  source = std::make_unique<QuerySource>(job.world, 0, samples, job.batch, arch, opt.fold_indices);
}

void FrontWorker::run(Exchange& exchange) {
  if (loop) {
    loop->run(*source, exchange);
  } else {
    shard->run(exchange);
  }
}

uint64_t peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

RankReport worker_facts(const Job& job, double load_seconds) {
  RankReport me;
  me.rank = job.world_rank;
  me.role = job.roles.my_role();
  me.index = job.roles.my_index();
  me.host = job.host;
  me.threads = job.threads;
  me.peak_rss_bytes = peak_rss_bytes();
  me.load_seconds = load_seconds;
  return me;
}

void finish_worker_result(RankResult& r, const ShardRank* shard, const Exchange& exchange, double seconds) {
  if (shard != nullptr) {
    RankReport& me = r.facts;
    me.embedding_bytes = shard->embedding_bytes();
    me.embedding_resident_bytes = shard->resident_bytes();
    // Pooling time; everything else was waiting for peers.
    me.stage_seconds[static_cast<int>(Stage::kPool)] = exchange.pool_seconds();
    me.stage_seconds[static_cast<int>(Stage::kShardWait)] = seconds - exchange.pool_seconds();
  }
  r.seconds = seconds;
  r.index_bytes = exchange.index_bytes();
  r.lookups = exchange.lookups();
  r.pooled_bytes = exchange.pooled_bytes();
}

namespace {

// DLRM_SHARD_RANKS names world ranks; with a front, comm's ranks are one less.
std::string placement_in_comm(const std::string& placement, bool with_front) {
  if (!with_front || placement.empty()) return placement;
  std::stringstream in(placement);
  std::string item, out;
  while (std::getline(in, item, ',')) {
    int r = -1;
    try {
      r = std::stoi(item);
    } catch (const std::exception&) {
      DLRM_FAIL("DLRM_SHARD_RANKS='{}': '{}' is not a rank number", placement, item);
    }
    DLRM_CHECK(r != 0, "DLRM_SHARD_RANKS='{}' names rank 0, which is the front (a scenario run, dlrm-serve); place "
                       "the shards on ranks 1 and up", placement);
    out += (out.empty() ? "" : ",") + std::to_string(r - 1);
  }
  return out;
}

void name_ranks(Job& job, const std::vector<std::string>& hosts) {
  job.labels.clear();
  for (int w = 0; w < job.world_size; ++w) {
    const int r = job.with_front ? w - 1 : w;
    job.labels.push_back(r < 0 ? fmt::format("rank {} (front on {})", w, hosts[w])
                               : fmt::format("rank {} ({} {} on {})", w, to_string(job.roles.role[r]),
                                             job.roles.index[r], hosts[w]));
  }
}

}  // namespace

void start_job(Job& job, bool with_front) {
  DLRM_CHECK(job.opt.batch > 0, "--batch must be positive, got {}", job.opt.batch);
  job.with_front = with_front;
  MPI_Comm_rank(job.world, &job.world_rank);
  MPI_Comm_size(job.world, &job.world_size);
  job.front = with_front && job.world_rank == 0;
  job.host = processor_name();
  const auto hosts = gather_strings(job.world, job.host, 0);
  for (int r = 0; r < static_cast<int>(hosts.size()); ++r) job.labels.push_back(fmt::format("rank {} ({})", r, hosts[r]));
  job.check("loading the model manifest", capture([&] { job.manifest = model::load_manifest(job.opt.model); }));
  if (with_front) {
    check_mpi(MPI_Comm_split(job.world, job.front ? 1 : 0, job.world_rank, &job.comm), "split off the front");
  }
  MPI_Comm_rank(job.comm, &job.rank);
  MPI_Comm_size(job.comm, &job.size);
  const int workers = job.world_size - (with_front ? 1 : 0);
  const char* env = std::getenv("DLRM_SHARD_RANKS");
  job.check("assigning roles", capture([&] {
              const int shards = job.manifest.num_shards();
              DLRM_CHECK(!with_front || workers >= shards + 1,
                         "a run with a front (a scenario run, dlrm-serve) needs the front (rank 0), the model's {} "
                         "shard rank{} and at least one dense rank: at least {} ranks, the job has {}; run mpirun -n "
                         "{} or more",
                         shards, shards == 1 ? "" : "s", shards + 2, job.world_size, shards + 2);
              job.roles = assign_roles(job.front ? 0 : job.rank, workers, shards,
                                       placement_in_comm(env ? env : "", with_front));
            }));
  if (job.world_rank == 0) {
    name_ranks(job, hosts);
    spdlog::info("model {}: {} tables, dim {}, {} shards ({} plan, {}); {} dense ranks{}, batch {}",
                 job.opt.model.string(), job.manifest.arch.num_tables(), job.manifest.arch.dim,
                 job.manifest.num_shards(), job.manifest.plan, job.manifest.storage_summary(),
                 job.roles.dense_ranks(), with_front ? ", a front (rank 0)" : "", job.opt.batch);
  }
  job.dense = !job.front && job.roles.my_role() == Role::kDense;
  job.threads = job.front ? 1 : choose_threads(job.comm, job.dense, job.opt.threads);
  omp_set_num_threads(job.threads);
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

void describe_run(const Job& job, Transport transport, Report& report) {
  const ClusterOptions& opt = job.opt;
  report.model = opt.model.string();
  report.data = opt.data.string();
  report.dtype = job.manifest.storage_summary();
  report.plan = job.manifest.plan;
  report.mlp = to_string(opt.mlp);
  report.interaction = to_string(opt.interaction);
  report.batch = job.batch;
  report.shards = job.roles.shards();
  report.dense_ranks = job.roles.dense_ranks();
  report.exchange_type = to_string(opt.wire_type(transport));
  report.exchange_transport = to_string(transport);
}

int write_outputs(const Job& job, const Report& report, const std::vector<float>& predictions) {
  const ClusterOptions& opt = job.opt;
  if (!opt.out.empty()) write_npy_f32(opt.out, predictions.data(), {static_cast<int64_t>(predictions.size())});
  if (!opt.report.empty()) write_report(report, opt.report);
  if (!opt.quiet) std::cout << report_table(report) << std::flush;
  if (!opt.out.empty()) spdlog::info("predictions written to {}", opt.out.string());
  if (!opt.report.empty()) spdlog::info("report written to {}", opt.report.string());
  const bool quantized = !job.manifest.all_fp32() || opt.mlp != ElementType::kFp32;
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

}  // namespace dlrm::cluster
