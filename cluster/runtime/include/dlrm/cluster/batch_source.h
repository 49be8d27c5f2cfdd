// Where a dense rank's batches come from and where their predictions go.
//
// The dense-rank loop asks its BatchSource for one batch per step and hands
// each batch's predictions back to it:
//   source.next(batch)                  false: no more steps, the run ends;
//                                       else batch.size samples (0: none this step)
//   ... bottom MLP, exchange, interaction, top MLP ...
//   source.complete(batch, predictions) predictions[i] of sample i of that batch
//                                       (every batch next() gave, empty ones too)
// source.ready() says whether next() would return at once: the loop posts the
// next batch before computing this one when it can. Every dense rank's source
// must end at the same step. DatasetSource reads a data file's samples
// [begin, end) in order; the query path feeds batches of queued queries
// through the same seam (query_source.h).
#pragma once

#include <cstdint>
#include <vector>

#include "dlrm/cluster/routing.h"
#include "dlrm/datasets/dataset.h"

namespace dlrm::cluster {

struct InputBatch {
  int size = 0;
  std::vector<float> dense;  // [size, dense features]: datasets::dense_transform of the samples
  Batch bags;                // per table, the bag of every sample (global rows)
  int64_t tag = 0;           // the source's own reference to the batch
};

// Appends to `bags` (reset for n samples) the bags of samples sample_of(0),
// .., sample_of(n - 1) of `data`: per table, each sample's hotness(t)
// indices (records: one, each record's T indices read together); with
// fold_indices each becomes index mod its table's rows
// (datasets::fold_index), else it is kept (checked before the run).
template <class SampleOf>
void add_bags(const datasets::Dataset& data, int n, SampleOf&& sample_of, const std::vector<int64_t>& table_rows,
              bool fold_indices, Batch& bags) {
  if (!data.multi_hot()) {  // records: one index per bag, read record by record
    bags.make_one_hot();
    for (int i = 0; i < n; ++i) {
      const int32_t* indices = data.indices(sample_of(i));
      for (int t = 0; t < bags.tables(); ++t) {
        bags.one_hot(t)[i] = static_cast<int32_t>(fold_indices ? datasets::fold_index(indices[t], table_rows[t])
                                                               : indices[t]);
      }
    }
    return;
  }
  for (int t = 0; t < bags.tables(); ++t) {
    const int hotness = data.hotness(t);
    for (int i = 0; i < n; ++i) {
      const int32_t* bag = data.bag(sample_of(i), t);
      for (int k = 0; k < hotness; ++k) {
        bags.add(t, static_cast<int32_t>(fold_indices ? datasets::fold_index(bag[k], table_rows[t]) : bag[k]));
      }
      bags.end_sample(t);
    }
  }
}

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Whether next() would return without waiting.
  virtual bool ready() { return true; }
  // Fills `batch` with the next step's batch (at most the batch size it was
  // made for); false when the run ends.
  virtual bool next(InputBatch& batch) = 0;
  // Takes the predictions (after sigmoid) of a batch next() returned.
  virtual void complete(const InputBatch& batch, const float* predictions) = 0;
};

// Samples [begin, end) of `data` in batches of `batch`, then empty batches,
// for `steps` steps; predictions land in predictions()[i - begin] for sample i.
class DatasetSource final : public BatchSource {
 public:
  // table_rows: rows of each table; with fold_indices an index outside its
  // table becomes index mod rows (datasets::fold_index), else it is kept
  // (checked before the run).
  DatasetSource(const datasets::Dataset& data, int64_t begin, int64_t end, int batch, int64_t steps,
                std::vector<int64_t> table_rows, bool fold_indices);
  bool next(InputBatch& batch) override;
  void complete(const InputBatch& batch, const float* predictions) override;
  // Back to sample `begin`, for `steps` steps (warm-up batches, then the run).
  void rewind(int64_t steps) {
    position_ = begin_;
    steps_ = steps;
    step_ = 0;
  }
  const std::vector<float>& predictions() const { return predictions_; }

 private:
  const datasets::Dataset& data_;
  int64_t begin_, end_, position_;
  int batch_;
  int64_t steps_, step_ = 0;
  std::vector<int64_t> table_rows_;
  bool fold_indices_;
  std::vector<float> predictions_;
};

}  // namespace dlrm::cluster
