// CacheAlignedVector: its elements start on a 64-byte line whatever the size
// (glibc's malloc puts large blocks 16 bytes past a page), through growth too.
#include <gtest/gtest.h>

#include <cstdint>

#include "dlrm/common/cache_aligned.h"

namespace dlrm {
namespace {

bool on_a_line(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % kCacheLineBytes == 0; }

TEST(CacheAligned, StartsOnACacheLineAtEverySize) {
  // 1 float up to an embedding block of 256 x 26 x 128 floats (3.4 MB, past
  // malloc's mmap threshold), and odd sizes between.
  for (size_t n : {size_t{1}, size_t{3}, size_t{17}, size_t{1000}, size_t{33333}, size_t{256} * 26 * 128}) {
    CacheAlignedVector<float> v(n, 1.0f);
    EXPECT_TRUE(on_a_line(v.data())) << n << " floats at " << v.data();
    v.resize(n * 2 + 5);
    EXPECT_TRUE(on_a_line(v.data())) << "grown to " << v.size();
    EXPECT_EQ(v[n - 1], 1.0f);
  }
}

}  // namespace
}  // namespace dlrm
