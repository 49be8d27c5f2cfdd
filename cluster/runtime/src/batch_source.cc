#include "dlrm/cluster/batch_source.h"

#include <algorithm>
#include <cstring>

namespace dlrm::cluster {

DatasetSource::DatasetSource(const datasets::Dataset& data, int64_t begin, int64_t end, int batch, int64_t steps,
                             std::vector<int64_t> table_rows, bool fold_indices)
    : data_(data),
      begin_(begin),
      end_(end),
      position_(begin),
      batch_(batch),
      steps_(steps),
      table_rows_(std::move(table_rows)),
      fold_indices_(fold_indices),
      predictions_(end - begin) {}

bool DatasetSource::next(InputBatch& batch) {
  if (step_ == steps_) return false;
  ++step_;
  const int n = static_cast<int>(std::clamp<int64_t>(end_ - position_, 0, batch_));
  const int tables = static_cast<int>(table_rows_.size());
  batch.size = n;
  batch.tag = position_;
  batch.dense.resize(static_cast<size_t>(batch_) * data_.layout().dense_features);
  if (n > 0) datasets::dense_transform(data_, position_, n, batch.dense.data());
  batch.bags.reset(n, tables);
  add_bags(data_, n, [&](int i) { return position_ + i; }, table_rows_, fold_indices_, batch.bags);
  position_ += n;
  return true;
}

void DatasetSource::complete(const InputBatch& batch, const float* predictions) {
  if (batch.size == 0) return;
  std::memcpy(predictions_.data() + (batch.tag - begin_), predictions, sizeof(float) * batch.size);
}

}  // namespace dlrm::cluster
