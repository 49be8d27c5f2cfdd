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
//     = wait_answers(slot), then widen(slot); between the two, half_answers(slot)
//       gives 16-bit answers as they arrived (fp16/bf16 exchange), for
//       consumers that widen them on the fly
// Shard side:
//   receive_requests(slot)          posts S(b), waits for it, posts I(b)
//   serve(slot, server)             waits for I(b), pools into the slot's answers
//   post_answers(slot)              posts P(b)
//   drain()                         waits for every posted collective
//   reset_counters()                zeroes the time and byte counts (after a warm-up)
//   finish()                        drain(), then frees the shared window and
//                                   the host communicator (collective)
// Waits poll with backoff (wait_idle) so idle ranks leave their core to others.
//
// Transports of the pooled rows, per pair of shard and dense rank:
//   alltoall  P(b) is an MPI_Ialltoallv of the rows.
//   shm       the two share a host: each dense rank exposes its receive slots
//             in an MPI shared-memory window of its host (its own pages, so
//             NUMA local to it) and the shard pools straight into them; an
//             MPI_Ialltoall C(b) of one int per pair, the value count each
//             shard wrote, follows P(b) and also orders the writes before the
//             reads (MPI_Win_sync on both sides). No copy of the rows is made:
//             the receive-side copy of alltoall (the CMA read, 0.4 ms of a
//             dense rank's 2.5 ms per batch of 256 on the terabyte model) is
//             gone.
// --exchange-transport auto (the default) uses shm for every pair on one
// host and alltoall between hosts; alltoall forces MPI everywhere; shm
// requires every rank on one host. P(b) is posted when any pair anywhere
// crosses hosts and C(b) when any pair shares one, so all ranks post the
// same collectives.
// A dense rank reads slot k of batch b until it posts batch b+2's requests,
// and a shard writes slot k only after receiving them, so the slots need no
// further synchronisation.
#pragma once

#include <mpi.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dlrm/cluster/roles.h"
#include "dlrm/common/half.h"
#include "dlrm/cluster/routing.h"

namespace dlrm::cluster {

// How pooled rows cross the network: fp32, or fp16 / bf16 (half the bytes;
// shards round to nearest even, dense ranks widen exactly).
enum class PooledType { kFp32, kFp16, kBf16 };
PooledType parse_pooled_type(const std::string& name);  // "fp32", "fp16", "bf16"
const char* to_string(PooledType type);
int element_bytes(PooledType type);
HalfType half_type(PooledType type);  // fp16 / bf16 only

// kMixed is only ever a resolved transport: shm within hosts, alltoall between.
enum class Transport { kAuto, kAlltoall, kSharedMemory, kMixed };
Transport parse_transport(const std::string& name);  // "auto", "alltoall", "shm"
const char* to_string(Transport transport);           // "auto", "alltoall", "shm", "shm+alltoall"

class Exchange {
 public:
  static constexpr int kSlots = 2;

  // Collective over `comm`. max_response_floats[s]: the most floats shard s
  // answers one dense rank per batch (max_response_floats() in routing.h);
  // needed by the shm transport, which sizes the windows from it.
  Exchange(MPI_Comm comm, const Roles& roles, PooledType pooled_type = PooledType::kFp32,
           Transport transport = Transport::kAlltoall, std::vector<int64_t> max_response_floats = {});
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Dense ranks.
  void post_requests(int slot, const RequestBuilder& builder);
  void post_pooled(int slot, const RequestBuilder& builder);
  const std::vector<const float*>& wait_pooled(int slot);
  void wait_answers(int slot);
  const std::vector<const uint16_t*>& half_answers(int slot);  // fp16/bf16 exchanges only
  const std::vector<const float*>& widen(int slot);             // fp32 answers (converted once if 16-bit)
  PooledType pooled_type() const { return pooled_type_; }

  // Shard ranks. serve() returns the number of out-of-range rows skipped.
  void receive_requests(int slot);
  int64_t serve(int slot, ShardServer& server);
  void post_answers(int slot);

  // Waits for everything still in flight (both sides).
  void drain();
  void reset_counters();
  // drain() and release the shared window (collective; call before destruction).
  void finish();

  // The transport in use (auto resolved).
  Transport transport() const { return transport_; }
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
    Collective sizes, indices, pooled, counts;
    std::vector<int32_t> send_ints, recv_ints;
    std::vector<float> answers, received;
    std::vector<uint16_t> answers16, received16;  // 16-bit pooled rows on the wire
    // Per rank: the floats of the answer between it and this rank (shard side:
    // to each dense rank; dense side: from each shard) and their offset in
    // answers / received.
    std::vector<int64_t> floats, offset;
    std::vector<const void*> arrived;  // per shard: its answer as it arrived (wait_answers)
  };

  void find_local_ranks();
  void open_window(const std::vector<int64_t>& max_response_floats);
  void check_window_room(MPI_Aint my_bytes) const;  // collective over node_comm_
  // shm: where shard `shard`'s answer to dense rank `rank` goes in slot `s`.
  void* window_slot(int rank, int s, int shard) const;

  MPI_Comm comm_;
  const Roles& roles_;
  PooledType pooled_type_;
  std::array<Slot, kSlots> slots_;
  std::vector<const float*> responses_;
  std::vector<const uint16_t*> half_responses_;
  Transport transport_ = Transport::kAlltoall;
  std::vector<char> local_;     // per rank: shares this rank's host (and the window)
  std::vector<int> node_rank_;  // per rank: its rank in node_comm_ (MPI_UNDEFINED elsewhere)
  MPI_Comm node_comm_ = MPI_COMM_NULL;
  bool any_local_ = false, any_remote_ = false;  // pairs sharing / not sharing a host, anywhere
  // shm: the window, each dense rank's base address in it, and the layout of
  // a dense rank's part: kSlots x slot_elements_, shard s at shard_offset_[s].
  MPI_Win window_ = MPI_WIN_NULL;
  std::vector<char*> window_base_;
  int64_t slot_elements_ = 0;
  std::vector<int64_t> shard_offset_, shard_capacity_;
  uint64_t index_bytes_ = 0;
  uint64_t pooled_bytes_ = 0;
  double pool_seconds_ = 0;
};

}  // namespace dlrm::cluster
