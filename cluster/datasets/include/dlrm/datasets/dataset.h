// Input samples in the MLPerf binary layout, read by mmap.
//
// A record is (1 + F + T) native int32: label, F raw dense features (no log
// applied), T categorical indices (one per table). For the terabyte model
// F = 13, T = 26: 40 int32 = 160 bytes (terabyte_processed_test.bin). The
// file has no header; its size must be a whole number of records.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dlrm::datasets {

struct RecordLayout {
  int dense_features = 13;
  int tables = 26;
  int record_ints() const { return 1 + dense_features + tables; }
  int64_t record_bytes() const { return 4 * static_cast<int64_t>(record_ints()); }
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
  Dataset(Dataset&&) noexcept;
  Dataset& operator=(Dataset&&) noexcept;
  ~Dataset();

  int64_t samples() const { return samples_; }
  // Samples [first_held(), end_held()) can be read: all of them except for part_of().
  int64_t first_held() const { return first_; }
  int64_t end_held() const { return end_; }
  // Throws "WHO: samples [begin, end) are outside ..." naming the file unless
  // every one of them can be read.
  void check_held(int64_t begin, int64_t end, const char* who) const;
  const RecordLayout& layout() const { return layout_; }
  const std::filesystem::path& path() const { return path_; }
  const int32_t* record(int64_t i) const { return base_ + (i - first_) * layout_.record_ints(); }
  int32_t label(int64_t i) const { return record(i)[0]; }
  const int32_t* dense(int64_t i) const { return record(i) + 1; }
  const int32_t* indices(int64_t i) const { return record(i) + 1 + layout_.dense_features; }
  // The bag of sample i in table t: hotness(t) indices (records: one, indices(i)[t]).
  int hotness(int /*t*/) const { return 1; }
  const int32_t* bag(int64_t i, int t) const { return indices(i) + t; }
  // Advises the kernel that records [begin, begin + n) will be read soon.
  void prefetch(int64_t begin, int64_t n) const;

 private:
  Dataset() = default;
  std::filesystem::path path_;
  RecordLayout layout_;
  void* map_ = nullptr;  // null for a view from from_records()
  size_t map_bytes_ = 0;
  const int32_t* base_ = nullptr;
  int64_t samples_ = 0;
  int64_t first_ = 0, end_ = 0;  // the samples held
};

// dst[b * F + f] = log(max(x, 0) + 1) of record begin + b's dense feature f.
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
};
// First index of samples [begin, end) outside [0, table_rows[t]), if any
// (sample-major, then table order). Throws when table_rows has another table count.
std::optional<BadIndex> find_bad_index(const Dataset& data, int64_t begin, int64_t end,
                                       const std::vector<int64_t>& table_rows);
// The error text for a bad index, with what to do (--fold-indices):
// "sample 1234 table 7: index 5000 outside [0, 1000) in FILE; re-create ...".
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
