// fp32 <-> fp16 / bf16 bulk conversion against the one-at-a-time _ref twins,
// and against the formats' definitions on every 16-bit pattern.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "dlrm/common/half.h"

namespace dlrm {
namespace {

bool same_bits_or_both_nan(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, 4) == 0;
}

class HalfTest : public ::testing::TestWithParam<ElementType> {};

TEST_P(HalfTest, EveryPatternRoundTripsExactly) {
  // Every 16-bit value is a float exactly, and converting it back gives the same bits.
  std::vector<uint16_t> all(65536), back(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> wide(65536), wide_ref(65536);
  from_half(GetParam(), all.data(), wide.data(), 65536);
  from_half_ref(GetParam(), all.data(), wide_ref.data(), 65536);
  to_half(GetParam(), wide.data(), back.data(), 65536);
  for (int i = 0; i < 65536; ++i) {
    ASSERT_TRUE(same_bits_or_both_nan(wide[i], wide_ref[i])) << "pattern " << i;
    if (!std::isnan(wide[i])) {
      ASSERT_EQ(back[i], all[i]) << "pattern " << i;
    }
  }
}

TEST_P(HalfTest, FastMatchesRefAndRoundsToNearest) {
  const uint64_t seed = 77;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-70000.f, 70000.f);
  std::vector<float> src(10007);
  for (size_t i = 0; i < src.size(); ++i) src[i] = i % 3 == 0 ? uniform(rng) * 1e-6f : uniform(rng);
  src[0] = 0.f, src[1] = -0.f, src[2] = 1e-8f, src[3] = 65519.f, src[4] = 65520.f, src[5] = std::nanf("");
  // fp32 denormals (kept by bf16 rounding, flushed by some conversion
  // instructions), in vectors of their own and among normal values.
  for (size_t i : {6, 40, 41, 77, 100, 130, 9000}) src[i] = (i % 2 ? -1.f : 1.f) * static_cast<float>(i) * 1.3e-41f;
  for (size_t i = 200; i < 232; ++i) src[i] = static_cast<float>(i) * 7.1e-42f;
  std::vector<uint16_t> fast(src.size()), ref(src.size());
  to_half(GetParam(), src.data(), fast.data(), static_cast<int64_t>(src.size()));
  to_half_ref(GetParam(), src.data(), ref.data(), static_cast<int64_t>(src.size()));
  std::vector<float> back(src.size());
  from_half(GetParam(), fast.data(), back.data(), static_cast<int64_t>(src.size()));
  // Round to nearest: the error is at most half a unit in the last place,
  // 2^-11 |x| for fp16 (2^-25 absolute in the subnormal range) and 2^-8 |x| for bf16
  // (2^-134 absolute in its subnormal range, where values are 2^-133 apart).
  const bool bf16 = GetParam() == ElementType::kBf16;
  for (size_t i = 0; i < src.size(); ++i) {
    ASSERT_EQ(fast[i], ref[i]) << "value " << src[i];
    if (std::isnan(src[i]) || (!bf16 && std::fabs(src[i]) >= 65520.f)) continue;
    const double bound = bf16 ? std::max(std::ldexp(double(std::fabs(src[i])), -8), 0x1p-134)
                              : std::max(std::ldexp(double(std::fabs(src[i])), -11), 0x1p-25);
    ASSERT_LE(std::fabs(double(back[i]) - src[i]), bound) << "value " << src[i];
  }
  EXPECT_TRUE(std::isnan(back[5]));
  if (!bf16) {
    EXPECT_TRUE(std::isinf(back[4]));
  }
}

TEST_P(HalfTest, NanPayloadEncodesTheSameAtEveryPosition) {
  // Longer than a few 16-float vectors, with a tail: a NaN with a payload in a
  // vector and in the scalar tail must encode alike (quiet, top payload bits
  // kept), in the fast conversion and in _ref.
  const bool bf16 = GetParam() == ElementType::kBf16;
  constexpr int kLength = 3 * 16 + 5;
  for (uint32_t nan_bits : {0x7fc12000u, 0xffc12000u, 0x7f812000u, 0x7fbfe000u, 0x7fc00001u}) {
    float nan;
    std::memcpy(&nan, &nan_bits, 4);
    ASSERT_TRUE(std::isnan(nan));
    // fp16 as vcvtps2ph: sign | 0x7c00 | 0x200 (quiet) | the top 10 mantissa bits.
    const uint16_t want = bf16 ? static_cast<uint16_t>((nan_bits >> 16) | 0x40)
                               : static_cast<uint16_t>(((nan_bits >> 16) & 0x8000u) | 0x7c00u | 0x200u |
                                                       ((nan_bits & 0x7fffffu) >> 13));
    for (int pos = 0; pos < kLength; ++pos) {
      std::vector<float> src(kLength, 1.5f);
      src[pos] = nan;
      std::vector<uint16_t> fast(kLength), ref(kLength);
      to_half(GetParam(), src.data(), fast.data(), kLength);
      to_half_ref(GetParam(), src.data(), ref.data(), kLength);
      for (int i = 0; i < kLength; ++i) {
        ASSERT_EQ(fast[i], ref[i]) << "NaN " << std::hex << nan_bits << " at " << std::dec << pos;
      }
      ASSERT_EQ(fast[pos], want) << "NaN " << std::hex << nan_bits << " at " << std::dec << pos;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, HalfTest, ::testing::Values(ElementType::kFp16, ElementType::kBf16),
                         [](const auto& info) { return info.param == ElementType::kFp16 ? "fp16" : "bf16"; });

}  // namespace
}  // namespace dlrm
