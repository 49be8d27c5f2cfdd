#include "dlrm/model/shard_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "test_files.h"
#include "dlrm/common/error.h"

namespace fs = std::filesystem;

namespace dlrm::model {
namespace {

using test::TempDir;

// Value of stored element (table, row, col): distinct for every cell.
float cell(int table, int64_t row, int col) { return static_cast<float>(table * 100000 + row * 100 + col); }

// A shard with a full-width slice, a column block of 5 (stride 64 bytes with
// padding) and a partial row range.
ShardInfo sample_info() {
  ShardInfo info;
  info.shard = 2;
  info.slices = {Slice{0, 0, 7, 0, 24}, Slice{1, 3, 9, 8, 13}, Slice{3, 10, 20, 0, 24}};
  return info;
}

// Writes `info` row by row through ShardFileWriter (in uneven batches).
void write_sample(const fs::path& path, const ShardInfo& info, int dim, uint64_t* data_checksum = nullptr) {
  ShardFileWriter writer(path, ElementType::kFp32, dim, info);
  for (size_t s = 0; s < info.slices.size(); ++s) {
    const Slice& slice = info.slices[s];
    uint64_t stride = writer.row_stride(static_cast<int>(s));
    EXPECT_EQ(stride, row_stride(ElementType::kFp32, slice.cols()));
    std::vector<uint8_t> rows(stride * slice.rows(), 0);
    for (int64_t r = 0; r < slice.rows(); ++r) {
      for (int c = 0; c < slice.cols(); ++c) {
        float v = cell(slice.table, slice.row_begin + r, slice.col_begin + c);
        std::memcpy(rows.data() + r * stride + c * sizeof(float), &v, sizeof(float));
      }
    }
    int64_t first = slice.rows() / 3;  // two appends per slice
    writer.append_rows(rows.data(), first);
    writer.append_rows(rows.data() + first * stride, slice.rows() - first);
  }
  uint64_t sum = writer.finish();
  if (data_checksum) *data_checksum = sum;
}

Manifest sample_manifest(const ShardInfo& written, uint64_t data_checksum, uint64_t file_bytes) {
  Manifest m;
  m.arch = make_preset("small");
  m.arch.dim = 24;
  m.shards.resize(3);
  for (int s = 0; s < 3; ++s) m.shards[s].shard = s;
  ShardInfo& info = m.shards[2];
  info = written;
  for (const auto& slice : info.slices) info.embedding_bytes += slice.rows() * row_stride(ElementType::kFp32, slice.cols());
  info.checksum = checksum_hex(data_checksum);
  info.file_bytes = file_bytes;
  return m;
}

TEST(ShardFile, RoundTrip) {
  TempDir dir;
  fs::path path = dir / "shard-002.bin";
  ShardInfo info = sample_info();
  uint64_t sum = 0;
  write_sample(path, info, 24, &sum);
  EXPECT_TRUE(dir.partial_names().empty());

  ShardFile file = ShardFile::open(path, {.populate = true, .verify = true});
  const ShardFileHeader& h = file.header();
  EXPECT_EQ(std::memcmp(h.magic, kShardMagic, 8), 0);
  EXPECT_EQ(h.version, kShardFormatVersion);
  EXPECT_EQ(file.storage_type(), ElementType::kFp32);
  EXPECT_EQ(h.dim, 24u);
  EXPECT_EQ(h.shard, 2u);
  EXPECT_EQ(h.header_bytes % 4096, 0u);
  EXPECT_EQ(h.data_checksum, sum);
  EXPECT_EQ(fs::file_size(path), h.header_bytes + h.data_bytes);
  ASSERT_EQ(file.slices().size(), 3u);
  for (size_t s = 0; s < 3; ++s) {
    const ShardSliceRecord& r = file.slices()[s];
    const Slice& slice = info.slices[s];
    EXPECT_EQ(r.table, static_cast<uint32_t>(slice.table));
    EXPECT_EQ(r.row_begin, static_cast<uint64_t>(slice.row_begin));
    EXPECT_EQ(r.row_end, static_cast<uint64_t>(slice.row_end));
    EXPECT_EQ(r.col_begin, static_cast<uint32_t>(slice.col_begin));
    EXPECT_EQ(r.col_end, static_cast<uint32_t>(slice.col_end));
    EXPECT_EQ(r.row_stride % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(file.slice_rows(static_cast<int>(s))) % 64, 0u) << "slice " << s;
    for (int64_t row = 0; row < slice.rows(); ++row) {
      const auto* values = reinterpret_cast<const float*>(file.slice_rows(static_cast<int>(s)) + row * r.row_stride);
      for (int c = 0; c < slice.cols(); ++c) {
        ASSERT_EQ(values[c], cell(slice.table, slice.row_begin + row, slice.col_begin + c));
      }
      for (uint64_t c = slice.cols(); c < r.row_stride / 4; ++c) ASSERT_EQ(values[c], 0.0f) << "padding";
    }
  }
  EXPECT_EQ(file.resident_bytes(), file.data_bytes());  // MAP_POPULATE faulted everything in
  EXPECT_NO_THROW(check_against_manifest(file, sample_manifest(info, sum, fs::file_size(path)), 2));
}

TEST(ShardFile, ResidentBytesGrowsWithTouches) {
  TempDir dir;
  fs::path path = dir / "shard.bin";
  write_sample(path, sample_info(), 24);
  ShardFile file = ShardFile::open(path);
  uint64_t before = file.resident_bytes();
  EXPECT_LE(before, file.data_bytes());
  file.verify();  // reads every byte
  EXPECT_EQ(file.resident_bytes(), file.data_bytes());
}

TEST(ShardFile, MoveKeepsMapping) {
  TempDir dir;
  fs::path path = dir / "shard.bin";
  write_sample(path, sample_info(), 24);
  ShardFile a = ShardFile::open(path);
  const uint8_t* rows = a.slice_rows(0);
  ShardFile b = std::move(a);
  EXPECT_EQ(b.slice_rows(0), rows);
  EXPECT_NO_THROW(b.verify());
}

TEST(ShardFile, ManifestDifferencesDetected) {
  TempDir dir;
  fs::path path = dir / "shard-002.bin";
  ShardInfo info = sample_info();
  uint64_t sum = 0;
  write_sample(path, info, 24, &sum);
  ShardFile file = ShardFile::open(path);
  Manifest good = sample_manifest(info, sum, fs::file_size(path));

  Manifest m = good;
  m.shards[2].slices[1].row_end = 8;
  EXPECT_ERROR_WITH(check_against_manifest(file, m, 2), path.string(), "slice 1", "manifest");
  m = good;
  m.shards[2].checksum = "0123456789abcdef";
  EXPECT_ERROR_WITH(check_against_manifest(file, m, 2), path.string(), "checksum");
  m = good;
  m.arch.dim = 32;
  EXPECT_ERROR_WITH(check_against_manifest(file, m, 2), path.string(), "dim");
  m = good;
  m.dtype = ElementType::kFp16;
  EXPECT_ERROR_WITH(check_against_manifest(file, m, 2), path.string(), "fp16");
  EXPECT_ERROR_WITH(check_against_manifest(file, good, 1), path.string(), "shard 2");
}

// A shard of a mixed model: each slice in its own storage type (version 2),
// read back slice by slice and checked against a manifest of per-table types.
TEST(ShardFile, MixedSliceTypesRoundTrip) {
  TempDir dir;
  fs::path path = dir / "shard-002.bin";
  const ShardInfo info = sample_info();  // tables 0, 1, 3
  const std::vector<ElementType> types = {ElementType::kInt4, ElementType::kFp32, ElementType::kFp16};
  {
    ShardFileWriter writer(path, types, 24, info);
    for (size_t s = 0; s < info.slices.size(); ++s) {
      const Slice& slice = info.slices[s];
      ASSERT_EQ(writer.row_stride(static_cast<int>(s)), row_stride(types[s], slice.cols()));
      std::vector<float> values;
      for (int64_t r = 0; r < slice.rows(); ++r) {
        for (int c = 0; c < slice.cols(); ++c) values.push_back(cell(0, r, c) / 1e5f);
      }
      std::vector<uint8_t> rows(writer.row_stride(static_cast<int>(s)) * slice.rows(), 0);
      ASSERT_EQ(encode_rows(types[s], values.data(), slice.rows(), slice.cols(), rows.data()).bad_rows, 0);
      writer.append_rows(rows.data(), slice.rows());
    }
    writer.finish();
  }
  ShardFile file = ShardFile::open(path, {.verify = true});
  EXPECT_EQ(file.header().version, kShardFormatVersionMixed);
  EXPECT_EQ(file.storage_type(), ElementType::kInt4);  // the first slice's
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(file.slice_type(s), types[s]) << "slice " << s;
    EXPECT_EQ(file.slice_view(s).type, types[s]);
    EXPECT_EQ(file.slice_view(s).stride, row_stride(types[s], info.slices[s].cols()));
    EXPECT_EQ(file.slices()[s].storage_type, storage_code(types[s]));
  }
  Manifest m;
  m.arch = make_preset("small");
  m.arch.dim = 24;
  m.shards.resize(3);
  for (int s = 0; s < 3; ++s) m.shards[s].shard = s;
  m.shards[2] = info;
  for (size_t s = 0; s < info.slices.size(); ++s) {
    m.shards[2].embedding_bytes += info.slices[s].rows() * row_stride(types[s], info.slices[s].cols());
  }
  m.shards[2].checksum = checksum_hex(file.header().data_checksum);
  m.shards[2].file_bytes = fs::file_size(path);
  m.dtype = ElementType::kFp32;
  m.table_dtypes.assign(static_cast<size_t>(m.arch.num_tables()), ElementType::kFp32);
  m.table_dtypes[0] = ElementType::kInt4;
  m.table_dtypes[3] = ElementType::kFp16;
  EXPECT_NO_THROW(check_against_manifest(file, m, 2));
  m.table_dtypes[3] = ElementType::kInt8;
  EXPECT_ERROR_WITH(check_against_manifest(file, m, 2), path.string(), "slice 2 (table 3) stores fp16",
                    "table 3 is int8");
  // A uniform shard is still written as version 1 with zero slice types.
  write_sample(dir / "uniform.bin", info, 24);
  ShardFile uniform = ShardFile::open(dir / "uniform.bin");
  EXPECT_EQ(uniform.header().version, kShardFormatVersion);
  for (const ShardSliceRecord& r : uniform.slices()) EXPECT_EQ(r.storage_type, 0u);
}

TEST(ShardFile, WriterRejectsTooManyRowsAndIncompleteShards) {
  TempDir dir;
  ShardInfo info;
  info.slices = {Slice{0, 0, 4, 0, 16}};
  std::vector<uint8_t> rows(64 * 8, 0);
  {
    ShardFileWriter writer(dir / "a.bin", ElementType::kFp32, 16, info);
    EXPECT_ERROR_WITH(writer.append_rows(rows.data(), 5), "more rows");
  }
  {
    ShardFileWriter writer(dir / "b.bin", ElementType::kFp32, 16, info);
    writer.append_rows(rows.data(), 3);
    EXPECT_ERROR_WITH(writer.finish(), "incomplete");
  }
  EXPECT_FALSE(fs::exists(dir / "a.bin"));
  EXPECT_FALSE(fs::exists(dir / "b.bin"));
  EXPECT_TRUE(dir.partial_names().empty()) << "unfinished shard files must leave nothing behind";
}

// Every kind of damage must be caught, with the file named in the message.
struct Corruption {
  const char* name;
  void (*damage)(const fs::path& path, const ShardFileHeader& header);
  bool caught_at_open;   // otherwise by verify()
  const char* message;   // a word the error must contain
};

void PrintTo(const Corruption& c, std::ostream* os) { *os << c.name; }

const Corruption kCorruptions[] = {
    {"data_byte",
     [](const fs::path& p, const ShardFileHeader& h) { test::flip_byte(p, h.header_bytes + h.data_bytes / 2); },
     false, "corrupted"},
    {"last_data_byte",
     [](const fs::path& p, const ShardFileHeader& h) { test::flip_byte(p, h.header_bytes + h.data_bytes - 1, 0x80); },
     false, "corrupted"},
    {"slice_record_byte",
     [](const fs::path& p, const ShardFileHeader&) { test::flip_byte(p, sizeof(ShardFileHeader) + 48 + 8); }, true,
     "header"},
    {"header_padding_byte", [](const fs::path& p, const ShardFileHeader&) { test::flip_byte(p, 4000); }, true,
     "header"},
    {"data_checksum_field",
     [](const fs::path& p, const ShardFileHeader&) {
       test::flip_byte(p, offsetof(ShardFileHeader, data_checksum));
     },
     true, "header"},
    {"truncated_data",
     [](const fs::path& p, const ShardFileHeader&) { fs::resize_file(p, fs::file_size(p) - 64); }, true,
     "truncated"},
    {"truncated_header", [](const fs::path& p, const ShardFileHeader&) { fs::resize_file(p, 1000); }, true,
     "truncated"},
    {"truncated_to_nothing", [](const fs::path& p, const ShardFileHeader&) { fs::resize_file(p, 10); }, true,
     "truncated"},
    {"extended", [](const fs::path& p, const ShardFileHeader&) { fs::resize_file(p, fs::file_size(p) + 4096); }, true,
     "longer"},
    {"bad_magic", [](const fs::path& p, const ShardFileHeader&) { test::overwrite(p, 0, "DLRMDENS", 8); }, true,
     "bad magic"},
    {"other_version",
     [](const fs::path& p, const ShardFileHeader&) {
       uint32_t version = kShardFormatVersionMixed + 1;
       test::overwrite(p, offsetof(ShardFileHeader, version), &version, 4);
     },
     true, "format version 3"},
};

class ShardFileCorruption : public ::testing::TestWithParam<Corruption> {};

TEST_P(ShardFileCorruption, Detected) {
  TempDir dir;
  fs::path path = dir / "shard-002.bin";
  write_sample(path, sample_info(), 24);
  ShardFileHeader header = ShardFile::open(path, {.populate = false, .verify = true}).header();
  GetParam().damage(path, header);
  if (GetParam().caught_at_open) {
    EXPECT_ERROR_WITH(ShardFile::open(path), path.string(), GetParam().message);
  } else {
    ShardFile file = ShardFile::open(path);
    EXPECT_ERROR_WITH(file.verify(), path.string(), GetParam().message);
    EXPECT_ERROR_WITH(ShardFile::open(path, {.populate = false, .verify = true}), path.string(),
                      GetParam().message);
  }
}

INSTANTIATE_TEST_SUITE_P(Damage, ShardFileCorruption, ::testing::ValuesIn(kCorruptions),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ShardFile, MissingFileNamed) {
  TempDir dir;
  EXPECT_ERROR_WITH(ShardFile::open(dir / "shard-000.bin"), (dir / "shard-000.bin").string(), "cannot open");
}

}  // namespace
}  // namespace dlrm::model
