// Input samples, in one of two layouts, read by mmap.
//
// Records (MLPerf's binary layout, DLRM v1): a record is (1 + F + T) native
// int32: label, F raw dense features (no log applied), T categorical indices
// (one per table). For the terabyte model F = 13, T = 26: 40 int32 = 160
// bytes (terabyte_processed_test.bin). The file has no header; its size must
// be a whole number of records.
//
// Multi-hot columns (MLPerf's preprocessed multi-hot Criteo, dlrm-v2): for N
// samples, dense float32 [N, F] already transformed (log(x + 3)), labels int32
// [N] or [N, 1], and per table t an int32 [N, h_t] array of h_t indices (the
// bag of each sample). On disk (open_multi_hot, see multi_hot.h):
//   PREFIX_dense.npy, PREFIX_sparse_multi_hot.npz (stored entries "0".."T-1"),
//   PREFIX_labels.npy
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dlrm/common/error.h"

namespace dlrm::datasets {

struct RecordLayout {
  int dense_features = 13;
  int tables = 26;
  int record_ints() const { return 1 + dense_features + tables; }
  int64_t record_bytes() const { return 4 * static_cast<int64_t>(record_ints()); }
};

// What a model expects of its data: F dense features, T tables and, when not
// empty, the lookups per table of multi-hot data (the model's arch.hotness;
// empty: any bag width is taken).
struct DataShape {
  int dense_features = 13;
  int tables = 26;
  std::vector<int> hotness;
  RecordLayout layout() const { return RecordLayout{dense_features, tables}; }
};

// Multi-hot columns in memory (not owned) for samples [first, first + count):
// row 0 of each array is sample `first`.
struct MultiHotColumns {
  const float* dense = nullptr;       // [count, F], already transformed
  const int32_t* labels = nullptr;    // [count]
  std::vector<const int32_t*> bags;   // per table t: [count, hotness[t]]
  std::vector<int> hotness;           // per table, >= 1
};

class Dataset {
 public:
  // Throws naming the file when it is missing, empty, or not a whole number of records.
  static Dataset open(const std::filesystem::path& path, const RecordLayout& layout);
  // A view of `samples` records already in memory (not owned; must outlive the
  // Dataset). `name` stands in for the file name in error messages.
  static Dataset from_records(const int32_t* records, int64_t samples, const RecordLayout& layout,
                              std::filesystem::path name = "<memory>");
  // A view of part of a larger dataset: `records` holds samples [first,
  // first + count) of `total`. Indices stay those of the whole (record(first)
  // is records[0]); only that part may be read.
  static Dataset part_of(const int32_t* records, int64_t first, int64_t count, int64_t total,
                         const RecordLayout& layout, std::filesystem::path name);
  // Multi-hot data on disk (multi_hot.h: a directory holding one day_N set,
  // or a prefix /x/day_23), checked against `shape` and mapped; samples
  // [first, first + count) are held (count < 0: all from `first`), and only
  // they are read. Throws naming the file and entry on any bad input.
  static Dataset open_multi_hot(const std::filesystem::path& path_or_prefix, const DataShape& shape,
                                int64_t first = 0, int64_t count = -1);
  // A view of multi-hot columns in memory holding samples [first, first +
  // count) of `total` (as part_of; the columns must outlive the Dataset).
  static Dataset from_multi_hot(const MultiHotColumns& columns, int dense_features, int64_t first, int64_t count,
                                int64_t total, std::filesystem::path name = "<memory>");
  Dataset(Dataset&&) noexcept;
  Dataset& operator=(Dataset&&) noexcept;
  ~Dataset();

  int64_t samples() const { return samples_; }
  // Samples [first_held(), end_held()) can be read: all of them unless made
  // for a part (part_of, from_multi_hot, open_multi_hot with a range).
  int64_t first_held() const { return first_; }
  int64_t end_held() const { return end_; }
  // Throws "WHO: samples [begin, end) are outside ..." naming the file unless
  // every one of them can be read.
  void check_held(int64_t begin, int64_t end, const char* who) const;
  // F and T of either layout (record_ints() means something for records only).
  const RecordLayout& layout() const { return layout_; }
  const std::filesystem::path& path() const { return path_; }
  bool multi_hot() const { return multi_hot_; }

  // Both layouts.
  int32_t label(int64_t i) const { return multi_hot_ ? labels_[i - first_] : record(i)[0]; }
  // The bag of sample i in table t: hotness(t) indices (records: one, &indices(i)[t]).
  int hotness(int t) const { return multi_hot_ ? hotness_[static_cast<size_t>(t)] : 1; }
  const int32_t* bag(int64_t i, int t) const {
    return multi_hot_ ? bags_[static_cast<size_t>(t)] + (i - first_) * hotness_[static_cast<size_t>(t)]
                      : indices(i) + t;
  }

  // Records only.
  const int32_t* record(int64_t i) const {
    DLRM_ASSERT(!multi_hot_);
    return base_ + (i - first_) * layout_.record_ints();
  }
  const int32_t* dense(int64_t i) const { return record(i) + 1; }
  const int32_t* indices(int64_t i) const { return record(i) + 1 + layout_.dense_features; }
  // Multi-hot only: sample i's F dense features, already transformed.
  const float* dense_values(int64_t i) const {
    DLRM_ASSERT(multi_hot_);
    return dense_values_ + (i - first_) * layout_.dense_features;
  }
  // Advises the kernel that samples [begin, begin + n) will be read soon
  // (the mapped bytes of those samples only).
  void prefetch(int64_t begin, int64_t n) const;

