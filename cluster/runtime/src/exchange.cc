#include "dlrm/cluster/exchange.h"

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/common/error.h"
#include "dlrm/common/half.h"

namespace dlrm::cluster {

void Exchange::Collective::resize(int ranks) {
  send_counts.assign(ranks, 0);
  recv_counts.assign(ranks, 0);
  send_displs.assign(ranks, 0);
  recv_displs.assign(ranks, 0);
}

void Exchange::Collective::displace() {
  int send = 0, recv = 0;
  for (size_t r = 0; r < send_counts.size(); ++r) {
    send_displs[r] = send;
    recv_displs[r] = recv;
    send += send_counts[r];
    recv += recv_counts[r];
  }
}

void Exchange::Collective::wait(int max_sleep_us) {
  if (request != MPI_REQUEST_NULL) wait_idle(&request, max_sleep_us);
}

Transport parse_transport(const std::string& name) {
  if (name == "auto") return Transport::kAuto;
  if (name == "alltoall") return Transport::kAlltoall;
  if (name == "shm") return Transport::kSharedMemory;
  if (name == "pool") return Transport::kPool;
  DLRM_FAIL("unknown exchange transport '{}'; choose auto, alltoall, shm or pool", name);
}

const char* to_string(Transport transport) {
  switch (transport) {
    case Transport::kAuto: return "auto";
    case Transport::kAlltoall: return "alltoall";
    case Transport::kSharedMemory: return "shm";
    case Transport::kMixed: return "shm+alltoall";
    case Transport::kPool: return "pool";
  }
  return "?";
}


namespace {
constexpr int64_t kAlignElements = 32;  // each answer starts on a 64-byte line for 16-bit values too
int64_t align_up(int64_t n) { return (n + kAlignElements - 1) / kAlignElements * kAlignElements; }

// After a dense rank pooled its request from shard `shard`'s rows itself.
void check_rows_inside(int shard, int64_t bad) {
  DLRM_CHECK(bad == 0, "shard {}: {} requested rows lie outside the shard; the data and model disagree", shard, bad);
}
}  // namespace

Exchange::Exchange(MPI_Comm comm, const Roles& roles, ElementType pooled_type, Transport transport,
                   std::vector<int64_t> max_response_floats, SharedRows* rows)
    : comm_(comm),
      roles_(roles),
      pooled_type_(transport == Transport::kPool ? ElementType::kFp32 : pooled_type),
      responses_(roles.shards()) {
  for (auto& slot : slots_) {
    slot.sizes.resize(roles.size);
    slot.indices.resize(roles.size);
    slot.pooled.resize(roles.size);
    slot.counts.resize(roles.size);
    slot.floats.assign(roles.size, 0);
    slot.offset.assign(roles.size, 0);
    slot.arrived.assign(roles.shards(), nullptr);
  }
  half_responses_.assign(roles.shards(), nullptr);
  local_.assign(roles.size, 0);
  if (transport != Transport::kAlltoall) find_local_ranks();
  // Which kinds of shard-dense pairs exist anywhere: every rank must post the same collectives.
  int mine[2] = {0, 0}, all[2] = {0, 0};
  for (int r = 0; r < roles.size; ++r) {
    if (roles.role[r] == roles.my_role()) continue;
    (local_[r] ? mine[0] : mine[1]) = 1;
  }
  check_mpi(MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, comm), "allreduce");
  any_local_ = all[0] != 0;
  any_remote_ = all[1] != 0;
  if (transport == Transport::kSharedMemory) {
    DLRM_CHECK(!any_remote_, "--exchange-transport shm needs every rank on one host; these ranks span several: use "
               "auto (shared memory between ranks that share a host, MPI between hosts) or alltoall");
  }
  if (transport == Transport::kPool) {
    // SharedRows has already refused ranks on several hosts.
    DLRM_CHECK(rows != nullptr && !any_remote_, "--exchange-transport pool needs every rank on one host, with the "
               "shard ranks' rows in shared memory");
    rows_ = rows;
    transport_ = Transport::kPool;
    return;
  }
  transport_ = !any_local_ ? Transport::kAlltoall : !any_remote_ ? Transport::kSharedMemory : Transport::kMixed;
  if (any_local_) open_window(max_response_floats);
}

