#include "dlrm/cluster/shared_rows.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <utility>

#include "dlrm/cluster/mpi_util.h"
#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/huge_pages.h"
#include "dlrm/common/shm_room.h"
#include "dlrm/model/shard_file.h"

namespace dlrm::cluster {

namespace {

// Builds this process's page-table entries for a dense rank's mapping of
// the rows now: otherwise every first read of a page of the rows, while
// pooling, takes a page fault (under a hypervisor, an exit to the host), and
// pooling ran ~2.5x slower than the shard rank's own (docs/exchange.md).
void map_in(const SharedRows::Mapping& rows) {
  if (::madvise(rows.base, rows.length, MADV_POPULATE_READ) == 0) return;
  // Kernels before 5.14: a read of every page.
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto* p = static_cast<const volatile uint8_t*>(rows.base);
  uint8_t sink = 0;
  for (uint64_t at = 0; at < rows.length; at += page) sink ^= p[at];
  static_cast<void>(sink);
}

// Every rank learns whether any failed; the failed one throws its own
// message, the others `others`.
void throw_together(MPI_Comm comm, const std::string& error, const std::string& others) {
  int failed = error.empty() ? 0 : 1, any = 0;
  check_mpi(MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm), "allreduce");
  if (any == 0) return;
  DLRM_CHECK(error.empty(), "{}", error);
  DLRM_FAIL("{}", others);
}

// A new file of `length` bytes at `path` (which must not exist), mapped
// read-write; unlinked again when that fails (or when the mapping goes,
// until its path is cleared).
SharedRows::Mapping create_rows_file(const std::string& path, size_t length, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  DLRM_CHECK(fd >= 0, "cannot create {} for {}: {}; make room there, or pass --exchange-transport auto", path, what,
             std::strerror(errno));
  SharedRows::Mapping mapping;
  mapping.path = path;
  if (::ftruncate(fd, static_cast<off_t>(length)) != 0) {
    const int error = errno;
    ::close(fd);
    DLRM_FAIL("cannot size {} to {}: {}", path, format_bytes(static_cast<double>(length)), std::strerror(error));
  }
  mapping.base = map_huge_aligned(fd, length, PROT_READ | PROT_WRITE, path);
  mapping.length = length;
  return mapping;
}

// Shard s's rows file at `path`, mapped read-only.
SharedRows::Mapping open_rows_file(const std::string& path, int s) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  DLRM_CHECK(fd >= 0, "cannot open shard {}'s rows {}: {}", s, path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    DLRM_FAIL("cannot read the size of shard {}'s rows {}", s, path);
  }
  SharedRows::Mapping mapping;
  mapping.base = map_huge_aligned(fd, static_cast<size_t>(st.st_size), PROT_READ, path);
  mapping.length = static_cast<size_t>(st.st_size);
  ::madvise(mapping.base, mapping.length, MADV_HUGEPAGE);
  return mapping;
}

// The shard rank's new rows onto huge pages (collapse_to_huge_pages), and a
// line in its log saying how much it got.
void put_on_huge_pages(const SharedRows::Mapping& rows, int shard) {
  const double t0 = MPI_Wtime();
  const std::string why_not = collapse_to_huge_pages(rows.base, rows.length,
                                                     fmt::format("shard {}: 2 MiB pages for the rows", shard),
                                                     rows.length > (uint64_t{1} << 30));
  const uint64_t huge = huge_mapped_bytes(rows.base, rows.length);
  if (huge >= rows.length) {
    spdlog::info("shard {}: {} of shared memory for the rows, on 2 MiB pages ({:.2f} s)", shard,
                 format_bytes(static_cast<double>(rows.length)), MPI_Wtime() - t0);
  } else {
    spdlog::info("shard {}: {} of shared memory for the rows, {} of it on 2 MiB pages{}; the rest on 4 KiB pages, "
                 "where pooling on the dense ranks misses the TLB more (docs/exchange.md)",
                 shard, format_bytes(static_cast<double>(rows.length)), format_bytes(static_cast<double>(huge)),
                 why_not.empty() ? "" : " (MADV_COLLAPSE: " + why_not + ")");
  }
}

}  // namespace

SharedRows::Mapping::Mapping(Mapping&& other) noexcept
    : base(std::exchange(other.base, nullptr)),
      length(std::exchange(other.length, 0)),
      path(std::exchange(other.path, {})) {}

SharedRows::Mapping& SharedRows::Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    release();
    base = std::exchange(other.base, nullptr);
    length = std::exchange(other.length, 0);
    path = std::exchange(other.path, {});
  }
  return *this;
}

SharedRows::Mapping::~Mapping() { release(); }

void SharedRows::Mapping::unlink_file() {
  if (!path.empty()) ::unlink(path.c_str());
  path.clear();
}

void SharedRows::Mapping::release() {
  if (base != nullptr) ::munmap(base, length);
  base = nullptr;
  length = 0;
  unlink_file();
}

