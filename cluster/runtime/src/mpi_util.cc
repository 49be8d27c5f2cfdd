#include "dlrm/cluster/mpi_util.h"

#include <omp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/shm_room.h"

namespace dlrm::cluster {

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  DLRM_FAIL("MPI {} failed: {}", what, std::string(text, len));
}

std::vector<std::string> gather_strings(MPI_Comm comm, const std::string& local, int root) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int len = static_cast<int>(local.size());
  std::vector<int> lens(rank == root ? size : 0);
  check_mpi(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, root, comm), "gather");
  std::vector<int> displs(lens.size(), 0);
  int total = 0;
  for (size_t r = 0; r < lens.size(); ++r) {
    displs[r] = total;
    total += lens[r];
  }
  std::string all(total, '\0');
  check_mpi(MPI_Gatherv(local.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, root, comm),
            "gatherv");
  std::vector<std::string> out;
  for (size_t r = 0; r < lens.size(); ++r) out.push_back(all.substr(displs[r], lens[r]));
  return out;
}

void collective_check(MPI_Comm comm, const std::string& stage, const std::string& local_error,
                      const std::vector<std::string>& rank_labels) {
  int failed = local_error.empty() ? 0 : 1;
  int any = 0;
  check_mpi(MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, comm), "allreduce");
  if (any == 0) return;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  auto errors = gather_strings(comm, local_error, 0);
  if (rank == 0) {
    // One line per distinct message, naming every rank that reported it.
    std::vector<bool> done(errors.size(), false);
    for (size_t r = 0; r < errors.size(); ++r) {
      if (errors[r].empty() || done[r]) continue;
      std::vector<std::string> who;
      for (size_t q = r; q < errors.size(); ++q) {
        if (errors[q] != errors[r]) continue;
        done[q] = true;
        who.push_back(q < rank_labels.size() ? rank_labels[q] : fmt::format("rank {}", q));
      }
      if (who.size() > 3) who = {fmt::format("{} ranks", who.size())};
      spdlog::error("{} failed on {}: {}", stage, fmt::format("{}", fmt::join(who, ", ")), errors[r]);
    }
    spdlog::default_logger()->flush();
  }
  throw CollectiveFailure(fmt::format("{} failed on {} rank(s)", stage, any));
}

namespace {
// The calling thread's wait: spin briefly, then sleep between tests.
void test_until_done(MPI_Request* request, int max_sleep_us) {
  int done = 0;
  // Spin first: most waits inside a batch are short.
  for (int spin = 0; spin < 2000 && !done; ++spin) MPI_Test(request, &done, MPI_STATUS_IGNORE);
  auto sleep = std::chrono::microseconds(5);
  while (!done) {
    std::this_thread::sleep_for(sleep);
    if (sleep < std::chrono::microseconds(max_sleep_us)) sleep *= 2;
    MPI_Test(request, &done, MPI_STATUS_IGNORE);
  }
}
}  // namespace

void wait_idle(MPI_Request* request, int max_sleep_us) {
  int done = 0;
  MPI_Test(request, &done, MPI_STATUS_IGNORE);
  if (done) return;
  if (omp_in_parallel() || omp_get_max_threads() == 1) {
    test_until_done(request, max_sleep_us);
    return;
  }
  // A dense rank's OpenMP helpers would spin between parallel regions
  // (libgomp's default) for milliseconds, on the cores the shard ranks and
  // the front need to answer this very wait. So the wait runs inside a
  // region of its own: the main thread tests (MPI sees only it: FUNNELED),
  // the helpers block on a futex until it is done.
  std::atomic<int> finished{0};  // int: the futex is on it, not a proxy
#pragma omp parallel
  {
    if (omp_get_thread_num() == 0) {
      test_until_done(request, max_sleep_us);
      finished.store(1, std::memory_order_release);
      finished.notify_all();
    } else {
      finished.wait(0, std::memory_order_acquire);
    }
  }
}

bool default_mca_param(const char* name, const char* value) {
  const std::string var = std::string("OMPI_MCA_") + name;
  if (std::getenv(var.c_str()) != nullptr) return false;
  return setenv(var.c_str(), value, /*overwrite=*/0) == 0;
}

void default_mca_params() { default_mca_param("mpi_yield_when_idle", "1"); }

void check_shared_room(MPI_Comm node_comm, uint64_t bytes, uint64_t extra, const std::string& what,
                       const std::string& advice) {
  uint64_t need = 0;
  check_mpi(MPI_Allreduce(&bytes, &need, 1, MPI_UINT64_T, MPI_SUM, node_comm), "allreduce");
  need += extra;
  uint64_t room = 0;
  int node_rank = 0;
  MPI_Comm_rank(node_comm, &node_rank);
  // Unreadable: unknown room, left to the allocation.
  if (node_rank == 0) room = shm_backing_room().value_or(UINT64_MAX);
  check_mpi(MPI_Bcast(&room, 1, MPI_UINT64_T, 0, node_comm), "broadcast");
  DLRM_CHECK(need <= room, "{} of this host need {} in {} (Open MPI's osc_sm_backing_directory), which has {} free; {}",
             what, format_bytes(static_cast<double>(need)), shm_backing_directory(),
             format_bytes(static_cast<double>(room)), advice);
}

void* allocate_shared_window(MPI_Comm node_comm, MPI_Aint bytes, const std::string& what, const std::string& advice,
                             MPI_Win* window) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  // Each part on whole pages, and a page for Open MPI's header.
  check_shared_room(node_comm, (static_cast<uint64_t>(bytes) + page - 1) / page * page, page, what, advice);
  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "alloc_shared_noncontig", "true");  // each rank's part on its own pages (first touch: NUMA)
  void* mine_base = nullptr;
  const int code = MPI_Win_allocate_shared(bytes, 1, info, node_comm, &mine_base, window);
  MPI_Info_free(&info);
  check_mpi(code, ("allocation of " + what).c_str());
  return mine_base;
}

std::string processor_name() {
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  return std::string(name, len);
}

}  // namespace dlrm::cluster