void Exchange::find_local_ranks() {
  check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, roles_.rank, MPI_INFO_NULL, &node_comm_),
            "split by host");
  MPI_Group world, node;
  MPI_Comm_group(comm_, &world);
  MPI_Comm_group(node_comm_, &node);
  std::vector<int> ranks(roles_.size), in_node(roles_.size);
  std::iota(ranks.begin(), ranks.end(), 0);
  MPI_Group_translate_ranks(world, roles_.size, ranks.data(), node, in_node.data());
  MPI_Group_free(&world);
  MPI_Group_free(&node);
  node_rank_ = in_node;
  for (int r = 0; r < roles_.size; ++r) local_[r] = in_node[r] != MPI_UNDEFINED ? 1 : 0;
}

void Exchange::open_window(const std::vector<int64_t>& max_response_floats) {
  DLRM_CHECK(static_cast<int>(max_response_floats.size()) == roles_.shards(),
             "the shm exchange needs the answer capacity of each of the {} shards, got {}", roles_.shards(),
             max_response_floats.size());
  shard_offset_.assign(roles_.shards(), 0);
  shard_capacity_ = max_response_floats;
  slot_elements_ = 0;
  for (int s = 0; s < roles_.shards(); ++s) {
    shard_offset_[s] = slot_elements_;
    slot_elements_ += align_up(max_response_floats[s]);
  }
  const bool dense = roles_.my_role() == Role::kDense;
  const MPI_Aint bytes = dense ? static_cast<MPI_Aint>(kSlots * slot_elements_ * element_bits(pooled_type_) / 8) : 0;
  // Collective over each host's ranks (every host runs it: any_local_ is global).
  void* mine = allocate_shared_window(node_comm_, bytes, "the shared-memory exchange windows",
                                      "lower --batch, make room there, or pass --exchange-transport alltoall",
                                      &window_);
  if (dense) std::memset(mine, 0, bytes);  // fault the pages in here, on this rank's node
  window_base_.assign(roles_.size, nullptr);
  for (int r = 0; r < roles_.size; ++r) {
    if (roles_.role[r] != Role::kDense || !local_[r]) continue;
    MPI_Aint size = 0;
    int unit = 0;
    void* base = nullptr;
    check_mpi(MPI_Win_shared_query(window_, node_rank_[r], &size, &unit, &base), "query of the shared-memory window");
    window_base_[r] = static_cast<char*>(base);
  }
  check_mpi(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_), "lock of the shared-memory window");
}

void* Exchange::window_slot(int rank, int s, int shard) const {
  return window_base_[rank] + (s * slot_elements_ + shard_offset_[shard]) * element_bits(pooled_type_) / 8;
}

Exchange::~Exchange() {
  // Requests still pending here mean an error unwound the run: the job is
  // being aborted, so leave them rather than block.
}

void Exchange::drain() {
  for (auto& slot : slots_) {
    slot.sizes.wait();
    slot.indices.wait();
    slot.pooled.wait();
    slot.counts.wait();
  }
}

void Exchange::reset_counters() {
  index_bytes_ = 0;
  lookups_ = 0;
  pooled_bytes_ = 0;
  pool_seconds_ = 0;
}

void Exchange::finish() {
  drain();
  if (window_ != MPI_WIN_NULL) {
    check_mpi(MPI_Win_unlock_all(window_), "unlock of the shared-memory window");
    check_mpi(MPI_Win_free(&window_), "free of the shared-memory window");
  }
  if (node_comm_ != MPI_COMM_NULL) MPI_Comm_free(&node_comm_);
}

