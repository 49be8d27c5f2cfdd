// The all-to-alls of each batch, over every rank of a communicator, with two
// batches in flight.
//
// Per batch b three collectives run: S(b) the message sizes (alltoall),
// I(b) the index messages and P(b) the pooled rows (alltoallv). Every rank
// posts them in the same order: S(0) I(0) P(0) | S(1) I(1) P(1) | ... A dense
// rank posts batch b+1's three before it computes batch b, so shard ranks
// pool and answer batch b+1 while dense ranks compute batch b.
//
// Dense side, slot = b % 2 (the RequestBuilder of batch b stays alive until
// wait_pooled):
//   post_requests(slot, builder)    posts S(b) and I(b)
//   post_pooled(slot, builder)      posts P(b)
//   wait_pooled(slot)               waits for P(b) (and S(b), I(b)); returns one
//                                   pointer per shard into the answers
// Shard side:
//   receive_requests(slot)          posts S(b), waits for it, posts I(b)
//   serve(slot, server)             waits for I(b), pools into the slot's answers
//   post_answers(slot)              posts P(b)
//   finish()                        waits for every posted collective
// Waits poll with backoff (wait_idle) so idle ranks leave their core to others.
#pragma once

#include <mpi.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dlrm/cluster/roles.h"
#include "dlrm/cluster/routing.h"

namespace dlrm::cluster {

// How pooled rows cross the network: fp32, or fp16 / bf16 (half the bytes;
// shards round to nearest even, dense ranks widen exactly).
enum class PooledType { kFp32, kFp16, kBf16 };
PooledType parse_pooled_type(const std::string& name);  // "fp32", "fp16", "bf16"
const char* to_string(PooledType type);
int element_bytes(PooledType type);

class Exchange {
 public:
  static constexpr int kSlots = 2;

  Exchange(MPI_Comm comm, const Roles& roles, PooledType pooled_type = PooledType::kFp32);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Dense ranks.
  void post_requests(int slot, const RequestBuilder& builder);
  void post_pooled(int slot, const RequestBuilder& builder);
  const std::vector<const float*>& wait_pooled(int slot);

  // Shard ranks. serve() returns the number of out-of-range rows skipped.
  void receive_requests(int slot);
  int64_t serve(int slot, ShardServer& server);
  void post_answers(int slot);

  // Waits for everything still in flight (both sides; call before destruction).
  void finish();

  double pool_seconds() const { return pool_seconds_; }  // shard ranks: time pooling
  uint64_t index_bytes() const { return index_bytes_; }    // sent by this rank
  uint64_t pooled_bytes() const { return pooled_bytes_; }  // received by this rank

 private:
  // One collective's arguments; they must stay untouched until it completes.
  struct Collective {
    std::vector<int> send_counts, recv_counts, send_displs, recv_displs;
    MPI_Request request = MPI_REQUEST_NULL;
    void resize(int ranks);
    void displace();  // displacements from counts
    void wait();
  };
  struct Slot {
    Collective sizes, indices, pooled;
    std::vector<int32_t> send_ints, recv_ints;
    std::vector<float> answers, received;
    std::vector<uint16_t> answers16, received16;  // 16-bit pooled rows on the wire
    std::vector<int64_t> floats;  // shard: answer floats per dense rank
  };

  MPI_Comm comm_;
  const Roles& roles_;
  PooledType pooled_type_;
  std::array<Slot, kSlots> slots_;
  std::vector<const float*> responses_;
  uint64_t index_bytes_ = 0;
  uint64_t pooled_bytes_ = 0;
  double pool_seconds_ = 0;
};

}  // namespace dlrm::cluster
