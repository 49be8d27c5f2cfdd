#include "dlrm/datasets/open.h"

#include "dlrm/common/error.h"
#include "dlrm/datasets/multi_hot.h"

namespace fs = std::filesystem;

namespace dlrm::datasets {

DataFormat data_format(const fs::path& path) {
  if (is_multi_hot(path)) return DataFormat::kMultiHot;
  if (is_npz(path)) return DataFormat::kAccuracyNpz;
  return DataFormat::kRecords;
}

int64_t count_samples(const fs::path& path, const DataShape& shape) {
  switch (data_format(path)) {
    case DataFormat::kMultiHot: return Dataset::open_multi_hot(path, shape, 0, 0).samples();
    case DataFormat::kAccuracyNpz: return npz_samples(path, shape.layout());
    case DataFormat::kRecords: break;
  }
  return Dataset::open(path, shape.layout()).samples();
}

const std::vector<float>& SampleData::reference() const {
  static const std::vector<float> kNone;
  return npz_ ? npz_->reference : kNone;
}

SampleData open_samples(const fs::path& path, const DataShape& shape, int64_t first, int64_t count) {
  SampleData s;
  s.format_ = data_format(path);
  switch (s.format_) {
    case DataFormat::kMultiHot:
      s.data_.emplace(Dataset::open_multi_hot(path, shape, first, count));
      break;
    case DataFormat::kAccuracyNpz:
      s.npz_.emplace(read_npz_dataset(path, shape.layout(), first, count));
      s.data_.emplace(s.npz_->view());  // views the records' buffer, which moves with npz_
      break;
    case DataFormat::kRecords: {
      s.data_.emplace(Dataset::open(path, shape.layout()));
      const int64_t n = s.data_->samples();
      if (count < 0) count = n - first;
      DLRM_CHECK(first >= 0 && count >= 0 && first <= n && count <= n - first,
                 "data file {}: samples [{}, {}) asked for, but it holds {}", path.string(), first, first + count, n);
      break;
    }
  }
  return s;
}

}  // namespace dlrm::datasets
