#include "dlrm/cluster/dense_rank.h"

#include <omp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>

#include "dlrm/common/error.h"

namespace dlrm::cluster {

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

// Charges the time since the previous mark to a stage.
class DenseRank::Clock {
 public:
  explicit Clock(std::array<double, kStageCount>& seconds) : seconds_(seconds), last_(now()) {}
  void mark(Stage stage) {
    const double t = now();
    seconds_[static_cast<int>(stage)] += t - last_;
    last_ = t;
  }
  // Charges `seconds` of the time since the previous mark to `stage` (work
  // that ran beside another stage's); the next mark charges the rest.
  void charge(Stage stage, double seconds) {
    seconds_[static_cast<int>(stage)] += seconds;
    last_ += seconds;
  }

 private:
  std::array<double, kStageCount>& seconds_;
  double last_;
};

DenseRank::DenseRank(const std::filesystem::path& model_dir, const model::Manifest& manifest,
                     const RoutingTable& routing, const DenseRankOptions& options)
    : routing_(routing),
      mlps_(model_dir, manifest, options.mlp),
      shape_{manifest.arch.num_tables(), manifest.arch.dim, manifest.arch.interaction_self, options.interaction},
      dcn_(manifest.arch.dcn()),
      batch_(options.batch) {
  DLRM_CHECK(options.batch > 0, "--batch must be positive, got {}", options.batch);
  DLRM_CHECK(!dcn_ || options.interaction == ElementType::kFp32,
             "--interaction {} applies to the dot interaction; this model's interaction is the DCNv2 cross "
             "network, which runs at the MLPs' precision (--mlp); drop --interaction",
             to_string(options.interaction));
  mlps_.prepare(batch_);
  // Halves of a batch of batch_ (top_halves): floor and ceiling of batch_ / 2.
  const int half_up = (batch_ + 1) / 2;
  if (options.pool && omp_get_max_threads() == 2 && !dcn_ && batch_ >= 2) {
    second_mlps_.emplace(model_dir, manifest, options.mlp);
    for (dense::DenseMlps* m : {&mlps_, &*second_mlps_}) {
      m->prepare(batch_ / 2);
      m->prepare(half_up);
    }
  }
  if (options.every_batch_size) {
    const double t0 = now();
    for (int b = 1; b < batch_; ++b) mlps_.prepare(b);
    for (int b = 1; second_mlps_ && b <= half_up; ++b) second_mlps_->prepare(b);
    spdlog::info("primitives for batch sizes 1..{} built in {:.2f} s", batch_, now() - t0);
  }
  for (int slot = 0; slot < Exchange::kSlots; ++slot) {
    builders_.emplace_back(routing_);
    answers_.emplace_back(routing_);
  }
  const size_t b = static_cast<size_t>(batch_);
  x_.resize(b * manifest.arch.dim);
  if (dcn_) {
    x0_.resize(b * manifest.arch.cross_width());
  } else {
    emb_.resize(b * manifest.arch.num_tables() * manifest.arch.dim);
  }
  top_in_.resize(b * manifest.arch.top_input_width());
  predictions_.resize(b);
}

void DenseRank::reset_measurements() {
  stage_seconds_ = {};
  latencies_ms_.clear();
}

// read_input + route of the next batch into `slot`, then its requests go out
// (or the end of the run, when the source has no more batches).
bool DenseRank::post(int slot, BatchSource& source, Exchange& exchange, Clock& clock) {
  if (!source.next(inputs_[slot])) {
    exchange.post_stop(slot);
    return false;
  }
  clock.mark(Stage::kReadInput);
  builders_[slot].build(inputs_[slot].bags);
  answers_[slot].locate(builders_[slot]);
  clock.mark(Stage::kRoute);
  exchange.post_requests(slot, builders_[slot]);
  exchange.post_pooled(slot, builders_[slot]);
  clock.mark(Stage::kExchangeIndices);
  return true;
}

// Two batches in flight: the next step's batch goes out before this one is
// computed when the source has it ready, else right after.
void DenseRank::run(BatchSource& source, Exchange& exchange) {
  Clock clock(stage_seconds_);
  bool more = post(0, source, exchange, clock);
  for (int64_t b = 0; more; ++b) {
    const double t_batch = now();
    const int slot = static_cast<int>(b % Exchange::kSlots), next = static_cast<int>((b + 1) % Exchange::kSlots);
    const int n = inputs_[slot].size;
    const bool early = source.ready();
    bool next_posted = early && post(next, source, exchange, clock);
    const bool pooled_here = n > 0 && bottom_and_pool(slot, n, exchange, clock);
    if (!pooled_here) exchange.wait_answers(slot);
    clock.mark(exchange.transport() == Transport::kPool ? Stage::kLocalPool : Stage::kExchangePooled);
    if (n > 0 && !(pooled_here && top_halves(n, clock))) {
      interact(slot, n, exchange, clock, pooled_here);
      mlps_.top(top_in_.data(), n, predictions_.data());
    }
    source.complete(inputs_[slot], predictions_.data());
    clock.mark(Stage::kTopMlp);
    if (n > 0) latencies_ms_.push_back((now() - t_batch) * 1e3);
    if (!early) next_posted = post(next, source, exchange, clock);
    more = next_posted;
  }
}

// pool: one-hot rows straight to where the interaction reads them, when
// every shard answers every sample (else pooled as answers, then read in
// place or assembled; a dcn model, DLRM-v2's multi-hot, assembles its x0).
//
// On 2 threads the bottom MLP runs on one (oneDNN runs a primitive called
// inside a parallel region on the calling thread) while the other pools,
// then both pool what is left. Pooling is bound by memory latency and the
// MLP by arithmetic, so each does better beside the other than split over
// both cores in turn: on the 2-core development VM (AMD EPYC, tb1m, batch
// 256) the bottom MLP took 0.23 s per 131,072 pairs on one thread against
// 0.14 s on two, while the pooling took 0.25 s on one thread and 0.15 s on
// two (docs/performance.md, "The bottom MLP beside the pooling"). With more
// threads one thread's MLP would be the longer part; they keep the
// sequence. Either way the MLP's results are the same (the primitives do
// not split their sums over threads; tests compare the transports bit for
// bit). The bottom MLP's own time is charged to it, the rest of the part to
// local_pool: the pooling that the MLP did not hide.
bool DenseRank::bottom_and_pool(int slot, int n, Exchange& exchange, Clock& clock) {
  const float* dense = inputs_[slot].dense.data();
  const bool poolable = exchange.transport() == Transport::kPool && !dcn_ && exchange.samples_poolable(slot);
  const int64_t stride = static_cast<int64_t>(shape_.tables) * shape_.dim;
  const bool beside = poolable && omp_get_max_threads() == 2 && !omp_in_parallel();
  if (!beside) {
    mlps_.bottom(dense, n, x_.data());
    clock.mark(Stage::kBottomMlp);
    if (poolable) exchange.pool_samples(slot, emb_.data(), stride);
    return poolable;
  }
  std::atomic<int> next{0};
  std::exception_ptr failed;
  double bottom_seconds = 0;
  const double t0 = now();
#pragma omp parallel num_threads(2)
  {
    if (omp_get_thread_num() == 0) {
      try {
        mlps_.bottom(dense, n, x_.data());
      } catch (...) {  // not out of the parallel region
        failed = std::current_exception();
      }
      bottom_seconds = now() - t0;
    }
    exchange.pool_samples_part(slot, emb_.data(), stride, next);
  }
  if (failed) std::rethrow_exception(failed);
  exchange.pool_samples_done(slot, now() - t0);
  clock.charge(Stage::kBottomMlp, bottom_seconds);
  return true;
}

// After a batch pooled here on 2 threads, each thread takes its half of the
// batch through the interaction and the top MLP, oneDNN running on the
// calling thread (thread 1 on its own copy of the MLPs: a DenseMlps runs one
// call at a time). When both threads instead split each step, the top MLP
// reads the whole of an input that each core wrote half of just before, and
// on the 2-core development VM (AMD EPYC, tb1m) that made it about 2% of the
// bound slower than in the bound, whose input is never written
// (docs/performance.md, "Each thread its half of the batch"). A sample's
// predictions are the same either way: the primitives' sums do not depend on
// the batch size or the threads (tests compare the transports bit for bit).
// The interaction's time on thread 0 is charged to it, the rest to top_mlp.
bool DenseRank::top_halves(int n, Clock& clock) {
  if (!second_mlps_ || n < 2 || omp_get_max_threads() != 2 || omp_in_parallel()) return false;
  clock.mark(Stage::kAssemble);
  const int64_t width = shape_.width();
  const int64_t rows = static_cast<int64_t>(shape_.tables) * shape_.dim;
  const int half = n / 2;
  std::array<std::exception_ptr, 2> failed;
  double interaction_seconds = 0;
#pragma omp parallel num_threads(2)
  {
    const int t = omp_get_thread_num();
    const int begin = t == 0 ? 0 : half, count = t == 0 ? half : n - half;
    try {
      const double t0 = now();
      dense::interaction_dot(shape_, x_.data() + int64_t{begin} * shape_.dim,
                             dense::EmbeddingRows::block(emb_.data() + begin * rows, shape_.tables, shape_.dim),
                             count, top_in_.data() + begin * width, width);
      if (t == 0) interaction_seconds = now() - t0;
      (t == 0 ? mlps_ : *second_mlps_).top(top_in_.data() + begin * width, count, predictions_.data() + begin);
    } catch (...) {  // not out of the parallel region
      failed[t] = std::current_exception();
    }
  }
  for (const std::exception_ptr& e : failed) {
    if (e) std::rethrow_exception(e);
  }
  clock.charge(Stage::kInteraction, interaction_seconds);
  return true;
}

// The interaction of the batch in `slot`, on the answers where they lie when
// every row is whole in one answer (16-bit rows widened as they are read);
// otherwise on rows widened and assembled first.
// pooled_here: on the rows the pool transport put in emb_ for it.
void DenseRank::interact(int slot, int n, Exchange& exchange, Clock& clock, bool pooled_here) {
  BatchAnswers& answers = answers_[slot];
  if (dcn_) {  // x0 = [bottom output, e_0 .. e_{T-1}] per sample, then the cross network
    const int dim = shape_.dim;
    const int64_t width = static_cast<int64_t>(shape_.features()) * dim;
    answers.assemble(exchange.widen(slot), x0_.data() + dim, width);
    for (int b = 0; b < n; ++b) std::memcpy(x0_.data() + b * width, x_.data() + int64_t{b} * dim, sizeof(float) * dim);
    clock.mark(Stage::kAssemble);
    mlps_.cross(x0_.data(), n, top_in_.data());
    clock.mark(Stage::kInteraction);
    return;
  }
  if (pooled_here) {
    clock.mark(Stage::kAssemble);
    dense::interaction_dot(shape_, x_.data(), dense::EmbeddingRows::block(emb_.data(), shape_.tables, shape_.dim), n,
                           top_in_.data(), shape_.width());
    clock.mark(Stage::kInteraction);
    return;
  }
  const ElementType type = exchange.pooled_type();
  std::optional<dense::EmbeddingRows> rows = type == ElementType::kFp32
                                                 ? answers.in_place(exchange.widen(slot))
                                                 : answers.in_place(exchange.half_answers(slot), type);
  if (!rows) {
    answers.assemble(exchange.widen(slot), emb_.data());
    rows = dense::EmbeddingRows::block(emb_.data(), shape_.tables, shape_.dim);
  }
  clock.mark(Stage::kAssemble);
  dense::interaction_dot(shape_, x_.data(), *rows, n, top_in_.data(), shape_.width());
  clock.mark(Stage::kInteraction);
}

}  // namespace dlrm::cluster
