// Numbers for people (format.h): byte sizes parsed, sizes and counts printed.
#include "dlrm/common/format.h"

#include <gtest/gtest.h>

#include "dlrm/common/error.h"
#include "test_files.h"

namespace dlrm {
namespace {

TEST(Format, ParseByteSize) {
  EXPECT_EQ(parse_byte_size("4096", "x"), 4096u);
  EXPECT_EQ(parse_byte_size("64K", "x"), 64u << 10);
  EXPECT_EQ(parse_byte_size("64KiB", "x"), 64u << 10);
  EXPECT_EQ(parse_byte_size("1.5G", "x"), 3ull << 29);
  EXPECT_EQ(parse_byte_size("2T", "x"), 2ull << 40);
  EXPECT_EQ(parse_byte_size("64GB", "x"), 64000000000ull);
  EXPECT_EQ(parse_byte_size("64g", "x"), 64ull << 30);
  for (const char* bad : {"", "G", "1.2.3G", "12Q", "-5G", "1GBB"}) {
    SCOPED_TRACE(bad);
    EXPECT_ERROR_WITH(parse_byte_size(bad, "mem"), "mem", "not a size");
  }
}

TEST(Format, BytesInDecimalUnits) {
  EXPECT_EQ(format_bytes(999), "999 B");
  EXPECT_EQ(format_bytes(1000), "1.00 KB");
  EXPECT_EQ(format_bytes(4e9), "4.00 GB");
  EXPECT_EQ(format_bytes(1.5e6), "1.50 MB");
  EXPECT_EQ(format_bytes(12.78e15), "12780.00 TB");
}

TEST(Format, BytesInBinaryUnits) {
  EXPECT_EQ(format_binary_bytes(100), "100 B");
  EXPECT_EQ(format_binary_bytes(1023), "1023 B");
  EXPECT_EQ(format_binary_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_binary_bytes(3ull << 29), "1.5 GiB");
  EXPECT_EQ(format_binary_bytes(192ull << 30), "192.0 GiB");
  EXPECT_EQ(format_binary_bytes(2048ull << 40), "2048.0 TiB");
}

TEST(Format, GroupedDigitsAndPlurals) {
  EXPECT_EQ(group_digits(0), "0");
  EXPECT_EQ(group_digits(999), "999");
  EXPECT_EQ(group_digits(1000), "1,000");
  EXPECT_EQ(group_digits(187767399), "187,767,399");
  EXPECT_EQ(group_digits(18446744073709551615ull), "18,446,744,073,709,551,615");
  EXPECT_EQ(plural(1, "shard"), "1 shard");
  EXPECT_EQ(plural(0, "NUMA node"), "0 NUMA nodes");
  EXPECT_EQ(plural(3, "dense rank"), "3 dense ranks");
}

TEST(Format, ShapeString) {
  EXPECT_EQ(shape_string({3, 4}), "(3, 4)");
  EXPECT_EQ(shape_string({5}), "(5,)");
  EXPECT_EQ(shape_string({}), "()");
}

TEST(Format, CsvField) {
  EXPECT_EQ(csv_field("t3:int4"), "t3:int4");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("see \"x.log\""), "\"see \"\"x.log\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\r"), "\"cr\r\"");
}

}  // namespace
}  // namespace dlrm
