#include "dlrm/cluster/step_link.h"

#include <algorithm>
#include <cstring>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/cluster/query_source.h"
#include "dlrm/common/error.h"

namespace dlrm::cluster {

std::vector<std::vector<scenario::PairRef>> take_step(scenario::DynamicBatcher& batcher, int dense_ranks) {
  std::vector<std::vector<scenario::PairRef>> pairs(dense_ranks);
  const int64_t total = std::min<int64_t>(batcher.queued(), static_cast<int64_t>(batcher.max_pairs()) * dense_ranks);
  const int64_t share = (total + dense_ranks - 1) / dense_ranks;
  for (auto& p : pairs) {
    if (batcher.queued() > 0) batcher.take(p, share);
  }
  return pairs;
}

StepLink::StepLink(MPI_Comm world, std::vector<int> dense, int batch)
    : world_(world), dense_(std::move(dense)), batch_(batch) {
  answers_.assign(dense_.size(), MPI_REQUEST_NULL);
  answer_buffers_.assign(dense_.size(), std::vector<char>(2 * sizeof(int32_t) + sizeof(float) * batch_));
  for (int d = 0; d < dense_ranks(); ++d) post_receive(d);
}

StepLink::~StepLink() {
  for (MPI_Request& r : answers_) {
    if (r != MPI_REQUEST_NULL) {
      MPI_Cancel(&r);
      MPI_Request_free(&r);
    }
  }
}

void StepLink::post_receive(int d) {
  check_mpi(MPI_Irecv(answer_buffers_[d].data(), static_cast<int>(answer_buffers_[d].size()), MPI_BYTE, dense_[d],
                      kTagDone, world_, &answers_[d]),
            "receive of predictions");
}

void StepLink::send(std::vector<Pairs> pairs, int32_t kind, const Encoder& encode) {
  DLRM_ASSERT(static_cast<int>(pairs.size()) == dense_ranks());
  Step& step = steps_.emplace_back();
  step.pairs = std::move(pairs);
  step.messages.resize(dense_.size());
  step.sends.assign(dense_.size(), MPI_REQUEST_NULL);
  for (int d = 0; d < dense_ranks(); ++d) {
    DLRM_ASSERT(static_cast<int>(step.pairs[d].size()) <= batch_);
    auto& msg = step.messages[d];
    msg = {kind, static_cast<int32_t>(next_step_), static_cast<int32_t>(step.pairs[d].size())};
    encode(d, step.pairs[d], msg);
    check_mpi(MPI_Isend(msg.data(), static_cast<int>(msg.size()), MPI_INT32_T, dense_[d], kTagStep, world_,
                        &step.sends[d]),
              "send of a step");
  }
  ++next_step_;
}

void StepLink::handle(int d, const Scored& scored) {
  int32_t header[2];
  std::memcpy(header, answer_buffers_[d].data(), sizeof(header));
  const int64_t k = header[0] - first_step_;
  DLRM_CHECK(k >= 0 && k < static_cast<int64_t>(steps_.size()), "dense rank {} answered step {}, which is not open",
             d, header[0]);
  Step& step = steps_[k];
  const auto& pairs = step.pairs[d];
  DLRM_CHECK(header[1] == static_cast<int32_t>(pairs.size()), "dense rank {} answered {} pairs of step {}, not {}", d,
             header[1], header[0], pairs.size());
  const auto* predictions = reinterpret_cast<const float*>(answer_buffers_[d].data() + sizeof(header));
  for (size_t i = 0; i < pairs.size(); ++i) scored(pairs[i], predictions[i]);
  pairs_ += static_cast<int64_t>(pairs.size());
  ++step.answered;
  post_receive(d);
  while (!steps_.empty() && steps_.front().answered == dense_ranks()) {
    check_mpi(MPI_Waitall(static_cast<int>(steps_.front().sends.size()), steps_.front().sends.data(),
                          MPI_STATUSES_IGNORE),
              "send of a step");
    steps_.pop_front();
    ++first_step_;
  }
}

bool StepLink::poll(const Scored& scored) {
  bool any = false;
  for (int d = 0; d < dense_ranks(); ++d) {
    int done = 0;
    check_mpi(MPI_Test(&answers_[d], &done, MPI_STATUS_IGNORE), "test of predictions");
    if (done) {
      handle(d, scored);
      any = true;
    }
  }
  return any;
}

void StepLink::end() {
  std::vector<MPI_Request> sends(dense_.size(), MPI_REQUEST_NULL);
  std::vector<std::vector<int32_t>> messages(dense_.size());
  for (int d = 0; d < dense_ranks(); ++d) {
    messages[d] = {kStepEnd, static_cast<int32_t>(next_step_), 0};
    check_mpi(MPI_Isend(messages[d].data(), 3, MPI_INT32_T, dense_[d], kTagStep, world_, &sends[d]),
              "send of the end");
  }
  for (MPI_Request& r : sends) wait_idle(&r);
}

}  // namespace dlrm::cluster
