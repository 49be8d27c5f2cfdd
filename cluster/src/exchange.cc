#include "dlrm/cluster/exchange.h"

#include <mpi.h>

#include <algorithm>
#include <numeric>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/common/error.h"

namespace dlrm::cluster {

Exchange::Exchange(MPI_Comm comm, const Roles& roles)
    : comm_(comm),
      roles_(roles),
      send_counts_(roles.size, 0),
      recv_counts_(roles.size, 0),
      send_displs_(roles.size, 0),
      recv_displs_(roles.size, 0),
      responses_(roles.shards(), nullptr),
      floats_(roles.size, 0) {}

void Exchange::exchange(const void* send, void* recv, MPI_Datatype type) {
  int offset = 0;
  for (int r = 0; r < roles_.size; ++r) {
    send_displs_[r] = offset;
    offset += send_counts_[r];
  }
  offset = 0;
  for (int r = 0; r < roles_.size; ++r) {
    recv_displs_[r] = offset;
    offset += recv_counts_[r];
  }
  check_mpi(MPI_Ialltoallv(send, send_counts_.data(), send_displs_.data(), type, recv, recv_counts_.data(),
                           recv_displs_.data(), type, comm_, &pending_),
            "all-to-all");
}

void Exchange::exchange_sizes() {
  MPI_Request request;
  check_mpi(MPI_Ialltoall(send_counts_.data(), 1, MPI_INT, recv_counts_.data(), 1, MPI_INT, comm_, &request),
            "all-to-all of sizes");
  wait_idle(&request);
}

void Exchange::post_requests(const RequestBuilder& builder) {
  send_ints_.clear();
  std::fill(send_counts_.begin(), send_counts_.end(), 0);
  for (int r = 0; r < roles_.size; ++r) {
    if (roles_.role[r] != Role::kShard) continue;
    const auto& msg = builder.message(roles_.index[r]);
    send_counts_[r] = static_cast<int>(msg.size());
    send_ints_.insert(send_ints_.end(), msg.begin(), msg.end());
  }
  index_bytes_ += 4 * (send_ints_.size() + roles_.shards());
  exchange_sizes();
  std::fill(recv_counts_.begin(), recv_counts_.end(), 0);
  exchange(send_ints_.data(), nullptr, MPI_INT32_T);
}

void Exchange::wait_requests() { wait_idle(&pending_); }

const std::vector<const float*>& Exchange::receive_pooled(const RequestBuilder& builder) {
  std::fill(send_counts_.begin(), send_counts_.end(), 0);
  int64_t floats = 0;
  for (int r = 0; r < roles_.size; ++r) {
    int64_t n = roles_.role[r] == Role::kShard ? builder.response_floats(roles_.index[r]) : 0;
    DLRM_CHECK(n <= INT32_MAX, "batch too large: {} floats from one shard; use a smaller --batch", n);
    recv_counts_[r] = static_cast<int>(n);
    floats += n;
  }
  pooled_.resize(std::max<int64_t>(floats, 1));
  exchange(nullptr, pooled_.data(), MPI_FLOAT);
  wait_idle(&pending_);
  pooled_bytes_ += 4 * floats;
  for (int r = 0; r < roles_.size; ++r) {
    if (roles_.role[r] == Role::kShard) responses_[roles_.index[r]] = pooled_.data() + recv_displs_[r];
  }
  return responses_;
}

int64_t Exchange::serve(ShardServer& server) {
  std::fill(send_counts_.begin(), send_counts_.end(), 0);
  exchange_sizes();
  int64_t ints = std::accumulate(recv_counts_.begin(), recv_counts_.end(), int64_t{0});
  recv_ints_.resize(std::max<int64_t>(ints, 1));
  exchange(nullptr, recv_ints_.data(), MPI_INT32_T);
  wait_idle(&pending_);

  const double t0 = MPI_Wtime();
  int64_t total = 0;
  for (int r = 0; r < roles_.size; ++r) {
    floats_[r] = recv_counts_[r] ? server.response_floats(recv_ints_.data() + recv_displs_[r], recv_counts_[r]) : 0;
    DLRM_CHECK(floats_[r] <= INT32_MAX, "batch too large: {} floats for one dense rank; use a smaller --batch",
               floats_[r]);
    total += floats_[r];
  }
  answers_.resize(std::max<int64_t>(total, 1));
  int64_t offset = 0, bad = 0;
  for (int r = 0; r < roles_.size; ++r) {
    if (recv_counts_[r] == 0) continue;
    bad += server.serve(recv_ints_.data() + recv_displs_[r], recv_counts_[r], answers_.data() + offset);
    offset += floats_[r];
  }
  pool_seconds_ += MPI_Wtime() - t0;

  for (int r = 0; r < roles_.size; ++r) send_counts_[r] = static_cast<int>(floats_[r]);
  std::fill(recv_counts_.begin(), recv_counts_.end(), 0);
  exchange(answers_.data(), nullptr, MPI_FLOAT);
  wait_idle(&pending_);
  return bad;
}

}  // namespace dlrm::cluster
