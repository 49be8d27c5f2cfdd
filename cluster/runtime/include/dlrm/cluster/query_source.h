// The dense-rank side of the query path: batches from the front, scored,
// predictions sent back. A scenario run's batches name samples held in this
// rank's memory (LoadGen's QuerySampleLibrary); dlrm-serve's carry the
// requests' inputs themselves.
//
// Messages on the world communicator (int32 words):
//   front -> dense  kTagStep: [kind, step, n, payload]
//                     kind kStepBatch: payload = n sample ids
//                     kind kStepData:  payload = n x F transformed dense features
//                                      (float bits), then n x T row indices (in range)
//                     kind kStepEnd:   the end of the run (n = 0)
//                   n may be 0: an empty batch for this step
//   dense -> front  kTagDone: [step, n] then n float predictions (bytes)
#pragma once

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <vector>

#include "dlrm/cluster/batch_source.h"
#include "dlrm/datasets/dataset.h"
#include "dlrm/model/manifest.h"

namespace dlrm::cluster {

inline constexpr int kTagStep = 7101;
inline constexpr int kTagDone = 7102;
inline constexpr int32_t kStepBatch = 1, kStepEnd = 0, kStepData = 2;

class QuerySource final : public BatchSource {
 public:
  // samples: every sample a query may name (null: steps carry their data:
  // per pair the transformed dense features, then each table's bag of
  // arch.table_hotness(t) indices, table by table); batch: the most pairs in a step.
  QuerySource(MPI_Comm world, int front, const datasets::Dataset* samples, int batch, const model::ModelArch& arch,
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
  void read_samples(InputBatch& batch, const int32_t* ids, int n);
  void read_data(InputBatch& batch, const int32_t* payload, int n);
  MPI_Comm world_;
  int front_;
  const datasets::Dataset* samples_;
  int batch_;
  int features_;
  std::vector<int64_t> table_rows_;
  std::vector<int> hotness_;  // of the step data: per table
  int lookups_;               // their sum: indices per pair in the step data
  bool fold_indices_;
  std::vector<int32_t> step_;  // the posted receive's buffer
  MPI_Request request_ = MPI_REQUEST_NULL;
  // Completions on their way to the front, oldest first. They go out with
  // MPI_Isend: a blocking send waited (130 us on average, up to the front's
  // 1 ms poll) until the front took the message, on the dense rank's time.
  struct Sending {
    MPI_Request request = MPI_REQUEST_NULL;
    std::vector<char> bytes;
  };
  static constexpr size_t kMaxSending = 8;
  void reap(bool all);
  std::deque<Sending> sending_;
  int64_t pairs_ = 0;
};

}  // namespace dlrm::cluster