 private:
  struct Mapping {
    void* addr = nullptr;
    size_t bytes = 0;
  };
  // A byte range of a mapping that holds `row_bytes` per sample, from sample 0.
  struct MappedColumn {
    const uint8_t* base = nullptr;
    int64_t row_bytes = 0;
  };
  friend struct MultiHotOpener;
  Dataset() = default;
  void release();
  std::filesystem::path path_;
  RecordLayout layout_;
  std::vector<Mapping> maps_;  // empty for views
  const int32_t* base_ = nullptr;
  int64_t samples_ = 0;
  int64_t first_ = 0, end_ = 0;  // the samples held
  // Multi-hot columns (row 0 = sample first_), the copies of columns that
  // could not be mapped in place, and the mapped ones for prefetch().
  bool multi_hot_ = false;
  const float* dense_values_ = nullptr;
  const int32_t* labels_ = nullptr;
  std::vector<const int32_t*> bags_;
  std::vector<int> hotness_;
  std::vector<std::vector<int32_t>> copies_;
  std::vector<float> dense_copy_;
  std::vector<MappedColumn> mapped_columns_;
};

// dst[b * F + f] = dense feature f of sample begin + b, transformed: records
// log(max(x, 0) + 1) of the raw count; multi-hot: the file's float as is
// (already log(x + 3)).
void dense_transform(const Dataset& data, int64_t begin, int n, float* dst);
// The same transform of one raw count: an integer count (as in the data
// files), or a real one (an FP32 input of the endpoint; integral values give
// exactly what the integer form gives). NaN and infinities are the caller's
// to refuse.
float dense_feature(int64_t count);
float dense_feature(double count);

struct BadIndex {
  int64_t sample = 0;
  int table = 0;
  int64_t value = 0;
  int64_t rows = 0;
  int position = 0;  // in the bag
  int hotness = 1;   // the bag's length
};
// First index of samples [begin, end) outside [0, table_rows[t]), if any: in
// sample order, then table, then position in the bag (every index of every
// bag is checked). Throws when table_rows has another table count.
std::optional<BadIndex> find_bad_index(const Dataset& data, int64_t begin, int64_t end,
                                       const std::vector<int64_t>& table_rows);
// The error text for a bad index, with what to do (--fold-indices):
// "sample 1234 table 7: index 5000 outside [0, 1000) in FILE; re-create ...";
// for a bag of more than one index "sample 1234 table 7 bag position 3 of 8: ...".
std::string describe(const BadIndex& bad, const std::filesystem::path& path);

// What --fold-indices does (the reference preprocessing's "mod max-ind-range"):
// index mod rows, non-negative for negative indices too.
inline int64_t fold_index(int64_t index, int64_t rows) {
  int64_t r = index % rows;
  return r < 0 ? r + rows : r;
}

// Synthetic records for dlrm-data synth. Record i depends only on (seed, i,
// layout, table_rows, zipf): not on chunking, threads or the model's sharding.
//   dense f  -1 with probability 2% (like Criteo's negatives), else 0 with a
//            per-feature probability in [10%, 40%), else floor(exp(mu_f + 1.2 N(0, 1)))
//            with mu_f rising from 0.5 to 4.1 over the features (heavy-tailed counts)
//   index t  Zipf rank over the table's rows: the inverse CDF of the continuous
//            density x^-zipf on [1, rows + 1), rank = floor(x) - 1; then the
//            bijection index = (rank * P_t + offset_t) mod rows with P_t a prime
//            > rows (so coprime with it) near 1.618 rows, scattering hot rows
//   label    0 (dlrm-data plants labels from the model's own predictions)
class SynthRecords {
 public:
  // zipf >= 0 (0: uniform indices); throws naming the bad value.
  SynthRecords(const RecordLayout& layout, std::vector<int64_t> table_rows, uint64_t seed, double zipf);
  // Writes records [begin, begin + n) into dst (n * record_ints() int32).
  void fill(int64_t begin, int64_t n, int32_t* dst) const;
  // Multi-hot samples [begin, begin + n), for dlrm-v2 models:
  //   dense[b * F + f]              log(x + 3) of the count x that fill() draws for
  //                                 record begin + b (x >= -1, so finite), as float
  //   bags[t][b * hotness[t] + k]   a Zipf index of table t (as above), the k-th
  //                                 draw of the stream of (seed, sample, table)
  void fill_multi_hot(int64_t begin, int64_t n, const std::vector<int>& hotness, float* dense,
                      const std::vector<int32_t*>& bags) const;
  // Uniform in [0, 1) for sample i's label draw, independent of its features.
  double label_uniform(int64_t sample) const;
  // Table t's index for Zipf rank `rank` (0 = hottest).
  int64_t index_of_rank(int table, int64_t rank) const;
  // Rank for a uniform u in [0, 1) under the continuous Zipf inverse CDF.
  int64_t rank_of_uniform(int table, double u) const;
  const RecordLayout& layout() const { return layout_; }

 private:
  struct Table {
    int64_t rows = 0;
    uint64_t multiplier = 0;  // P_t mod rows
    uint64_t offset = 0;
    double span = 0;  // (rows + 1)^(1 - zipf) - 1, or log(rows + 1) for zipf == 1
  };
  RecordLayout layout_;
  std::vector<Table> tables_;
  uint64_t seed_ = 0;
  double zipf_ = 0;
};

}  // namespace dlrm::datasets
