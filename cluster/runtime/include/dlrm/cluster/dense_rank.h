// A dense rank's loop: batches from a BatchSource, two in flight.
//
//   for step b = 0, 1, ... until the source ends the run:
//     (posted at step b-1: batch b's requests and the receive of its rows)
//     post batch b+1:  source.next -> RequestBuilder::build -> exchange.post_requests/post_pooled
//                      (before computing b when source.ready(), else after;
//                      when the source has ended: exchange.post_stop)
//     bottom MLP on batch b's dense features
//     wait for batch b's pooled rows (pool transport, one-hot bags: pool
//     them straight into each sample's rows, Exchange::pool_into_samples;
//     on 2 threads, one pools while the other runs the bottom MLP, then
//     both pool what is left: bottom_and_pool in dense_rank.cc)
//     interaction (rows where they lie, or assembled) -> top MLP -> source.complete
//     (after pooling here on 2 threads: each thread its half of the batch, top_halves)
//     (a dcn model: x0 = [bottom output, pooled rows] assembled, then the cross network)
// Every dense rank runs the same number of steps; a step may carry an empty
// batch.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <vector>

#include "dlrm/cluster/answers.h"
#include "dlrm/cluster/batch_source.h"
#include "dlrm/cluster/exchange.h"
#include "dlrm/cluster/report.h"
#include "dlrm/cluster/routing.h"
#include "dlrm/common/cache_aligned.h"
#include "dlrm/dense/interaction.h"
#include "dlrm/dense/model_mlps.h"
#include "dlrm/model/manifest.h"

namespace dlrm::cluster {

struct DenseRankOptions {
  int batch = 256;
  ElementType mlp = ElementType::kFp32;          // dense::kMlpTypes
  ElementType interaction = ElementType::kFp32;  // dense::kInteractionTypes
  // Build the MLPs' primitives for every batch size up to `batch` now, not
  // on first use: a scenario run's batches take any size, and a primitive
  // built mid-run stalls the queries behind it.
  bool every_batch_size = false;
  // The run's transport is pool: batches may be pooled by this rank, and
  // on 2 threads then go through the top MLP in halves (top_halves), which
  // needs a second copy of the MLPs; no other transport builds it.
  bool pool = false;
};

class DenseRank {
 public:
  // Loads the model's MLPs (dense.bin, calibration.json for int8) and sizes
  // every buffer for `options.batch`.
  DenseRank(const std::filesystem::path& model_dir, const model::Manifest& manifest, const RoutingTable& routing,
            const DenseRankOptions& options);
  void run(BatchSource& source, Exchange& exchange);
  // Time per stage and the latency of every non-empty batch (from the start
  // of its step to its predictions), since construction or reset_measurements().
  const std::array<double, kStageCount>& stage_seconds() const { return stage_seconds_; }
  const std::vector<double>& latencies_ms() const { return latencies_ms_; }
  void reset_measurements();

 private:
  class Clock;
  bool post(int slot, BatchSource& source, Exchange& exchange, Clock& clock);
  // The bottom MLP of the batch in `slot`, and with the pool transport its
  // one-hot rows pooled into emb_ when that applies (returns whether).
  bool bottom_and_pool(int slot, int n, Exchange& exchange, Clock& clock);
  // pooled_here: the pool transport put the batch's rows in emb_ already.
  void interact(int slot, int n, Exchange& exchange, Clock& clock, bool pooled_here);
  // The interaction and the top MLP of a batch pooled here, each of 2
  // threads on its half; returns false (nothing done) where that does not apply.
  bool top_halves(int n, Clock& clock);

  const RoutingTable& routing_;
  dense::DenseMlps mlps_;
  // On 2 threads, the second thread's own copy of the MLPs: after a batch
  // pooled here, each thread takes its half of the batch through the
  // interaction and the top MLP (top_halves in dense_rank.cc).
  std::optional<dense::DenseMlps> second_mlps_;
  dense::InteractionShape shape_;
  bool dcn_;  // the DCNv2 cross network instead of the dot interaction
  int batch_;
  std::array<InputBatch, Exchange::kSlots> inputs_;
  std::vector<RequestBuilder> builders_;  // one per slot
  std::vector<BatchAnswers> answers_;     // one per slot
  std::vector<float> x_, x0_, top_in_, predictions_;  // x0_: the cross network's input (dcn)
  // Each sample's embedding rows; the pool transport's threads fill it table
  // by table, so its rows start on cache lines (no line shared at a seam).
  CacheAlignedVector<float> emb_;
  std::array<double, kStageCount> stage_seconds_{};
  std::vector<double> latencies_ms_;
};

}  // namespace dlrm::cluster
