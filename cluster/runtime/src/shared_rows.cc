#include "dlrm/cluster/shared_rows.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/common/error.h"
#include "dlrm/model/shard_file.h"

namespace dlrm::cluster {

namespace {

// [base, base + bytes) widened to whole pages.
std::pair<void*, size_t> page_range(const void* base, uint64_t bytes) {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(base) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(base) + bytes;
  return {reinterpret_cast<void*>(begin), end > begin ? end - begin : 0};
}

// Asks for transparent huge pages on the rows (fewer TLB misses on random
// gathers, as the shard ranks' own rows have). Shared memory gets them only
// where the host allows it (/sys/kernel/mm/transparent_hugepage/shmem_enabled
// "advise" or "always"; Debian's default is "never"), so a refusal is fine.
void advise_huge_pages(const void* base, uint64_t bytes) {
  const auto [begin, length] = page_range(base, bytes);
  if (length > 0) ::madvise(begin, length, MADV_HUGEPAGE);
}

// Builds this process's page-table entries for [base, base + bytes) now:
// otherwise every first read of a 4 KiB page of the rows, while pooling,
// takes a page fault (under a hypervisor, an exit to the host), and pooling
// ran ~2.5x slower than the shard rank's own (docs/exchange.md). The pages
// are the shard rank's (shared), so this may run while it loads them.
void map_in(const void* base, uint64_t bytes) {
  const auto [begin, length] = page_range(base, bytes);
  if (length == 0 || ::madvise(begin, length, MADV_POPULATE_READ) == 0) return;
  // Kernels before 5.14: a read of every page.
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto* p = static_cast<const volatile uint8_t*>(base);
  uint8_t sink = 0;
  for (uint64_t at = 0; at < bytes; at += page) sink ^= p[at];
  static_cast<void>(sink);
}

}  // namespace

SharedRows::SharedRows(MPI_Comm comm, const Roles& roles, const model::Manifest& manifest,
                       const std::filesystem::path& model_dir) {
  check_mpi(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, roles.rank, MPI_INFO_NULL, &node_comm_),
            "split by host");
  int node_size = 0;
  MPI_Comm_size(node_comm_, &node_size);
  // Every rank learns the same answer, so that all of them throw together.
  int smallest = 0;
  check_mpi(MPI_Allreduce(&node_size, &smallest, 1, MPI_INT, MPI_MIN, comm), "allreduce");
  if (smallest != roles.size) {
    MPI_Comm_free(&node_comm_);
    DLRM_FAIL("--exchange-transport pool needs every rank on one host, where the dense ranks can read the shard "
              "ranks' rows; these {} ranks span several hosts (the smallest holds {}): use auto or alltoall",
              roles.size, smallest);
  }
  // Shard ranks: the size of their rows, from the file's header (checked
  // against the manifest at load). A rank that cannot read it must not leave
  // the others in the collective allocation below: all of them throw.
  const bool shard = roles.my_role() == Role::kShard;
  std::string error;
  if (shard) {
    try {
      my_bytes_ = model::ShardFile::open(model_dir / manifest.shards[roles.my_index()].file).data_bytes();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  int failed = error.empty() ? 0 : 1, any = 0;
  check_mpi(MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm), "allreduce");
  if (any != 0) {
    MPI_Comm_free(&node_comm_);
    DLRM_CHECK(error.empty(), "{}", error);
    DLRM_FAIL("a shard rank could not read its shard file (its own message says why)");
  }
  mine_ = allocate_shared_window(node_comm_, static_cast<MPI_Aint>(std::max<uint64_t>(my_bytes_, shard ? 1 : 0)),
                                 "the shard ranks' rows (--exchange-transport pool)",
                                 "make room there, or pass --exchange-transport auto", &window_);
  advise_huge_pages(mine_, my_bytes_);
  if (shard) return;
  for (int s = 0; s < roles.shards(); ++s) {
    MPI_Aint size = 0;
    int unit = 0;
    void* base = nullptr;
    // In one communicator over one host, comm's ranks are node_comm_'s (split keyed by rank).
    check_mpi(MPI_Win_shared_query(window_, roles.shard_rank[s], &size, &unit, &base),
              "query of the shared-memory rows");
    advise_huge_pages(base, static_cast<uint64_t>(size));
    map_in(base, static_cast<uint64_t>(size));
    const model::ShardFile file = model::ShardFile::open(model_dir / manifest.shards[s].file);
    std::vector<model::RowsView> views;
    for (size_t k = 0; k < file.slices().size(); ++k) {
      views.push_back(file.slice_view(static_cast<int>(k), static_cast<const uint8_t*>(base)));
    }
    servers_.emplace_back(std::move(views));
  }
}

SharedRows::~SharedRows() {
  // Not finished: an error unwound the run and the job is being aborted, so
  // the collective free is left undone rather than risk a hang.
}

std::function<void*(uint64_t)> SharedRows::allocator() {
  return [this](uint64_t bytes) -> void* {
    DLRM_CHECK(bytes <= std::max<uint64_t>(my_bytes_, 1), "the shard file's rows ({} bytes) outgrew the {} bytes set "
               "aside for them; was the model re-created during the run?", bytes, my_bytes_);
    return mine_;
  };
}

void SharedRows::finish() {
  if (window_ != MPI_WIN_NULL) check_mpi(MPI_Win_free(&window_), "free of the shared-memory rows");
  if (node_comm_ != MPI_COMM_NULL) MPI_Comm_free(&node_comm_);
}

}  // namespace dlrm::cluster
