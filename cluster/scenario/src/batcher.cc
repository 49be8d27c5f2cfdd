#include "dlrm/scenario/batcher.h"

#include <algorithm>

#include "dlrm/common/error.h"

namespace dlrm::scenario {

DynamicBatcher::DynamicBatcher(int max_pairs, int64_t max_wait_ns) : max_pairs_(max_pairs), max_wait_ns_(max_wait_ns) {
  DLRM_CHECK(max_pairs > 0, "--batch must be positive, got {}", max_pairs);
  DLRM_CHECK(max_wait_ns >= 0, "--max-wait-us must be >= 0, got {}", max_wait_ns / 1000);
}

void DynamicBatcher::add(const Query& query, int64_t now_ns) {
  if (query.pairs <= 0) return;
  runs_.push_back({query.id, 0, query.pairs, query.first_sample, now_ns});
  queued_ += query.pairs;
}

bool DynamicBatcher::ready(int64_t now_ns) const {
  return queued_ >= max_pairs_ || (queued_ > 0 && now_ns >= deadline_ns());
}

int64_t DynamicBatcher::deadline_ns() const {
  return runs_.empty() ? std::numeric_limits<int64_t>::max() : runs_.front().queued_ns + max_wait_ns_;
}

void DynamicBatcher::take(std::vector<PairRef>& batch, int64_t n_max) {
  batch.clear();
  const auto limit = static_cast<int32_t>(std::min<int64_t>(max_pairs_, n_max));
  while (!runs_.empty() && static_cast<int32_t>(batch.size()) < limit) {
    Run& run = runs_.front();
    const int32_t n = std::min<int32_t>(run.pairs - run.next, limit - static_cast<int32_t>(batch.size()));
    for (int32_t k = 0; k < n; ++k) {
      const int32_t pair = run.next + k;
      batch.push_back({run.query, pair, run.first_sample + pair});
    }
    run.next += n;
    queued_ -= n;
    if (run.next == run.pairs) runs_.pop_front();
  }
}

}  // namespace dlrm::scenario
