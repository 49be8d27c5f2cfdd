// Routing a dense rank's embedding lookups to the shards that hold them.
//
// A Batch holds, per table, a bag of global row ids per sample. For each
// shard, RequestBuilder::build() writes one request (shard/request.h) with a
// section per slice of that shard, in manifest order:
//   section(slice k of table t) = for each sample b: the bag's rows inside
//   [row_begin_k, row_end_k), as local rows (row - row_begin_k)
// Every column slice covering those rows receives the same rows. Pure data,
// no MPI: the exchange moves the messages.
#pragma once

#include <cstdint>
#include <vector>

#include "dlrm/model/manifest.h"

namespace dlrm::cluster {

// The bags of one batch. Bag of sample b in table t:
//   indices[t][offsets[t][b] .. offsets[t][b + 1])   (global rows)
struct Batch {
  int size = 0;
  std::vector<std::vector<int32_t>> indices;
  std::vector<std::vector<int32_t>> offsets;

  // Resets to `size` samples and `tables` empty tables (capacity kept).
  void reset(int size, int tables);
  int tables() const { return static_cast<int>(indices.size()); }
  // Appends one index to the bag of (sample b, table t); samples must be
  // filled in order b = 0, 1, ... within each table: call end_sample(t) after
  // each sample's indices of table t.
  void add(int t, int32_t row) { indices[t].push_back(row); }
  void end_sample(int t) { offsets[t].push_back(static_cast<int32_t>(indices[t].size())); }
  // Instead of add/end_sample after reset(): every bag of every table one
  // index, written by the caller to one_hot(t)[b] (the common case, filled
  // without a push per index).
  void make_one_hot();
  int32_t* one_hot(int t) { return indices[t].data(); }
  // Whether every bag of table t holds exactly one index.
  bool one_hot_table(int t) const;
};

struct SliceRoute {
  int shard = 0;
  int slice = 0;  // index in the shard's slice list
  model::Slice rect;
};

// The manifest's plan, indexed by shard and by table.
class RoutingTable {
 public:
  explicit RoutingTable(const model::Manifest& manifest);
  int num_shards() const { return static_cast<int>(by_shard_.size()); }
  int num_tables() const { return static_cast<int>(by_table_.size()); }
  int dim() const { return dim_; }
  const std::vector<SliceRoute>& shard_slices(int shard) const { return by_shard_[shard]; }
  // Slices of table t, by row_begin then col_begin.
  const std::vector<SliceRoute>& table_slices(int t) const { return by_table_[t]; }
  // Whether table t is split into more than one row range.
  bool row_split(int t) const { return row_split_[t]; }
  int64_t table_rows(int t) const { return table_rows_[t]; }
  // Per slice of shard `shard`, where its columns start among a sample's
  // embedding rows [tables][dim]: table * dim + col_begin.
  const std::vector<int64_t>& sample_offsets(int shard) const { return sample_offsets_[shard]; }

 private:
  int dim_ = 0;
  std::vector<std::vector<SliceRoute>> by_shard_;
  std::vector<std::vector<SliceRoute>> by_table_;
  std::vector<char> row_split_;
  std::vector<int64_t> table_rows_;
  std::vector<std::vector<int64_t>> sample_offsets_;
};

// Per shard, the most floats it answers one dense rank for a batch of
// `batch` samples: every sample with a bag in every slice.
std::vector<int64_t> max_response_floats(const RoutingTable& routing, int batch);

class RequestBuilder {
 public:
  explicit RequestBuilder(const RoutingTable& routing);
  // Encodes `batch` (global rows must lie inside their tables: checked
  // before the run) into one request per shard.
  void build(const Batch& batch);
  const RoutingTable& routing() const { return routing_; }
  int batch_size() const { return batch_size_; }
  // Indices in the batch (over all tables and samples).
  int64_t lookups() const { return lookups_; }
  const std::vector<int32_t>& message(int shard) const { return messages_[shard]; }
  // Floats shard `shard` answers to this batch.
  int64_t response_floats(int shard) const { return response_floats_[shard]; }

 private:
  const RoutingTable& routing_;
  int batch_size_ = 0;
  int64_t lookups_ = 0;
  std::vector<std::vector<int32_t>> messages_;
  std::vector<int64_t> response_floats_;
  std::vector<int32_t> lengths_, rows_;  // one slice's section before it is written
};

}  // namespace dlrm::cluster