void Exchange::post_requests(int s, const RequestBuilder& builder) {
  Slot& slot = slots_[s];
  if (rows_) {  // pool: nothing crosses; wait_answers pools these requests
    slot.builder = &builder;
    lookups_ += static_cast<uint64_t>(builder.lookups());
    return;
  }
  // The slot's previous batch must be fully done before its buffers change.
  slot.sizes.wait();
  slot.indices.wait();
  slot.send_ints.clear();
  auto& counts = slot.indices.send_counts;
  std::fill(counts.begin(), counts.end(), 0);
  for (int r = 0; r < roles_.size; ++r) {
    if (roles_.role[r] != Role::kShard) continue;
    const auto& msg = builder.message(roles_.index[r]);
    counts[r] = static_cast<int>(msg.size());
    slot.send_ints.insert(slot.send_ints.end(), msg.begin(), msg.end());
  }
  std::fill(slot.indices.recv_counts.begin(), slot.indices.recv_counts.end(), 0);
  slot.indices.displace();
  slot.sizes.send_counts = counts;
  index_bytes_ += 4 * (slot.send_ints.size() + roles_.shards());
  lookups_ += static_cast<uint64_t>(builder.lookups());
  check_mpi(MPI_Ialltoall(slot.sizes.send_counts.data(), 1, MPI_INT, slot.sizes.recv_counts.data(), 1, MPI_INT,
                          comm_, &slot.sizes.request),
            "all-to-all of sizes");
  check_mpi(MPI_Ialltoallv(slot.send_ints.data(), slot.indices.send_counts.data(), slot.indices.send_displs.data(),
                           MPI_INT32_T, nullptr, slot.indices.recv_counts.data(), slot.indices.recv_displs.data(),
                           MPI_INT32_T, comm_, &slot.indices.request),
            "all-to-all of indices");
}

void Exchange::post_pooled(int s, const RequestBuilder& builder) {
  Slot& slot = slots_[s];
  slot.pooled.wait();
  slot.counts.wait();
  auto& c = slot.pooled;
  std::fill(c.send_counts.begin(), c.send_counts.end(), 0);
  std::fill(c.send_displs.begin(), c.send_displs.end(), 0);
  int64_t floats = 0;
  for (int r = 0; r < roles_.size; ++r) {
    const int64_t n = roles_.role[r] == Role::kShard ? builder.response_floats(roles_.index[r]) : 0;
    DLRM_CHECK(n <= INT32_MAX, "batch too large: {} floats from one shard; use a smaller --batch", n);
    slot.floats[r] = n;
    slot.offset[r] = floats;
    // Rows from a shard on this host arrive in the window, the others by MPI.
    c.recv_counts[r] = local_[r] ? 0 : static_cast<int>(n);
    c.recv_displs[r] = static_cast<int>(std::min<int64_t>(floats, INT32_MAX));
    floats += n;
  }
  DLRM_CHECK(floats <= INT32_MAX, "batch too large: {} pooled floats per batch; use a smaller --batch", floats);
  slot.received.resize(std::max<int64_t>(floats, 1));
  if (rows_) return;  // pool: pooled into `received` by wait_answers
  pooled_bytes_ += static_cast<uint64_t>(element_bits(pooled_type_) / 8) * floats;
  if (any_remote_) {
    void* recv = slot.received.data();
    MPI_Datatype type = MPI_FLOAT;
    if (pooled_type_ != ElementType::kFp32) {
      slot.received16.resize(std::max<int64_t>(floats, 1));
      recv = slot.received16.data();
      type = MPI_UINT16_T;
    }
    check_mpi(MPI_Ialltoallv(nullptr, c.send_counts.data(), c.send_displs.data(), type, recv, c.recv_counts.data(),
                             c.recv_displs.data(), type, comm_, &c.request),
              "all-to-all of pooled rows");
  }
  if (any_local_) {
    // Each shard on this host says how many values it wrote into the window.
    auto& k = slot.counts;
    std::fill(k.send_counts.begin(), k.send_counts.end(), 0);
    check_mpi(MPI_Ialltoall(k.send_counts.data(), 1, MPI_INT, k.recv_counts.data(), 1, MPI_INT, comm_, &k.request),
              "all-to-all of pooled row counts");
  }
}

