// The dynamic batcher: forms dense-rank batches from the pairs of queued
// queries, oldest first.
//
//   add(query, now)   queues the query's pairs (one run of samples)
//   ready(now)        max_pairs pairs are queued, or the oldest queued pair
//                     has waited max_wait_ns: a batch should go now
//   take(batch, n)    up to n (at most max_pairs) pairs, oldest first; a
//                     query's pairs may span batches (and so dense ranks)
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <vector>

#include "dlrm/scenario/queries.h"

namespace dlrm::scenario {

// One pair of a query: pair `pair` of query `query` scores sample `sample`.
struct PairRef {
  int64_t query = 0;
  int32_t pair = 0;
  int64_t sample = 0;
};

class DynamicBatcher {
 public:
  DynamicBatcher(int max_pairs, int64_t max_wait_ns);
  void add(const Query& query, int64_t now_ns);
  int64_t queued() const { return queued_; }
  bool ready(int64_t now_ns) const;
  // When the oldest queued pair's wait ends (max when nothing is queued).
  int64_t deadline_ns() const;
  int max_pairs() const { return max_pairs_; }
  void take(std::vector<PairRef>& batch, int64_t n = std::numeric_limits<int64_t>::max());

 private:
  struct Run {
    int64_t query = 0;
    int32_t next = 0, pairs = 0;  // pairs [next, pairs) still queued
    int64_t first_sample = 0;
    int64_t queued_ns = 0;
  };
  int max_pairs_;
  int64_t max_wait_ns_;
  std::deque<Run> runs_;
  int64_t queued_ = 0;
};

}  // namespace dlrm::scenario
