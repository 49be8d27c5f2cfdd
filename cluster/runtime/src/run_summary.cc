#include "dlrm/cluster/run_summary.h"

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/string.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/common/stats.h"

namespace dlrm::cluster {

template <class Archive>
void serialize(Archive& ar, RankReport& r) {
  ar(r.rank, r.role, r.index, r.host, r.threads, r.peak_rss_bytes, r.embedding_bytes, r.embedding_resident_bytes,
     r.samples, r.load_seconds, r.stage_seconds);
}

namespace {

// Every rank's RankReport on rank 0 (cereal binary, gathered as strings).
std::vector<RankReport> gather_facts(MPI_Comm comm, const RankReport& mine) {
  std::ostringstream os;
  {
    cereal::BinaryOutputArchive ar(os);
    ar(const_cast<RankReport&>(mine));
  }
  std::vector<RankReport> all;
  for (const std::string& bytes : gather_strings(comm, os.str(), 0)) {
    std::istringstream is(bytes);
    cereal::BinaryInputArchive ar(is);
    ar(all.emplace_back());
  }
  return all;
}

// Gathers `mine` (count values of MPI type `type`) to rank 0 at `displacement`.
template <class T>
void gather_block(MPI_Comm comm, const std::vector<T>& mine, int64_t displacement, MPI_Datatype type,
                  std::vector<T>& all) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int count[2] = {static_cast<int>(mine.size()), static_cast<int>(displacement)};
  std::vector<int> counts(rank == 0 ? 2 * size : 0);
  check_mpi(MPI_Gather(count, 2, MPI_INT, counts.data(), 2, MPI_INT, 0, comm), "gather");
  std::vector<int> sizes(size), displs(size);
  for (int r = 0; r < size && rank == 0; ++r) {
    sizes[r] = counts[2 * r];
    displs[r] = counts[2 * r + 1];
  }
  check_mpi(MPI_Gatherv(mine.data(), count[0], type, all.data(), sizes.data(), displs.data(), type, 0, comm),
            "gatherv");
}

}  // namespace

GatheredRun gather_run(MPI_Comm comm, const RankResult& mine, int64_t samples) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  GatheredRun run;
  run.ranks = gather_facts(comm, mine.facts);
  check_mpi(MPI_Reduce(&mine.seconds, &run.seconds, 1, MPI_DOUBLE, MPI_MAX, 0, comm), "reduce");
  uint64_t bytes_mine[3] = {mine.index_bytes, mine.pooled_bytes, mine.lookups}, bytes[3] = {0, 0, 0};
  check_mpi(MPI_Reduce(bytes_mine, bytes, 3, MPI_UINT64_T, MPI_SUM, 0, comm), "reduce");
  run.index_bytes = bytes[0];
  run.pooled_bytes = bytes[1];
  run.lookups = bytes[2];
  if (rank == 0) {
    run.predictions.resize(samples);
    run.labels.resize(samples);
  }
  gather_block(comm, mine.predictions, mine.first_sample, MPI_FLOAT, run.predictions);
  gather_block(comm, mine.labels, mine.first_sample, MPI_INT32_T, run.labels);
  // Latencies: each rank's after the previous ranks'.
  int64_t count = static_cast<int64_t>(mine.latencies_ms.size()), before = 0, total = 0;
  check_mpi(MPI_Exscan(&count, &before, 1, MPI_INT64_T, MPI_SUM, comm), "scan");
  if (rank == 0) before = 0;  // MPI_Exscan leaves rank 0's result undefined
  check_mpi(MPI_Reduce(&count, &total, 1, MPI_INT64_T, MPI_SUM, 0, comm), "reduce");
  if (rank == 0) run.latencies_ms.resize(total);
  gather_block(comm, mine.latencies_ms, before, MPI_DOUBLE, run.latencies_ms);
  return run;
}

void summarize_run(const GatheredRun& run, const ReferenceCheck& reference, const model::ModelArch& arch,
                   int pooled_element_bytes, Report& report) {
  const auto samples = static_cast<int64_t>(run.predictions.size());
  report.pairs = samples;
  report.seconds = run.seconds;
  report.pairs_per_s = run.seconds > 0 ? samples / run.seconds : 0;
  report.ranks = run.ranks;
  for (const RankReport& rank : run.ranks) report.load_seconds = std::max(report.load_seconds, rank.load_seconds);
  report.stage_seconds.clear();
  for (int s = 0; s < kStageCount; ++s) {
    const auto stage = static_cast<Stage>(s);
    double sum = 0;
    int n = 0;
    for (const RankReport& rank : run.ranks) {
      if (rank.role == (is_dense_stage(stage) ? Role::kDense : Role::kShard)) {
        sum += rank.stage_seconds[s];
        ++n;
      }
    }
    report.stage_seconds.emplace_back(stage_name(stage), n ? sum / n : 0.0);
  }
  if (!run.latencies_ms.empty()) {
    report.latency_p50_ms = percentile(run.latencies_ms, 50);
    report.latency_p95_ms = percentile(run.latencies_ms, 95);
    report.latency_p99_ms = percentile(run.latencies_ms, 99);
  }
  report.index_bytes = run.index_bytes;
  report.pooled_bytes = run.pooled_bytes;
  const auto per_pair = [&](uint64_t bytes) {
    return static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(1, samples));
  };
  report.index_bytes_per_pair = per_pair(run.index_bytes);
  report.pooled_bytes_per_pair = per_pair(run.pooled_bytes);
  report.exchange_bytes_per_pair = per_pair(run.index_bytes + run.pooled_bytes);
  // The least a wire exchange moves; with the pool transport nothing crosses
  // one (the report's transport is set before this, by describe_run).
  report.minimum_bytes_per_pair =
      report.exchange_transport == "pool"
          ? 0
          : 4 * per_pair(run.lookups) + static_cast<double>(arch.num_tables()) * arch.dim * pooled_element_bytes;
  const double auc = roc_auc(run.predictions.data(), run.labels.data(), samples);
  if (std::isfinite(auc)) report.auc = auc;
  if (reference.predictions) {
    const std::vector<float>& ref = *reference.predictions;
    double worst = 0;
    for (int64_t i = 0; i < samples; ++i) worst = std::max(worst, std::fabs(double(ref[i]) - run.predictions[i]));
    report.reference_max_abs_diff = worst;
    const double reference_auc = roc_auc(ref.data(), run.labels.data(), samples);
    if (std::isfinite(reference_auc) && report.auc) {
      report.reference_auc = reference_auc;
      report.auc_budget = reference.auc_budget;
      report.auc_within_budget = *report.auc >= (1.0 - reference.auc_budget) * reference_auc;
    }
  }
}

}  // namespace dlrm::cluster
