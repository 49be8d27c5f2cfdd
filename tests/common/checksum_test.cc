#include "dlrm/common/checksum.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "dlrm/common/error.h"

namespace dlrm {
namespace {

TEST(CommonChecksum, StreamingEqualsOneShot) {
  std::vector<uint8_t> bytes(100000);
  std::iota(bytes.begin(), bytes.end(), 0);
  Checksum sum;
  for (size_t at = 0; at < bytes.size(); at += 777) sum.update(bytes.data() + at, std::min<size_t>(777, bytes.size() - at));
  EXPECT_EQ(sum.digest(), checksum(bytes.data(), bytes.size()));
  bytes[5000] ^= 1;
  EXPECT_NE(sum.digest(), checksum(bytes.data(), bytes.size()));
}

TEST(CommonChecksum, HexIsSixteenLowercaseDigits) {
  EXPECT_EQ(checksum_hex(0xABCDEFull), "0000000000abcdef");
  EXPECT_EQ(checksum_hex(~0ull), "ffffffffffffffff");
}

TEST(CommonChecksum, MovedChecksumKeepsState) {
  Checksum a;
  a.update("abc", 3);
  Checksum b = std::move(a);
  b.update("def", 3);
  EXPECT_EQ(b.digest(), checksum("abcdef", 6));
}

TEST(CommonError, CheckCarriesMessageAndSourceLine) {
  try {
    DLRM_CHECK(1 + 1 == 3, "table {} has no rows in {}", 7, "x.npy");
    FAIL() << "DLRM_CHECK did not throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "table 7 has no rows in x.npy");
    EXPECT_NE(std::string(e.src_file()).find("checksum_test.cc"), std::string::npos);
    EXPECT_GT(e.src_line(), 0);
  }
  EXPECT_NO_THROW(DLRM_CHECK(true, "never"));
}

}  // namespace
}  // namespace dlrm