void Exchange::wait_answers(int s) {
  Slot& slot = slots_[s];
  if (rows_) {
    pool_locally(slot);
    return;
  }
  slot.pooled.wait();
  slot.counts.wait();
  slot.sizes.wait();
  slot.indices.wait();
  if (any_local_) check_mpi(MPI_Win_sync(window_), "sync of the shared-memory window");
  const int elem = element_bits(pooled_type_) / 8;
  const char* base = pooled_type_ == ElementType::kFp32 ? reinterpret_cast<const char*>(slot.received.data())
                                                        : reinterpret_cast<const char*>(slot.received16.data());
  for (int r = 0; r < roles_.size; ++r) {
    if (roles_.role[r] != Role::kShard) continue;
    const int shard = roles_.index[r];
    if (local_[r]) {
      DLRM_CHECK(slot.counts.recv_counts[r] == slot.floats[r],
                 "shard rank {} wrote {} pooled values for this rank's batch, {} were requested", r,
                 slot.counts.recv_counts[r], slot.floats[r]);
      slot.arrived[shard] = window_slot(roles_.rank, s, shard);
    } else {
      slot.arrived[shard] = base + slot.offset[r] * elem;
    }
  }
}

// pool: every shard's answer to this rank's requests, pooled here from the
// shard's rows in shared memory, into `received` where MPI would have put it.
void Exchange::pool_locally(Slot& slot) {
  DLRM_ASSERT(slot.builder != nullptr);
  const double t0 = MPI_Wtime();
  for (int r = 0; r < roles_.size; ++r) {
    if (roles_.role[r] != Role::kShard) continue;
    const int shard = roles_.index[r];
    float* dst = slot.received.data() + slot.offset[r];
    const std::vector<int32_t>& request = slot.builder->message(shard);
    if (!request.empty()) {
      const int64_t bad =
          rows_->server(shard).serve(request.data(), static_cast<int64_t>(request.size()), dst);
      check_rows_inside(shard, bad);
    }
    slot.arrived[shard] = dst;
  }
  slot.builder = nullptr;
  pool_seconds_ += MPI_Wtime() - t0;
}

bool Exchange::pool_into_samples(int s, float* emb, int64_t sample_stride) {
  if (!samples_poolable(s)) return false;
  pool_samples(s, emb, sample_stride);
  return true;
}

void Exchange::pool_samples(int s, float* emb, int64_t sample_stride) {
  const double t0 = MPI_Wtime();
  std::atomic<int> next{0};
  const auto items = static_cast<int>(pool_items_.size());
  if (shard::ShardServer::by_slice(items, int64_t{slots_[s].builder->batch_size()} * items)) {
#pragma omp parallel
    pool_samples_part(s, emb, sample_stride, next);
  } else {
    pool_samples_part(s, emb, sample_stride, next);
  }
  pool_samples_done(s, MPI_Wtime() - t0);
}

// Every shard's request must have one row per sample and slice (reading the
// requests' headers), else the answers are pooled as they are sent.
bool Exchange::samples_poolable(int s) {
  if (!rows_) return false;
  Slot& slot = slots_[s];
  DLRM_ASSERT(slot.builder != nullptr);
  for (int shard = 0; shard < roles_.shards(); ++shard) {
    const std::vector<int32_t>& request = slot.builder->message(shard);
    if (request.empty() ||
        !rows_->server(shard).one_row_per_sample(request.data(), static_cast<int64_t>(request.size()))) {
      return false;
    }
  }
  if (pool_items_.empty()) {  // here, not at construction: only dense ranks have the shards' servers
    for (int shard = 0; shard < roles_.shards(); ++shard) {
      for (int k = 0; k < rows_->server(shard).num_slices(); ++k) pool_items_.emplace_back(shard, k);
    }
  }
  pool_bad_.assign(pool_items_.size(), 0);
  pool_error_ = nullptr;
  return true;
}

void Exchange::pool_samples_part(int s, float* emb, int64_t sample_stride, std::atomic<int>& next) noexcept {
  try {
    const RoutingTable& routing = slots_[s].builder->routing();
    const int items = static_cast<int>(pool_items_.size());
    for (int i = next.fetch_add(1, std::memory_order_relaxed); i < items;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      const auto [shard, k] = pool_items_[static_cast<size_t>(i)];
      pool_bad_[static_cast<size_t>(i)] =
          rows_->server(shard).serve_sample_slice(k, emb, sample_stride, routing.sample_offsets(shard)[k]);
    }
  } catch (...) {  // not out of an OpenMP region: pool_samples_done throws it
    const std::lock_guard<std::mutex> lock(pool_error_mutex_);
    if (!pool_error_) pool_error_ = std::current_exception();
  }
}

