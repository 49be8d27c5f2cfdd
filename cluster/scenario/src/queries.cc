#include "dlrm/scenario/queries.h"

#include <algorithm>
#include <cmath>

#include "dlrm/common/error.h"

namespace dlrm::scenario {

namespace {
// Independent streams from one --seed.
uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
constexpr uint64_t kSizesStream = 1, kOffsetsStream = 2, kScheduleStream = 3;
}  // namespace

PoissonArrivals::PoissonArrivals(double qps, uint64_t seed)
    : rng_(static_cast<std::mt19937::result_type>(stream_seed(seed, kScheduleStream))), gap_(qps) {
  DLRM_CHECK(qps > 0 && std::isfinite(qps), "arrival rate must be positive, got {}", qps);
}

int64_t PoissonArrivals::next_ns() {
  t_ += gap_(rng_);
  return static_cast<int64_t>(std::llround(t_ * 1e9));
}

QuerySizer::QuerySizer(QuerySize size, uint64_t seed)
    : size_(size), rng_(static_cast<std::mt19937::result_type>(stream_seed(seed, kSizesStream))) {}

int32_t QuerySizer::next() {
  if (size_.kind != QuerySize::Kind::kMlperf) return size_.max_pairs();
  std::uniform_int_distribution<int> quantile(0, 19);
  return kMlperfQuantiles[quantile(rng_)];
}

QueryGenerator::QueryGenerator(const Settings& settings, int64_t samples)
    : settings_(settings), samples_(samples), sizes_(settings.pairs, settings.seed),
      offsets_(stream_seed(settings.seed, kOffsetsStream)) {
  DLRM_CHECK(samples > 0, "no samples to issue queries on");
  if (settings.scenario == Scenario::kServer) arrivals_.emplace(settings.target_qps, settings.seed);
}

std::optional<Query> QueryGenerator::next() {
  Query q;
  q.pairs = sizes_.next();
  if (settings_.mode == Mode::kAccuracy) {
    if (next_sample_ >= samples_) return std::nullopt;
    q.first_sample = next_sample_;
    q.pairs = static_cast<int32_t>(std::min<int64_t>(q.pairs, samples_ - next_sample_));
    next_sample_ += q.pairs;
  } else {
    DLRM_ASSERT(q.pairs <= samples_);
    std::uniform_int_distribution<int64_t> offset(0, samples_ - q.pairs);
    q.first_sample = offset(offsets_);
  }
  q.id = next_id_++;
  if (arrivals_) q.scheduled_ns = arrivals_->next_ns();
  return q;
}

}  // namespace dlrm::scenario
