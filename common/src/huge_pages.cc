#include "dlrm/common/huge_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/progress.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1; newer than Debian 12's C library headers
#endif

namespace dlrm {

uint8_t* map_huge_aligned(int fd, size_t length, int prot, const std::string& what) {
  const size_t span = length + kHugePageBytes;
  void* reserved = ::mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) {
    const int error = errno;
    ::close(fd);
    DLRM_FAIL("cannot reserve {} of address space for {}: {}", format_bytes(static_cast<double>(span)), what,
              std::strerror(error));
  }
  const auto start = reinterpret_cast<uintptr_t>(reserved);
  const uintptr_t aligned = round_up_to_huge_page(start);
  void* base = ::mmap(reinterpret_cast<void*>(aligned), length, prot, MAP_SHARED | MAP_FIXED, fd, 0);
  const int error = errno;
  ::close(fd);
  if (base == MAP_FAILED) {
    ::munmap(reserved, span);
    DLRM_FAIL("cannot map {} ({}): {}", what, format_bytes(static_cast<double>(length)), std::strerror(error));
  }
  // The slack around the mapping goes back.
  if (aligned > start) ::munmap(reserved, aligned - start);
  if (start + span > aligned + length) {
    ::munmap(reinterpret_cast<void*>(aligned + length), start + span - aligned - length);
  }
  return static_cast<uint8_t*>(base);
}

// Chunks of 64 MiB: on memory the host had not backed yet, a virtual machine
// took 10 s for 3.64 GB (0.3 s when the same memory came round again), so the
// progress bar moves.
std::string collapse_to_huge_pages(uint8_t* base, size_t length, const std::string& label, bool progress) {
  constexpr size_t kChunk = size_t{64} << 20;
  ::madvise(base, length, MADV_HUGEPAGE);
  Progress bar(label, length, "B", progress);
  for (size_t done = 0; done < length;) {
    const size_t n = std::min(kChunk, length - done);
    for (size_t at = done; at < done + n; at += kHugePageBytes) base[at] = 0;
    if (::madvise(base + done, n, MADV_COLLAPSE) != 0) return std::strerror(errno);
    done += n;
    bar.add(n);
  }
  bar.finish();
  return {};
}

uint64_t huge_mapped_bytes(const uint8_t* base, size_t length) {
  std::ifstream smaps("/proc/self/smaps");
  const auto begin = reinterpret_cast<uintptr_t>(base), end = begin + length;
  bool inside = false;
  uint64_t kib = 0;
  std::string line;
  while (std::getline(smaps, line)) {
    uintptr_t from = 0, to = 0;
    // A mapping's first line: "from-to perms offset dev inode path".
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " ", &from, &to) == 2) {
      inside = from >= begin && to <= end;
      continue;
    }
    unsigned long long value = 0;
    if (inside && (std::sscanf(line.c_str(), "ShmemPmdMapped: %llu kB", &value) == 1 ||
                   std::sscanf(line.c_str(), "FilePmdMapped: %llu kB", &value) == 1 ||
                   std::sscanf(line.c_str(), "AnonHugePages: %llu kB", &value) == 1)) {
      kib += value;
    }
  }
  return kib * 1024;
}

}  // namespace dlrm
