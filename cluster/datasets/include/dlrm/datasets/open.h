// One entry point for --data, whatever its layout:
//   a dlrm-v2 directory or prefix   multi-hot columns, mapped (multi_hot.h)
//   X.npz                           accuracy data, the asked samples read into
//                                   memory as records (npz.h)
//   anything else                   MLPerf binary records, mapped (dataset.h)
// Every program that reads samples opens them here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/npz.h"

namespace dlrm::datasets {

enum class DataFormat { kRecords, kAccuracyNpz, kMultiHot };

// The layout --data names (by the checks above, in that order; nothing is read).
DataFormat data_format(const std::filesystem::path& path);

// The sample count of --data, after checking its files against `shape`
// (nothing but headers and the npz's directory is read).
int64_t count_samples(const std::filesystem::path& path, const DataShape& shape);

// Samples of --data and what holds them.
class SampleData {
 public:
  SampleData(SampleData&&) noexcept = default;
  SampleData& operator=(SampleData&&) noexcept = default;
  // Indexed like the whole data set; holds at least the samples asked for
  // (records: all of them, mapped).
  const Dataset& data() const { return *data_; }
  DataFormat format() const { return format_; }
  // Accuracy data's reference predictions for the samples held (empty when
  // there are none, and for the other layouts).
  const std::vector<float>& reference() const;

 private:
  friend SampleData open_samples(const std::filesystem::path&, const DataShape&, int64_t, int64_t);
  SampleData() = default;
  DataFormat format_ = DataFormat::kRecords;
  std::optional<NpzDataset> npz_;  // viewed by data_
  std::optional<Dataset> data_;
};

// Samples [first, first + count) of --data (count < 0: all from `first`):
// only those are read (records and multi-hot columns are mapped; a multi-hot
// entry that is not aligned in the file, and accuracy data, are copied for
// that range). Throws naming the file on any bad input; indices are not
// range-checked here (find_bad_index).
SampleData open_samples(const std::filesystem::path& path, const DataShape& shape, int64_t first = 0,
                        int64_t count = -1);

}  // namespace dlrm::datasets
