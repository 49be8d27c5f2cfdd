// Shared memory on 2 MiB pages. A stock kernel gives tmpfs (/dev/shm, memfd)
// huge pages at fault time only where the host has set
// /sys/kernel/mm/transparent_hugepage/shmem_enabled to "advise" or "always"
// (Debian's default is "never"); MADV_COLLAPSE (Linux 6.1) builds them
// whatever that setting. The kernel maps a huge page whole (one TLB entry)
// only where the mapping's address and the file offset agree modulo 2 MiB,
// and it does not align shared mappings itself unless huge pages are on, so
// the mappings here are 2 MiB-aligned. Used by the pool transport's rows
// (cluster/runtime/src/shared_rows.cc) and bench-embedding-bag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dlrm {

inline constexpr uint64_t kHugePageBytes = uint64_t{2} << 20;  // x86-64's PMD-mapped page

// `bytes` (or an address) rounded up to a multiple of kHugePageBytes.
inline constexpr uint64_t round_up_to_huge_page(uint64_t bytes) {
  return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
}

// Maps `length` bytes of `fd` (MAP_SHARED, `prot`) at an address that is a
// multiple of kHugePageBytes; throws naming `what` when it cannot. Closes
// `fd` either way: a mapping needs no descriptor.
uint8_t* map_huge_aligned(int fd, size_t length, int prot, const std::string& what);

// Puts [base, base + length) of a new, empty shared mapping from
// map_huge_aligned (length a multiple of kHugePageBytes) on huge pages: one
// byte per 2 MiB touched, then MADV_COLLAPSE, in chunks, with a progress bar
// labelled `label` when `progress`. Best effort: returns "" or why not (the
// rest then stays on 4 KiB pages).
std::string collapse_to_huge_pages(uint8_t* base, size_t length, const std::string& label, bool progress);

// Bytes of [base, base + length) that /proc/self/smaps shows on huge pages
// mapped whole (ShmemPmdMapped, FilePmdMapped, AnonHugePages), summed over
// the mappings that lie in that range; 0 when smaps cannot be read.
uint64_t huge_mapped_bytes(const uint8_t* base, size_t length);

}  // namespace dlrm