SharedRows::SharedRows(MPI_Comm comm, const Roles& roles, const model::Manifest& manifest,
                       const std::filesystem::path& model_dir) {
  MPI_Comm node_comm = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, roles.rank, MPI_INFO_NULL, &node_comm), "split by host");
  int node_size = 0;
  MPI_Comm_size(node_comm, &node_size);
  // Every rank learns the same answer, so that all of them throw together.
  int smallest = 0;
  check_mpi(MPI_Allreduce(&node_size, &smallest, 1, MPI_INT, MPI_MIN, comm), "allreduce");
  if (smallest != roles.size) {
    MPI_Comm_free(&node_comm);
    DLRM_FAIL("--exchange-transport pool needs every rank on one host, where the dense ranks can read the shard "
              "ranks' rows; these {} ranks span several hosts (the smallest holds {}): use auto or alltoall",
              roles.size, smallest);
  }
  // Shard ranks: the size of their rows, from the file's header (checked
  // against the manifest at load). A rank that cannot read it must not leave
  // the others in a collective below: all of them throw.
  const bool shard = roles.my_role() == Role::kShard;
  std::string error;
  if (shard) {
    error = capture([&] {
      my_bytes_ = model::ShardFile::open(model_dir / manifest.shards[roles.my_index()].file).data_bytes();
    });
  }
  const std::string what = "the shard ranks' rows (--exchange-transport pool)";
  // The file, on whole huge pages (0 on dense ranks and a failed shard rank).
  const uint64_t length = shard && error.empty() ? round_up_to_huge_page(std::max<uint64_t>(my_bytes_, 1)) : 0;
  // Collective on the host: every rank takes part.
  const std::string room_error = capture([&] {
    check_shared_room(node_comm, length, 0, what, "make room there, or pass --exchange-transport auto");
  });
  if (error.empty()) error = room_error;
  MPI_Comm_free(&node_comm);
  throw_together(comm, error, "a shard rank could not read its shard file (its own message says why)");

  // Shard ranks: a file of their own in the backing directory.
  if (shard) {
    error = capture([&] {
      const std::string path = (std::filesystem::path(shm_backing_directory()) /
                                fmt::format("dlrm-rows-{}-shard{}", ::getpid(), roles.my_index()))
                                   .string();
      mine_ = create_rows_file(path, length, what);
    });
  }
  // Every shard's file name, in world rank order.
  constexpr int kPathMax = 512;
  std::vector<char> paths(static_cast<size_t>(roles.size) * kPathMax, '\0');
  if (error.empty() && shard) {
    if (mine_.path.size() < kPathMax) {
      std::copy(mine_.path.begin(), mine_.path.end(), paths.begin() + static_cast<ptrdiff_t>(roles.rank) * kPathMax);
    } else {
      error = fmt::format("the shared-memory file name {} is longer than {} characters; set "
                          "OMPI_MCA_osc_sm_backing_directory to a shorter directory", mine_.path, kPathMax - 1);
    }
  }
  check_mpi(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, paths.data(), kPathMax, MPI_CHAR, comm), "allgather");
  throw_together(comm, error, "a shard rank could not set aside shared memory for its rows (its own message says why)");

  // Dense ranks: map every shard's file.
  if (!shard) {
    error = capture([&] {
      for (int s = 0; s < roles.shards(); ++s) {
        const std::string path(paths.data() + static_cast<ptrdiff_t>(roles.shard_rank[s]) * kPathMax);
        Mapping mapping = open_rows_file(path, s);
        const model::ShardFile file = model::ShardFile::open(model_dir / manifest.shards[s].file);
        std::vector<model::RowsView> views;
        for (size_t k = 0; k < file.slices().size(); ++k) {
          views.push_back(file.slice_view(static_cast<int>(k), mapping.base));
        }
        servers_.emplace_back(std::move(views));
        shards_.push_back(std::move(mapping));
      }
    });
  }
  throw_together(comm, error, "a dense rank could not map the shard ranks' rows (its own message says why)");
  // Every rank has mapped what it needs (or threw, and mine_ unlinked it):
  // the file's name goes at once, so that nothing is left behind however the
  // run ends; the memory stays until the last mapping goes.
  mine_.unlink_file();
  if (shard) put_on_huge_pages(mine_, roles.my_index());
  // The dense ranks build their page-table entries once the huge pages are
  // there (before, a read would allocate 4 KiB pages).
  check_mpi(MPI_Barrier(comm), "barrier");
  for (const Mapping& m : shards_) map_in(m);
}

SharedRows::~SharedRows() = default;

std::function<void*(uint64_t)> SharedRows::allocator() {
  return [this](uint64_t bytes) -> void* {
    DLRM_CHECK(bytes <= std::max<uint64_t>(my_bytes_, 1), "the shard file's rows ({} bytes) outgrew the {} bytes set "
               "aside for them; was the model re-created during the run?", bytes, my_bytes_);
    return mine_.base;
  };
}

uint64_t SharedRows::mapped_bytes() const {
  uint64_t bytes = mine_.length;
  for (const Mapping& m : shards_) bytes += m.length;
  return bytes;
}

uint64_t SharedRows::huge_page_bytes() const {
  uint64_t bytes = mine_.base != nullptr ? huge_mapped_bytes(mine_.base, mine_.length) : 0;
  for (const Mapping& m : shards_) bytes += huge_mapped_bytes(m.base, m.length);
  return bytes;
}

void SharedRows::finish() {
  servers_.clear();
  shards_.clear();
  mine_.release();
}

}  // namespace dlrm::cluster