void Exchange::pool_samples_done(int s, double seconds) {
  if (pool_error_) std::rethrow_exception(std::exchange(pool_error_, nullptr));
  std::vector<int64_t> bad(static_cast<size_t>(roles_.shards()), 0);
  for (size_t i = 0; i < pool_items_.size(); ++i) bad[static_cast<size_t>(pool_items_[i].first)] += pool_bad_[i];
  for (int shard = 0; shard < roles_.shards(); ++shard) check_rows_inside(shard, bad[static_cast<size_t>(shard)]);
  slots_[s].builder = nullptr;
  pool_seconds_ += seconds;
}

const std::vector<const uint16_t*>& Exchange::half_answers(int s) {
  DLRM_CHECK(pooled_type_ != ElementType::kFp32, "half_answers() of an fp32 exchange");
  for (int k = 0; k < roles_.shards(); ++k) half_responses_[k] = static_cast<const uint16_t*>(slots_[s].arrived[k]);
  return half_responses_;
}

const std::vector<const float*>& Exchange::widen(int s) {
  Slot& slot = slots_[s];
  for (int r = 0; r < roles_.size; ++r) {
    if (roles_.role[r] != Role::kShard) continue;
    const int shard = roles_.index[r];
    if (pooled_type_ == ElementType::kFp32) {
      responses_[shard] = static_cast<const float*>(slot.arrived[shard]);
    } else {
      float* dst = slot.received.data() + slot.offset[r];
      from_half(pooled_type_, static_cast<const uint16_t*>(slot.arrived[shard]), dst, slot.floats[r]);
      responses_[shard] = dst;
    }
  }
  return responses_;
}

const std::vector<const float*>& Exchange::wait_pooled(int s) {
  wait_answers(s);
  return widen(s);
}

void Exchange::post_stop(int s) {
  Slot& slot = slots_[s];
  slot.sizes.wait();
  slot.indices.wait();
  auto& counts = slot.sizes.send_counts;
  for (int r = 0; r < roles_.size; ++r) counts[r] = roles_.role[r] == Role::kShard ? kStop : 0;
  check_mpi(MPI_Ialltoall(counts.data(), 1, MPI_INT, slot.sizes.recv_counts.data(), 1, MPI_INT, comm_,
                          &slot.sizes.request),
            "all-to-all of sizes");
}

bool Exchange::receive_requests(int s) {
  Slot& slot = slots_[s];
  slot.sizes.wait();
  slot.indices.wait();
  std::fill(slot.sizes.send_counts.begin(), slot.sizes.send_counts.end(), 0);
  check_mpi(MPI_Ialltoall(slot.sizes.send_counts.data(), 1, MPI_INT, slot.sizes.recv_counts.data(), 1, MPI_INT,
                          comm_, &slot.sizes.request),
            "all-to-all of sizes");
  // pool: nothing comes before the end of the run. Sleeping up to 2 ms
  // between tests ends the run at most that much later.
  slot.sizes.wait(rows_ ? 10 * kIdleSleepCapUs : kIdleSleepCapUs);
  int stops = 0;
  for (int r = 0; r < roles_.size; ++r) stops += roles_.role[r] == Role::kDense && slot.sizes.recv_counts[r] == kStop;
  DLRM_CHECK(stops == 0 || stops == roles_.dense_ranks(),
             "{} of {} dense ranks ended the run at this batch; every dense rank must end at the same one", stops,
             roles_.dense_ranks());
  if (stops > 0) return false;
  auto& c = slot.indices;
  std::fill(c.send_counts.begin(), c.send_counts.end(), 0);
  c.recv_counts = slot.sizes.recv_counts;
  c.displace();
  int64_t ints = std::accumulate(c.recv_counts.begin(), c.recv_counts.end(), int64_t{0});
  slot.recv_ints.resize(std::max<int64_t>(ints, 1));
  check_mpi(MPI_Ialltoallv(nullptr, c.send_counts.data(), c.send_displs.data(), MPI_INT32_T, slot.recv_ints.data(),
                           c.recv_counts.data(), c.recv_displs.data(), MPI_INT32_T, comm_, &c.request),
            "all-to-all of indices");
  return true;
}

