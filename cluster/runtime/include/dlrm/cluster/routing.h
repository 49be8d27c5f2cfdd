// Routing embedding lookups between dense ranks and shard ranks.
//
// Pure data transformations, no MPI: the pipeline moves the bytes.
//
// A dense rank's Batch holds, per table, a bag of global row ids per sample.
// RequestBuilder::build() encodes one int32 message per shard:
//   [batch_size] then, for each slice of that shard in manifest order:
//   [encoding, count, payload...]
//     kAllOne     every sample has exactly one index here:  count = B,
//                 payload = local rows[B]
//     kSparseOne  samples have zero or one index here:       count = n,
//                 payload = sample ids[n], local rows[n]
//     kGeneral    multi-hot bags:                            count = total,
//                 payload = lengths[B], local rows[count]
// (a local row is the global row minus the slice's row_begin; every column
// slice covering those rows receives the same rows).
// ShardServer::serve() pools each bag (sum) and answers, per slice in order,
// one row of the slice's cols floats for every sample whose bag here is not
// empty, in sample order. RequestBuilder::assemble() adds the answers into
// emb[B][tables][dim]: column slices fill their columns, row-range partial
// sums are added in shard order, and a sample with no index in a table gets
// zeros. For one-hot bags every value is copied exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "dlrm/shard/embedding_bag.h"
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
};

enum class BagEncoding : int32_t { kAllOne = 0, kSparseOne = 1, kGeneral = 2 };

struct SliceRoute {
  int shard = 0;
  int slice = 0;  // index in the shard's slice list
  model::Slice rect;
};

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

 private:
  int dim_ = 0;
  std::vector<std::vector<SliceRoute>> by_shard_;
  std::vector<std::vector<SliceRoute>> by_table_;
  std::vector<char> row_split_;
  std::vector<int64_t> table_rows_;
};

// Per shard, the most floats it answers one dense rank for a batch of
// `batch` samples: every sample with a bag in every slice.
std::vector<int64_t> max_response_floats(const RoutingTable& routing, int batch);

class RequestBuilder {
 public:
  explicit RequestBuilder(const RoutingTable& routing);
  // Encodes `batch` (global rows must be inside their tables: checked before
  // the run) into one message per shard.
  void build(const Batch& batch);
  const std::vector<int32_t>& message(int shard) const { return messages_[shard]; }
  // Floats shard `shard` answers to this batch.
  int64_t response_floats(int shard) const { return response_floats_[shard]; }
  int batch_size() const { return batch_size_; }
  // Writes emb[batch][tables][dim] from every shard's answer (responses[s]
  // points at response_floats(s) floats).
  void assemble(const std::vector<const float*>& responses, float* emb) const;
  // When every table is answered whole by one shard with a row for every
  // sample (table plans, bags never empty: the MLPerf data), sets tables[t]
  // to table t's rows[batch][dim] inside the answers and returns true, so
  // they can be used where they lie; otherwise returns false (assemble).
  template <class T>
  bool table_rows(const std::vector<const T*>& responses, const T** tables) const {
    for (int t = 0; t < routing_.num_tables(); ++t) {
      if (table_offset_[t] < 0) return false;
    }
    for (int t = 0; t < routing_.num_tables(); ++t) {
      tables[t] = responses[routing_.table_slices(t)[0].shard] + table_offset_[t];
    }
    return true;
  }
  // When every sample's bag in every table lies in one slice covering all
  // columns, or is empty (row-split tables with one-hot bags: the MLPerf data
  // under the auto plan), sets rows[b * tables + t] to sample b's pooled row
  // of table t inside the answers (a zero row for an empty bag) and returns
  // true; otherwise returns false (assemble). Row-range partial sums would
  // need adding, column slices joining: those assemble. Decodes the requests
  // as assemble() does; nothing of it is kept from build().
  bool sample_rows(const std::vector<const float*>& responses, const float** rows) const;
  bool sample_rows(const std::vector<const uint16_t*>& responses, const uint16_t** rows) const;

 private:
  const RoutingTable& routing_;
  int batch_size_ = 0;
  std::vector<std::vector<int32_t>> messages_;
  std::vector<int64_t> response_floats_;
  std::vector<int64_t> table_offset_;  // table t's rows in its shard's answer, or -1 (see table_rows)
  std::vector<float> zero_row_;  // dim zeros: the row of an empty bag (sample_rows)
  bool full_width_ = true;       // no table is split by columns (else sample_rows never serves)
  std::vector<int32_t> scratch_samples_;

  template <class Fn>
  void for_each_answer_row(Fn&& fn) const;
  template <class T>
  bool point_at_rows(const std::vector<const T*>& responses, const T** rows) const;
};

// The shard side: one shard's rows, answering requests.
class ShardServer {
 public:
  // slices[k] holds the rows of manifest slice k of this shard.
  ShardServer(std::vector<model::RowsView> slices, int dim);
  // Floats the answer to `request` will hold (walks the encoding).
  int64_t response_floats(const int32_t* request, int64_t ints) const;
  // Pools every bag of `request` into dst; returns the number of indices
  // outside their slice (skipped; should be 0 after the up-front check).
  int64_t serve(const int32_t* request, int64_t ints, float* dst);
  // Same maths with the _ref kernels (tests).
  int64_t serve_ref(const int32_t* request, int64_t ints, float* dst);

 private:
  int64_t serve_impl(const int32_t* request, int64_t ints, float* dst, bool ref);
  std::vector<model::RowsView> slices_;
  int dim_;
  std::vector<int32_t> offsets_;  // scratch for kGeneral
};

}  // namespace dlrm::cluster
