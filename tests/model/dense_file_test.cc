#include "dlrm/model/dense_file.h"

#include <gtest/gtest.h>

#include <cstddef>

#include "test_files.h"
#include "dlrm/common/error.h"

namespace fs = std::filesystem;

namespace dlrm::model {
namespace {

using test::TempDir;

std::vector<DenseTensor> sample_tensors() {
  std::vector<DenseTensor> tensors = {
      {"bot_l.0.weight", {5, 3}, {}}, {"bot_l.0.bias", {5}, {}}, {"top_l.0.weight", {1, 7}, {}}};
  float v = 0.5f;
  for (auto& t : tensors) {
    size_t count = 1;
    for (int64_t d : t.shape) count *= static_cast<size_t>(d);
    for (size_t i = 0; i < count; ++i) t.values.push_back(v += 0.25f);
  }
  return tensors;
}

TEST(ShardDenseFile, RoundTrip) {
  TempDir dir;
  fs::path path = dir / "dense.bin";
  DenseFileInfo info = write_dense_file(path, sample_tensors());
  EXPECT_EQ(info.file_bytes, fs::file_size(path));
  EXPECT_TRUE(dir.partial_names().empty());
  std::vector<DenseTensor> read = read_dense_file(path);
  std::vector<DenseTensor> expect = sample_tensors();
  ASSERT_EQ(read.size(), expect.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].name, expect[i].name);
    EXPECT_EQ(read[i].shape, expect[i].shape);
    EXPECT_EQ(read[i].values, expect[i].values);
  }
  DenseFileHeader header;
  std::string bytes = test::read_file(path);
  std::memcpy(&header, bytes.data(), sizeof(header));
  EXPECT_EQ(header.header_bytes % 64, 0u);
  EXPECT_EQ(header.data_checksum, info.data_checksum);
}

TEST(ShardDenseFile, BadTensorsRejected) {
  TempDir dir;
  std::vector<DenseTensor> tensors = sample_tensors();
  tensors[1].values.pop_back();
  EXPECT_ERROR_WITH(write_dense_file(dir / "dense.bin", tensors), "bot_l.0.bias");
  tensors = sample_tensors();
  tensors[0].name = std::string(80, 'x');
  EXPECT_ERROR_WITH(write_dense_file(dir / "dense.bin", tensors), "characters");
  EXPECT_FALSE(fs::exists(dir / "dense.bin"));
}

struct DenseCorruption {
  const char* name;
  void (*damage)(const fs::path& path);
  const char* message;
};

void PrintTo(const DenseCorruption& c, std::ostream* os) { *os << c.name; }

const DenseCorruption kDenseCorruptions[] = {
    {"data_byte", [](const fs::path& p) { test::flip_byte(p, fs::file_size(p) - 190); }, "corrupted"},
    {"record_byte", [](const fs::path& p) { test::flip_byte(p, sizeof(DenseFileHeader) + 2); }, "header"},
    {"truncated", [](const fs::path& p) { fs::resize_file(p, fs::file_size(p) - 4); }, "truncated"},
    {"truncated_header", [](const fs::path& p) { fs::resize_file(p, 100); }, "truncated"},
    {"bad_magic", [](const fs::path& p) { test::overwrite(p, 0, "DLRMSHRD", 8); }, "bad magic"},
    {"other_version",
     [](const fs::path& p) {
       uint32_t version = 7;
       test::overwrite(p, offsetof(DenseFileHeader, version), &version, 4);
     },
     "format version 7"},
};

class ShardDenseFileCorruption : public ::testing::TestWithParam<DenseCorruption> {};

TEST_P(ShardDenseFileCorruption, Detected) {
  TempDir dir;
  fs::path path = dir / "dense.bin";
  write_dense_file(path, sample_tensors());
  GetParam().damage(path);
  EXPECT_ERROR_WITH(read_dense_file(path), path.string(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Damage, ShardDenseFileCorruption, ::testing::ValuesIn(kDenseCorruptions),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace dlrm::model