int64_t Exchange::serve(int s, shard::ShardServer& server) {
  Slot& slot = slots_[s];
  slot.indices.wait();
  slot.pooled.wait();  // the answers buffer of this slot's previous batch
  slot.counts.wait();
  const double t0 = MPI_Wtime();
  const auto& counts = slot.indices.recv_counts;
  const auto& displs = slot.indices.recv_displs;
  const int me = roles_.my_index();
  int64_t total = 0;
  for (int r = 0; r < roles_.size; ++r) {
    slot.floats[r] = counts[r] ? server.response_floats(slot.recv_ints.data() + displs[r], counts[r]) : 0;
    DLRM_CHECK(slot.floats[r] <= INT32_MAX, "batch too large: {} floats for one dense rank; use a smaller --batch",
               slot.floats[r]);
    DLRM_CHECK(!local_[r] || slot.floats[r] <= shard_capacity_[me],
               "rank {} asked for {} pooled values, more than its batch allows ({}); the ranks disagree on --batch", r,
               slot.floats[r], shard_capacity_[me]);
    slot.offset[r] = total;
    total += slot.floats[r];
  }
  DLRM_CHECK(total <= INT32_MAX, "batch too large: {} pooled floats per batch; use a smaller --batch", total);
  slot.answers.resize(std::max<int64_t>(total, 1));
  int64_t bad = 0;
  for (int r = 0; r < roles_.size; ++r) {
    if (counts[r] == 0) continue;
    // fp32 to a dense rank on this host: pooled straight into its window.
    const bool direct = local_[r] && pooled_type_ == ElementType::kFp32;
    float* dst = direct ? static_cast<float*>(window_slot(r, s, me)) : slot.answers.data() + slot.offset[r];
    bad += server.serve(slot.recv_ints.data() + displs[r], counts[r], dst);
  }
  pool_seconds_ += MPI_Wtime() - t0;
  return bad;
}

void Exchange::post_answers(int s) {
  Slot& slot = slots_[s];
  const bool half = pooled_type_ != ElementType::kFp32;
  const int64_t total = std::accumulate(slot.floats.begin(), slot.floats.end(), int64_t{0});
  if (half) slot.answers16.resize(std::max<int64_t>(total, 1));
  for (int r = 0; r < roles_.size; ++r) {
    if (slot.floats[r] == 0 || !half) continue;
    uint16_t* dst = local_[r] ? static_cast<uint16_t*>(window_slot(r, s, roles_.my_index()))
                              : slot.answers16.data() + slot.offset[r];
    to_half(pooled_type_, slot.answers.data() + slot.offset[r], dst, slot.floats[r]);
  }
  if (any_remote_) {
    auto& c = slot.pooled;
    std::fill(c.recv_counts.begin(), c.recv_counts.end(), 0);
    std::fill(c.recv_displs.begin(), c.recv_displs.end(), 0);
    for (int r = 0; r < roles_.size; ++r) {
      c.send_counts[r] = local_[r] ? 0 : static_cast<int>(slot.floats[r]);
      c.send_displs[r] = static_cast<int>(slot.offset[r]);
    }
    const void* send = half ? static_cast<const void*>(slot.answers16.data()) : slot.answers.data();
    const MPI_Datatype type = half ? MPI_UINT16_T : MPI_FLOAT;
    check_mpi(MPI_Ialltoallv(send, c.send_counts.data(), c.send_displs.data(), type, nullptr, c.recv_counts.data(),
                             c.recv_displs.data(), type, comm_, &c.request),
              "all-to-all of pooled rows");
  }
  if (any_local_) {
    // The window writes happen before the counts arrive (and the dense rank's own sync).
    check_mpi(MPI_Win_sync(window_), "sync of the shared-memory window");
    auto& k = slot.counts;
    for (int r = 0; r < roles_.size; ++r) k.send_counts[r] = local_[r] ? static_cast<int>(slot.floats[r]) : 0;
    check_mpi(MPI_Ialltoall(k.send_counts.data(), 1, MPI_INT, k.recv_counts.data(), 1, MPI_INT, comm_, &k.request),
              "all-to-all of pooled row counts");
  }
}

}  // namespace dlrm::cluster
