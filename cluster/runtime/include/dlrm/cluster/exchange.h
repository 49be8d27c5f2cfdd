// The all-to-alls of each batch, over every rank of a communicator, with two
// batches in flight (docs/exchange.md: the protocol, the transports, why).
//
// Per batch b, in the same order on every rank: S(b) the request sizes, I(b)
// the requests, P(b) the pooled rows (MPI transport) and C(b) the row counts
// (shared-memory transport). Slot = b % 2; a dense rank posts batch b+1
// before it computes batch b.
//
// Dense ranks:
//   post_requests(slot, builder)    posts S(b), I(b)       (builder alive until the answers arrive)
//   post_pooled(slot, builder)      posts P(b), C(b)
//   wait_answers(slot)              waits for all four
//   half_answers(slot)              per shard, its 16-bit answer as it arrived (fp16/bf16 exchange)
//   widen(slot)                     per shard, its answer in fp32 (16-bit ones converted once)
//   wait_pooled(slot)               = wait_answers(slot), then widen(slot)
//   pool_into_samples(slot, emb)    pool: instead of wait_answers, one-hot rows
//                                   straight into per-sample rows, when it applies
//   post_stop(slot)                 posts S(b) saying "no batch b: the run ends" (every
//                                   dense rank at the same b)
// Shard ranks:
//   receive_requests(slot)          posts S(b), waits for it, posts I(b); false when
//                                   the dense ranks ended the run at b
//   serve(slot, server)             waits for I(b), pools every dense rank's request
//   post_answers(slot)              posts P(b), C(b)
// Both:
//   drain()                         waits for everything posted
//   reset_counters()                zeroes time and byte counts (after warm-up)
//   finish()                        drain(), then frees the shared window (collective)
// Transports per pair of shard and dense rank: MPI all-to-all, or (same host)
// the shard pools straight into the dense rank's shared-memory window.
// --exchange-transport auto = shm within a host, alltoall between hosts
// (unless the job chose pool for it first: resolve_transport in job.h).
// pool (every rank on one host): the dense ranks pool the rows themselves
// from the shard ranks' shared memory (shared_rows.h) in wait_answers; no
// batch crosses to a shard rank, whose receive_requests sees only the end of
// the run. Rows then stay fp32 (nothing is on a wire to shrink).
#pragma once

#include <mpi.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/cluster/roles.h"
#include "dlrm/cluster/routing.h"
#include "dlrm/cluster/shared_rows.h"
#include "dlrm/common/element_type.h"
#include "dlrm/shard/shard_server.h"

namespace dlrm::cluster {

// Element types of pooled rows on the wire: fp32, or fp16 / bf16 (half the
// bytes; shards round to nearest even, dense ranks widen exactly).
inline constexpr ElementTypes kExchangeTypes{ElementType::kFp32, ElementType::kFp16, ElementType::kBf16};

// kMixed is only ever a resolved transport: shm within hosts, alltoall between.
enum class Transport { kAuto, kAlltoall, kSharedMemory, kMixed, kPool };
Transport parse_transport(const std::string& name);  // "auto", "alltoall", "shm", "pool"
const char* to_string(Transport transport);           // "auto", "alltoall", "shm", "shm+alltoall", "pool"

class Exchange {
 public:
  static constexpr int kSlots = 2;
  static constexpr int kStop = -1;  // a request size meaning "the run ends here"

