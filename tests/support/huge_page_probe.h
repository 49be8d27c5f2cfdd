// Whether this kernel builds huge pages of shared memory on request
// (MADV_COLLAPSE, Linux 6.1; refused where the host set shmem_enabled to
// "deny"), probed with plain system calls on 2 MiB of a memfd of its own, not
// through the code under test: where it does, that code's shared memory must
// be on huge pages entirely.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace dlrm::test {

inline bool kernel_collapses_shared_memory() {
  constexpr size_t kHuge = size_t{2} << 20;
  constexpr int kMadvCollapse = 25;  // MADV_COLLAPSE, newer than Debian 12's C library headers
  const int fd = memfd_create("collapse-probe", MFD_CLOEXEC);
  if (fd < 0) return false;
  bool ok = false;
  void* reserved = ftruncate(fd, kHuge) == 0
                       ? mmap(nullptr, 2 * kHuge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                       : MAP_FAILED;
  if (reserved != MAP_FAILED) {
    auto* at = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(reserved) + kHuge - 1) / kHuge * kHuge);
    void* p = mmap(at, kHuge, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (p != MAP_FAILED) {
      static_cast<char*>(p)[0] = 1;
      ok = madvise(p, kHuge, kMadvCollapse) == 0;
    }
    munmap(reserved, 2 * kHuge);
  }
  close(fd);
  return ok;
}

}  // namespace dlrm::test
