// Shared memory on 2 MiB pages (common/huge_pages.h): the mapping is
// 2 MiB-aligned, smaps accounting sees 4 KiB pages as 0 huge bytes, and a
// collapse puts every byte on huge pages where the kernel collapses shared
// memory (probed independently here), keeping what was written.
#include "dlrm/common/huge_pages.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "huge_page_probe.h"

namespace dlrm {
namespace {

constexpr size_t kLength = 4 * kHugePageBytes;

// A memfd of `bytes`, or -1.
int shared_file(size_t bytes) {
  const int fd = memfd_create("huge-pages-test", MFD_CLOEXEC);
  if (fd >= 0 && ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(HugePages, MappingIsAlignedAndStartsOnSmallPages) {
  const int fd = shared_file(kLength);
  ASSERT_GE(fd, 0);
  uint8_t* p = map_huge_aligned(fd, kLength, PROT_READ | PROT_WRITE, "the test's memfd");
  EXPECT_EQ(fcntl(fd, F_GETFD), -1) << "map_huge_aligned leaves its descriptor open";
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePageBytes, 0u);
  madvise(p, kLength, MADV_NOHUGEPAGE);
  std::memset(p, 7, kLength);
  EXPECT_EQ(huge_mapped_bytes(p, kLength), 0u);
  munmap(p, kLength);
}

TEST(HugePages, CollapseGivesHugePagesWhereTheKernelCan) {
  const int fd = shared_file(kLength);
  ASSERT_GE(fd, 0);
  uint8_t* p = map_huge_aligned(fd, kLength, PROT_READ | PROT_WRITE, "the test's memfd");
  const std::string why_not = collapse_to_huge_pages(p, kLength, "", false);
  const bool kernel_collapses = test::kernel_collapses_shared_memory();
  if (!kernel_collapses) {
    EXPECT_FALSE(why_not.empty());
    GTEST_SKIP() << "this kernel does not collapse shared memory: " << why_not;
  }
  EXPECT_EQ(why_not, "");
  // Written after the collapse: the rows' load goes into the huge pages.
  for (size_t i = 0; i < kLength; i += 4096) p[i] = static_cast<uint8_t>(i / 4096);
  EXPECT_EQ(huge_mapped_bytes(p, kLength), kLength);
  for (size_t i = 0; i < kLength; i += 4096) ASSERT_EQ(p[i], static_cast<uint8_t>(i / 4096)) << "at " << i;
  // A range that holds no whole mapping counts nothing.
  EXPECT_EQ(huge_mapped_bytes(p, kHugePageBytes), 0u);
  munmap(p, kLength);
}

}  // namespace
}  // namespace dlrm