  // Collective over `comm`. max_response_floats[s]: the most floats shard s
  // answers one dense rank per batch (max_response_floats() in routing.h);
  // needed by the shm transport, which sizes the windows from it.
  // kPool needs `rows`, made before the shard ranks loaded (and outliving this).
  Exchange(MPI_Comm comm, const Roles& roles, ElementType pooled_type = ElementType::kFp32,
           Transport transport = Transport::kAlltoall, std::vector<int64_t> max_response_floats = {},
           SharedRows* rows = nullptr);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Dense ranks.
  void post_requests(int slot, const RequestBuilder& builder);
  void post_pooled(int slot, const RequestBuilder& builder);
  const std::vector<const float*>& wait_pooled(int slot);
  void wait_answers(int slot);
  // pool only: where every shard answers every sample of the batch with one
  // row per slice (one-hot bags of whole or column-split tables), pools them
  // straight into emb[batch][tables][dim] (sample b's rows at
  // emb + b * sample_stride) and returns true; nothing is then left to wait
  // for or assemble. Otherwise false, nothing done: wait_answers(slot).
  bool pool_into_samples(int slot, float* emb, int64_t sample_stride);
  // The same in parts. samples_poolable(slot) says whether it applies (it
  // reads every shard's request); if so, pool_samples(slot, emb,
  // sample_stride) pools the batch on this rank's threads, or, so that
  // threads can pool beside other work (the dense rank's bottom MLP,
  // dense_rank.cc), every thread that joins calls pool_samples_part(slot, emb,
  // sample_stride, next), which pools the batch's slices, claimed one at a
  // time from `next` (shared by the callers, from 0), until none is left;
  // once all have returned, pool_samples_done(slot, seconds) checks the rows
  // (throwing for a shard's rows outside it, or what a part threw) and ends
  // the batch's pooling (`seconds`: its time, for pool_seconds()).
  bool samples_poolable(int slot);
  void pool_samples(int slot, float* emb, int64_t sample_stride);
  void pool_samples_part(int slot, float* emb, int64_t sample_stride, std::atomic<int>& next) noexcept;
  void pool_samples_done(int slot, double seconds);
  const std::vector<const uint16_t*>& half_answers(int slot);  // fp16/bf16 exchanges only
  const std::vector<const float*>& widen(int slot);             // fp32 answers (converted once if 16-bit)
  ElementType pooled_type() const { return pooled_type_; }

  void post_stop(int slot);

  // Shard ranks. serve() returns the number of out-of-range rows skipped.
  bool receive_requests(int slot);
  int64_t serve(int slot, shard::ShardServer& server);
  void post_answers(int slot);

  // Waits for everything still in flight (both sides).
  void drain();
  void reset_counters();
  // drain() and release the shared window (collective; call before destruction).
  void finish();

  // The transport in use (auto resolved).
  Transport transport() const { return transport_; }
  double pool_seconds() const { return pool_seconds_; }  // time pooling (pool: dense ranks, else shard ranks)
  uint64_t index_bytes() const { return index_bytes_; }    // sent by this rank
  uint64_t lookups() const { return lookups_; }            // indices in the batches this rank posted
  uint64_t pooled_bytes() const { return pooled_bytes_; }  // received by this rank

 private:
  // One collective's arguments; they must stay untouched until it completes.
  struct Collective {
    std::vector<int> send_counts, recv_counts, send_displs, recv_displs;
    MPI_Request request = MPI_REQUEST_NULL;
    void resize(int ranks);
    void displace();  // displacements from counts
    void wait(int max_sleep_us = kIdleSleepCapUs);  // wait_idle()
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
    const RequestBuilder* builder = nullptr;  // pool: the batch's requests, pooled in wait_answers
  };

  void find_local_ranks();
  void pool_locally(Slot& slot);
  void open_window(const std::vector<int64_t>& max_response_floats);
  // shm: where shard `shard`'s answer to dense rank `rank` goes in slot `s`.
  void* window_slot(int rank, int s, int shard) const;

  MPI_Comm comm_;
  const Roles& roles_;
  ElementType pooled_type_;
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
  SharedRows* rows_ = nullptr;  // pool
  std::vector<char*> window_base_;
  int64_t slot_elements_ = 0;
  std::vector<int64_t> shard_offset_, shard_capacity_;
  uint64_t index_bytes_ = 0;
  uint64_t lookups_ = 0;
  uint64_t pooled_bytes_ = 0;
  double pool_seconds_ = 0;
  // pool, one-hot: the batch's (shard, slice) pairs, what each found
  // outside its slice, and the first error of a pool_samples_part.
  std::vector<std::pair<int, int>> pool_items_;
  std::vector<int64_t> pool_bad_;
  std::mutex pool_error_mutex_;
  std::exception_ptr pool_error_;
};

}  // namespace dlrm::cluster
