#include "dlrm/cluster/query_source.h"

#include <cstring>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/common/error.h"

namespace dlrm::cluster {

QuerySource::QuerySource(MPI_Comm world, int front, const datasets::Dataset* samples, int batch,
                         const model::ModelArch& arch, bool fold_indices)
    : world_(world),
      front_(front),
      samples_(samples),
      batch_(batch),
      features_(arch.dense_features),
      table_rows_(arch.table_rows),
      lookups_(static_cast<int>(arch.lookups_per_pair())),
      fold_indices_(fold_indices),
      step_(3 + static_cast<size_t>(batch) * (samples ? 1 : features_ + lookups_)) {
  for (int t = 0; t < arch.num_tables(); ++t) hotness_.push_back(arch.table_hotness(t));
  post_receive();
}

QuerySource::~QuerySource() {
  if (request_ != MPI_REQUEST_NULL) {
    MPI_Cancel(&request_);
    MPI_Request_free(&request_);
  }
  // The front answers every step before it ends the run, so on the normal
  // path nothing is left here; on an error path the job is being torn down.
  for (Sending& s : sending_) wait_idle(&s.request);
}

// Frees the completions the front has received (all: waits for every one).
void QuerySource::reap(bool all) {
  while (!sending_.empty()) {
    if (all) {
      wait_idle(&sending_.front().request);
    } else {
      int done = 0;
      check_mpi(MPI_Test(&sending_.front().request, &done, MPI_STATUS_IGNORE), "send of predictions to the front");
      if (!done) return;
    }
    sending_.pop_front();
  }
}

void QuerySource::post_receive() {
  check_mpi(MPI_Irecv(step_.data(), static_cast<int>(step_.size()), MPI_INT32_T, front_, kTagStep, world_, &request_),
            "receive of a step from the front");
}

bool QuerySource::ready() {
  int done = 0;
  check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "test of a step from the front");
  if (done) request_ = MPI_REQUEST_NULL;
  return done != 0 || request_ == MPI_REQUEST_NULL;
}

bool QuerySource::next(InputBatch& batch) {
  if (request_ != MPI_REQUEST_NULL) wait_idle(&request_);
  request_ = MPI_REQUEST_NULL;
  const int32_t kind = step_[0], n = step_[2];
  if (kind == kStepEnd) {
    reap(true);
    return false;
  }
  DLRM_CHECK(kind == (samples_ ? kStepBatch : kStepData) && n >= 0 && n <= batch_,
             "a step from the front of kind {} holds {} pairs; expected kind {} and at most {}", kind, n,
             samples_ ? kStepBatch : kStepData, batch_);
  batch.size = n;
  batch.tag = step_[1];
  batch.dense.resize(static_cast<size_t>(batch_) * features_);
  batch.bags.reset(n, static_cast<int>(table_rows_.size()));
  if (samples_) {
    read_samples(batch, step_.data() + 3, n);
  } else {
    read_data(batch, step_.data() + 3, n);
  }
  post_receive();
  return true;
}

void QuerySource::read_samples(InputBatch& batch, const int32_t* ids, int n) {
  for (int i = 0; i < n; ++i) {
    DLRM_CHECK(ids[i] >= 0 && ids[i] < samples_->samples(), "the front asked for sample {} of {}", ids[i],
               samples_->samples());
    datasets::dense_transform(*samples_, ids[i], 1, batch.dense.data() + i * features_);
  }
  add_bags(*samples_, n, [&](int i) { return ids[i]; }, table_rows_, fold_indices_, batch.bags);
}

// The front checked every index against its table (serve::parse_*_request).
void QuerySource::read_data(InputBatch& batch, const int32_t* payload, int n) {
  const int tables = static_cast<int>(table_rows_.size());
  std::memcpy(batch.dense.data(), payload, sizeof(float) * n * features_);
  const int32_t* rows = payload + static_cast<size_t>(n) * features_;
  for (int t = 0, column = 0; t < tables; column += hotness_[t], ++t) {
    for (int i = 0; i < n; ++i) {
      const int32_t* bag = rows + static_cast<size_t>(i) * lookups_ + column;
      for (int k = 0; k < hotness_[t]; ++k) {
        DLRM_ASSERT(bag[k] >= 0 && bag[k] < table_rows_[t]);
        batch.bags.add(t, bag[k]);
      }
      batch.bags.end_sample(t);
    }
  }
}

void QuerySource::complete(const InputBatch& batch, const float* predictions) {
  pairs_ += batch.size;
  reap(false);
  if (sending_.size() >= kMaxSending) wait_idle(&sending_.front().request);  // the front is far behind
  reap(false);
  Sending& out = sending_.emplace_back();
  const int32_t header[2] = {static_cast<int32_t>(batch.tag), batch.size};
  out.bytes.resize(sizeof(header) + sizeof(float) * batch.size);
  std::memcpy(out.bytes.data(), header, sizeof(header));
  if (batch.size > 0) std::memcpy(out.bytes.data() + sizeof(header), predictions, sizeof(float) * batch.size);
  check_mpi(MPI_Isend(out.bytes.data(), static_cast<int>(out.bytes.size()), MPI_BYTE, front_, kTagDone, world_,
                      &out.request),
            "send of predictions to the front");
}

}  // namespace dlrm::cluster
