// The two all-to-alls of a batch, over every rank of a communicator.
//
// Dense side, per batch:
//   post_requests(builder)  all-to-all of message sizes, then a non-blocking
//                           all-to-all of the index messages
//   wait_requests()         (overlap work between the two)
//   receive_pooled(builder) all-to-all of pooled rows; returns one pointer
//                           per shard into the received answers
// Shard side, per batch:
//   serve(server)           receive every dense rank's request, pool, answer
// Every rank makes the same calls in the same order each batch (a dense
// rank with no samples left sends an empty batch). Waits poll with backoff
// so idle ranks leave their core to the others (wait_idle).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

#include "dlrm/cluster/roles.h"
#include "dlrm/cluster/routing.h"

namespace dlrm::cluster {

class Exchange {
 public:
  Exchange(MPI_Comm comm, const Roles& roles);

  void post_requests(const RequestBuilder& builder);
  void wait_requests();
  const std::vector<const float*>& receive_pooled(const RequestBuilder& builder);

  // Returns the number of out-of-range rows the server skipped.
  int64_t serve(ShardServer& server);
  // Seconds a shard rank spent pooling inside serve() (the rest is waiting).
  double pool_seconds() const { return pool_seconds_; }

  uint64_t index_bytes() const { return index_bytes_; }    // sent by this rank
  uint64_t pooled_bytes() const { return pooled_bytes_; }  // received by this rank

 private:
  void exchange(const void* send, void* recv, MPI_Datatype type);
  void exchange_sizes();

  MPI_Comm comm_;
  const Roles& roles_;
  std::vector<int> send_counts_, recv_counts_, send_displs_, recv_displs_;
  MPI_Request pending_ = MPI_REQUEST_NULL;
  std::vector<int32_t> send_ints_;
  std::vector<int32_t> recv_ints_;
  std::vector<float> answers_;
  std::vector<float> pooled_;
  std::vector<const float*> responses_;
  std::vector<int64_t> floats_;
  uint64_t index_bytes_ = 0;
  uint64_t pooled_bytes_ = 0;
  double pool_seconds_ = 0;
};

}  // namespace dlrm::cluster
