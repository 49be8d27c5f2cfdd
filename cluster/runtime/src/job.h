// What every rank of a run knows once it has started (private to the runtime).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dlrm/cluster/dense_rank.h"
#include "dlrm/cluster/exchange.h"
#include "dlrm/cluster/mpi_util.h"
#include "dlrm/cluster/query_source.h"
#include "dlrm/cluster/report.h"
#include "dlrm/cluster/roles.h"
#include "dlrm/cluster/run.h"
#include "dlrm/cluster/run_summary.h"
#include "dlrm/cluster/shard_rank.h"
#include "dlrm/cluster/shared_rows.h"
#include "dlrm/model/manifest.h"

namespace dlrm::cluster {

struct Job {
  Job(const ClusterOptions& options, MPI_Comm world_comm) : opt(options), world(world_comm), comm(world_comm) {}
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  const ClusterOptions& opt;
  MPI_Comm world;                   // every rank
  MPI_Comm comm;                    // the shard and dense ranks (the exchange's): world, or world without the front
  bool with_front = false;          // world rank 0 is the front (scenario runs)
  bool front = false;               // this rank is it
  int world_rank = 0, world_size = 0;
  int rank = 0, size = 0;           // in comm (the front: -1, 0)
  double t_entry = 0;
  std::string host;
  std::vector<std::string> labels;  // per world rank, naming it in collective errors
  model::Manifest manifest;
  Roles roles;                      // of comm's ranks
  bool dense = false;
  int threads = 1;
  int batch = 0;                    // --batch, or fewer when a dense rank has fewer samples
  int64_t samples = 0, steps = 0;   // the data's samples, the batches of the busiest dense rank
  // --exchange-transport as share_rows resolved it: auto becomes pool where
  // the shard ranks share the dense ranks' cores on one host, else stays auto
  // for the exchange (shm within a host, alltoall between). Not on the front.
  Transport transport = Transport::kAuto;
  std::unique_ptr<SharedRows> shared_rows;  // the pool transport: the shard ranks' rows

  // Collective over world: every rank's error, named by rank 0.
  void check(const std::string& stage, const std::string& error) const {
    collective_check(world, stage, error, labels);
  }
  // The world rank of comm's rank r.
  int world_rank_of(int r) const { return with_front ? r + 1 : r; }
};

// Manifest, roles and threads, each checked on every rank together. With a
// front, world rank 0 is it and the others form `comm`; DLRM_SHARD_RANKS
// still names world ranks.
void start_job(Job& job, bool with_front);

// Shard and dense ranks, before the shard ranks load, collective over
// job.comm: resolves job.transport (resolve_transport), and with the pool
// transport job.shared_rows sets aside the shared memory the shard ranks
// load their rows into.
void share_rows(Job& job);

// What --exchange-transport auto means for these ranks (docs/exchange.md):
// pool when they all run on one host, some shard rank may run on a core
// that a dense rank's threads may use (their affinity masks meet: a plain
// `mpirun --bind-to none`, or more ranks than cores), the shard ranks keep
// their rows in memory (--shard-memory anon) and the host's shared memory
// has room for every shard's rows with 10% to spare; otherwise auto, which
// the exchange resolves to shm or alltoall. Explicit transports stay as
// given. Collective over job.comm; the same answer on every rank.
Transport resolve_transport(const Job& job);
// Once the shard ranks have reported on their rows: unmaps the shared rows
// (if any) on this rank.
void release_rows(Job& job);
// The exchange of a run: over job.comm, with the options' element type and
// transport, windows sized for job.batch (collective over job.comm).
void open_exchange(Job& job, const RoutingTable& routing, std::optional<Exchange>& exchange);

// A shard or dense rank of a run with a front (a scenario run, dlrm-serve).
struct FrontWorker {
  std::unique_ptr<QuerySource> source;  // dense ranks: the front's steps
  std::unique_ptr<DenseRank> loop;      // dense ranks
  std::unique_ptr<ShardRank> shard;     // shard ranks
  // Shard ranks load their shard; dense ranks their MLPs, with primitives for
  // every batch size up to job.batch (the front's batches take any size, and
  // a primitive built mid-run stalls what waits behind it), and a
  // QuerySource over `samples` (null: the steps carry their inputs).
  void load(const Job& job, const RoutingTable& routing, const datasets::Dataset* samples);
  // This rank's loop, until the front ends the run.
  void run(Exchange& exchange);
};

uint64_t peak_rss_bytes();
// This worker rank's facts for the report: world rank, role and index, host,
// threads, peak RSS, load time.
RankReport worker_facts(const Job& job, double load_seconds);
// The rest of a worker's result: a shard rank's rows and its pooling against
// waiting (shard: null on dense ranks), and the seconds and bytes exchanged.
void finish_worker_result(RankResult& r, const ShardRank* shard, const Exchange& exchange, double seconds);

// Rank 0, before the run: the output directories exist, and --reference
// (read here, once) holds job.samples predictions.
std::vector<float> check_outputs(const Job& job);
// The report's descriptive fields: model, data, storage, plan, precisions,
// batch, ranks, exchange.
void describe_run(const Job& job, Transport transport, Report& report);
// Rank 0: --out, --report, the summary table; returns the exit code (3 when
// the accuracy budget is exceeded).
int write_outputs(const Job& job, const Report& report, const std::vector<float>& predictions);

}  // namespace dlrm::cluster
