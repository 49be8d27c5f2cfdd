// The dense-rank side of the query path: batches of sample ids from the
// front, scored from samples held in this rank's memory (LoadGen's
// QuerySampleLibrary), predictions sent back.
//
// Messages on the world communicator:
//   front -> dense  kTagStep: [kind, step, n, sample ids[n]]   kind 1: a batch (n may be 0), 0: the end
//   dense -> front  kTagDone: [step, n] then n float predictions (bytes)
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

#include "dlrm/cluster/batch_source.h"
#include "dlrm/datasets/dataset.h"

namespace dlrm::cluster {

inline constexpr int kTagStep = 7101;
inline constexpr int kTagDone = 7102;
inline constexpr int32_t kStepBatch = 1, kStepEnd = 0;

class QuerySource final : public BatchSource {
 public:
  // samples: every sample a query may name; batch: the most ids in a step.
  QuerySource(MPI_Comm world, int front, const datasets::Dataset& samples, int batch, std::vector<int64_t> table_rows,
              bool fold_indices);
  ~QuerySource() override;
  QuerySource(const QuerySource&) = delete;
  QuerySource& operator=(const QuerySource&) = delete;
  bool ready() override;
  bool next(InputBatch& batch) override;
  void complete(const InputBatch& batch, const float* predictions) override;
  // Pairs scored so far.
  int64_t pairs() const { return pairs_; }

 private:
  void post_receive();
  MPI_Comm world_;
  int front_;
  const datasets::Dataset& samples_;
  int batch_;
  std::vector<int64_t> table_rows_;
  bool fold_indices_;
  std::vector<int32_t> step_;  // the posted receive's buffer
  MPI_Request request_ = MPI_REQUEST_NULL;
  std::vector<char> done_;     // the completion being sent
  int64_t pairs_ = 0;
};

}  // namespace dlrm::cluster
