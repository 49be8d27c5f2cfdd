#include "dlrm/cluster/exchange.h"

#include <mpi.h>

#include <algorithm>
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

void Exchange::Collective::wait() {
  if (request != MPI_REQUEST_NULL) wait_idle(&request);
}

PooledType parse_pooled_type(const std::string& name) {
  if (name == "fp32") return PooledType::kFp32;
  if (name == "fp16") return PooledType::kFp16;
  if (name == "bf16") return PooledType::kBf16;
  DLRM_FAIL("unknown exchange type '{}'; choose fp32, fp16 or bf16", name);
}

const char* to_string(PooledType type) {
  return type == PooledType::kFp32 ? "fp32" : type == PooledType::kFp16 ? "fp16" : "bf16";
}

int element_bytes(PooledType type) { return type == PooledType::kFp32 ? 4 : 2; }

namespace {
HalfType half_type(PooledType type) { return type == PooledType::kFp16 ? HalfType::kFp16 : HalfType::kBf16; }
}  // namespace

Exchange::Exchange(MPI_Comm comm, const Roles& roles, PooledType pooled_type)
    : comm_(comm), roles_(roles), pooled_type_(pooled_type), responses_(roles.shards()) {
  for (auto& slot : slots_) {
    slot.sizes.resize(roles.size);
    slot.indices.resize(roles.size);
    slot.pooled.resize(roles.size);
    slot.floats.assign(roles.size, 0);
  }
}

Exchange::~Exchange() {
  // Requests still pending here mean an error unwound the run: the job is
  // being aborted, so leave them rather than block.
}

void Exchange::finish() {
  for (auto& slot : slots_) {
    slot.sizes.wait();
    slot.indices.wait();
    slot.pooled.wait();
  }
}

void Exchange::post_requests(int s, const RequestBuilder& builder) {
  Slot& slot = slots_[s];
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
  auto& c = slot.pooled;
  std::fill(c.send_counts.begin(), c.send_counts.end(), 0);
  int64_t floats = 0;
  for (int r = 0; r < roles_.size; ++r) {
    int64_t n = roles_.role[r] == Role::kShard ? builder.response_floats(roles_.index[r]) : 0;
    DLRM_CHECK(n <= INT32_MAX, "batch too large: {} floats from one shard; use a smaller --batch", n);
    c.recv_counts[r] = static_cast<int>(n);
    floats += n;
  }
  c.displace();
  slot.received.resize(std::max<int64_t>(floats, 1));
  pooled_bytes_ += static_cast<uint64_t>(element_bytes(pooled_type_)) * floats;
  void* recv = slot.received.data();
  MPI_Datatype type = MPI_FLOAT;
  if (pooled_type_ != PooledType::kFp32) {
    slot.received16.resize(std::max<int64_t>(floats, 1));
    recv = slot.received16.data();
    type = MPI_UINT16_T;
  }
  check_mpi(MPI_Ialltoallv(nullptr, c.send_counts.data(), c.send_displs.data(), type, recv, c.recv_counts.data(),
                           c.recv_displs.data(), type, comm_, &c.request),
            "all-to-all of pooled rows");
}

const std::vector<const float*>& Exchange::wait_pooled(int s) {
  Slot& slot = slots_[s];
  slot.pooled.wait();
  slot.sizes.wait();
  slot.indices.wait();
  if (pooled_type_ != PooledType::kFp32) {
    const auto& counts = slot.pooled.recv_counts;
    const int64_t floats = std::accumulate(counts.begin(), counts.end(), int64_t{0});
    from_half(half_type(pooled_type_), slot.received16.data(), slot.received.data(), floats);
  }
  for (int r = 0; r < roles_.size; ++r) {
    if (roles_.role[r] == Role::kShard) {
      responses_[roles_.index[r]] = slot.received.data() + slot.pooled.recv_displs[r];
    }
  }
  return responses_;
}

void Exchange::receive_requests(int s) {
  Slot& slot = slots_[s];
  slot.sizes.wait();
  slot.indices.wait();
  std::fill(slot.sizes.send_counts.begin(), slot.sizes.send_counts.end(), 0);
  check_mpi(MPI_Ialltoall(slot.sizes.send_counts.data(), 1, MPI_INT, slot.sizes.recv_counts.data(), 1, MPI_INT,
                          comm_, &slot.sizes.request),
            "all-to-all of sizes");
  slot.sizes.wait();
  auto& c = slot.indices;
  std::fill(c.send_counts.begin(), c.send_counts.end(), 0);
  c.recv_counts = slot.sizes.recv_counts;
  c.displace();
  int64_t ints = std::accumulate(c.recv_counts.begin(), c.recv_counts.end(), int64_t{0});
  slot.recv_ints.resize(std::max<int64_t>(ints, 1));
  check_mpi(MPI_Ialltoallv(nullptr, c.send_counts.data(), c.send_displs.data(), MPI_INT32_T, slot.recv_ints.data(),
                           c.recv_counts.data(), c.recv_displs.data(), MPI_INT32_T, comm_, &c.request),
            "all-to-all of indices");
}

int64_t Exchange::serve(int s, ShardServer& server) {
  Slot& slot = slots_[s];
  slot.indices.wait();
  slot.pooled.wait();  // the answers buffer of this slot's previous batch
  const double t0 = MPI_Wtime();
  const auto& counts = slot.indices.recv_counts;
  const auto& displs = slot.indices.recv_displs;
  int64_t total = 0;
  for (int r = 0; r < roles_.size; ++r) {
    slot.floats[r] = counts[r] ? server.response_floats(slot.recv_ints.data() + displs[r], counts[r]) : 0;
    DLRM_CHECK(slot.floats[r] <= INT32_MAX, "batch too large: {} floats for one dense rank; use a smaller --batch",
               slot.floats[r]);
    total += slot.floats[r];
  }
  slot.answers.resize(std::max<int64_t>(total, 1));
  int64_t offset = 0, bad = 0;
  for (int r = 0; r < roles_.size; ++r) {
    if (counts[r] == 0) continue;
    bad += server.serve(slot.recv_ints.data() + displs[r], counts[r], slot.answers.data() + offset);
    offset += slot.floats[r];
  }
  pool_seconds_ += MPI_Wtime() - t0;
  return bad;
}

void Exchange::post_answers(int s) {
  Slot& slot = slots_[s];
  auto& c = slot.pooled;
  for (int r = 0; r < roles_.size; ++r) c.send_counts[r] = static_cast<int>(slot.floats[r]);
  std::fill(c.recv_counts.begin(), c.recv_counts.end(), 0);
  c.displace();
  const void* send = slot.answers.data();
  MPI_Datatype type = MPI_FLOAT;
  if (pooled_type_ != PooledType::kFp32) {
    const int64_t floats = std::accumulate(slot.floats.begin(), slot.floats.end(), int64_t{0});
    slot.answers16.resize(std::max<int64_t>(floats, 1));
    to_half(half_type(pooled_type_), slot.answers.data(), slot.answers16.data(), floats);
    send = slot.answers16.data();
    type = MPI_UINT16_T;
  }
  check_mpi(MPI_Ialltoallv(send, c.send_counts.data(), c.send_displs.data(), type, nullptr, c.recv_counts.data(),
                           c.recv_displs.data(), type, comm_, &c.request),
            "all-to-all of pooled rows");
}

}  // namespace dlrm::cluster
