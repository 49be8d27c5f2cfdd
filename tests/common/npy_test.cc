#include "dlrm/common/npy.h"

#include <gtest/gtest.h>

#include <cstring>

#include "dlrm/common/error.h"
#include "test_files.h"

namespace dlrm {
namespace {

using test::TempDir;

std::string f32_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

// A version 2.0 header (4-byte length) for the same dictionary as npy_header_bytes.
std::string v2_header(const std::string& dict_text) {
  std::string dict = dict_text;
  size_t total = 12 + dict.size() + 1;
  dict.append((total + 63) / 64 * 64 - total, ' ');
  dict.push_back('\n');
  std::string out("\x93NUMPY\x02\x00", 8);
  uint32_t len = static_cast<uint32_t>(dict.size());
  out.append(reinterpret_cast<const char*>(&len), 4);
  return out + dict;
}

TEST(CommonNpy, HeaderVersion1RoundTrip) {
  TempDir dir;
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  test::write_file(dir / "a.npy", npy_header_bytes("<f4", {2, 3}) + f32_bytes(values));
  NpyHeader h = read_npy_header(dir / "a.npy");
  EXPECT_EQ(h.descr, "<f4");
  EXPECT_EQ(h.kind, 'f');
  EXPECT_EQ(h.item_bytes, 4);
  EXPECT_EQ(h.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(h.count(), 6);
  EXPECT_EQ(h.data_offset % 64, 0u);
  std::vector<int64_t> shape;
  EXPECT_EQ(read_npy_f32(dir / "a.npy", &shape), values);
  EXPECT_EQ(shape, (std::vector<int64_t>{2, 3}));
}

TEST(CommonNpy, HeaderVersion2) {
  TempDir dir;
  std::vector<float> values = {0.5f, -1.5f, 2.0f, 8.0f};
  test::write_file(dir / "b.npy",
                   v2_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }") + f32_bytes(values));
  NpyHeader h = read_npy_header(dir / "b.npy");
  EXPECT_EQ(h.shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(h.data_offset % 64, 0u);
  EXPECT_EQ(read_npy_f32(dir / "b.npy"), values);
}

TEST(CommonNpy, OneDimensionalAndScalarShapes) {
  TempDir dir;
  test::write_file(dir / "v.npy", npy_header_bytes("<f4", {3}) + f32_bytes({1, 2, 3}));
  EXPECT_EQ(read_npy_header(dir / "v.npy").shape, (std::vector<int64_t>{3}));
  test::write_file(dir / "s.npy", npy_header_bytes("<f4", {}) + f32_bytes({7}));
  NpyHeader s = read_npy_header(dir / "s.npy");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.count(), 1);
}

TEST(CommonNpy, FortranOrderRejected) {
  TempDir dir;
  std::string header = npy_header_bytes("<f4", {2, 2});
  header.replace(header.find("False"), 5, "True ");
  test::write_file(dir / "f.npy", header + f32_bytes({1, 2, 3, 4}));
  EXPECT_ERROR_WITH(read_npy_header(dir / "f.npy"), (dir / "f.npy").string(), "Fortran");
}

// Shapes whose element count overflows int64 (or whose digits overflow
// stoll) are refused with a message, not an overflow or std::out_of_range.
TEST(CommonNpy, HugeShapesRejected) {
  TempDir dir;
  test::write_file(dir / "big.npy", npy_header_bytes("<i4", {100000000000000000, 1000}));
  EXPECT_ERROR_WITH(read_npy_header(dir / "big.npy"), "big.npy", "more elements than any file can");
  std::string header = npy_header_bytes("<i4", {1234567890123456789, 1});
  header.replace(header.find("1234567890123456789"), 19, "99999999999999999999");
  test::write_file(dir / "digits.npy", header);
  EXPECT_ERROR_WITH(read_npy_header(dir / "digits.npy"), "digits.npy", "has a dimension too large");
}

TEST(CommonNpy, BadMagicRejected) {
  TempDir dir;
  test::write_file(dir / "m.npy", std::string("PK\x03\x04", 4) + " not numpy at all, a zip perhaps");
  EXPECT_ERROR_WITH(read_npy_header(dir / "m.npy"), (dir / "m.npy").string(), "bad magic");
}

TEST(CommonNpy, TruncatedDataRejected) {
  TempDir dir;
  test::write_file(dir / "t.npy", npy_header_bytes("<f4", {4, 4}) + f32_bytes({1, 2, 3}));
  EXPECT_ERROR_WITH(read_npy_header(dir / "t.npy"), (dir / "t.npy").string(), "truncated", "(4, 4)");
}

TEST(CommonNpy, TruncatedHeaderRejected) {
  TempDir dir;
  test::write_file(dir / "h.npy", npy_header_bytes("<f4", {4, 4}).substr(0, 30));
  EXPECT_ERROR_WITH(read_npy_header(dir / "h.npy"), (dir / "h.npy").string(), "truncated");
}

TEST(CommonNpy, LongerThanHeaderRejected) {
  TempDir dir;
  test::write_file(dir / "l.npy", npy_header_bytes("<f4", {2}) + f32_bytes({1, 2, 3}));
  EXPECT_ERROR_WITH(read_npy_header(dir / "l.npy"), (dir / "l.npy").string(), "longer");
}

TEST(CommonNpy, UnsupportedDtypesRejected) {
  TempDir dir;
  for (const char* descr : {"<c8", "<U4", "|O", "<f16"}) {
    test::write_file(dir / "d.npy", npy_header_bytes(descr, {1}) + std::string(16, '\0'));
    EXPECT_ERROR_WITH(read_npy_header(dir / "d.npy"), (dir / "d.npy").string(), descr);
  }
  test::write_file(dir / "be.npy", npy_header_bytes(">f4", {1}) + std::string(4, '\0'));
  EXPECT_ERROR_WITH(read_npy_header(dir / "be.npy"), "big-endian");
}

TEST(CommonNpy, ReadF32RejectsOtherDtypes) {
  TempDir dir;
  test::write_file(dir / "i.npy", npy_header_bytes("<i8", {2}) + std::string(16, '\0'));
  EXPECT_ERROR_WITH(read_npy_f32(dir / "i.npy"), (dir / "i.npy").string(), "<i8", "float32");
}

TEST(CommonNpy, MissingFileNamed) {
  TempDir dir;
  EXPECT_ERROR_WITH(read_npy_header(dir / "none.npy"), (dir / "none.npy").string());
}

TEST(CommonNpy, WriteIsStagedAndReadable) {
  TempDir dir;
  std::vector<float> values = {1.25f, -2.5f, 3.75f, 0.0f, 1e-3f, 7.0f};
  write_npy_f32(dir / "w.npy", values.data(), {3, 2});
  EXPECT_TRUE(dir.partial_names().empty());
  std::vector<int64_t> shape;
  EXPECT_EQ(read_npy_f32(dir / "w.npy", &shape), values);
  EXPECT_EQ(shape, (std::vector<int64_t>{3, 2}));
}

}  // namespace
}  // namespace dlrm
