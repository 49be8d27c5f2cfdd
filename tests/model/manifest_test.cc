#include <gtest/gtest.h>

#include <regex>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/model/dense_file.h"
#include "dlrm/model/manifest.h"
#include "dlrm/sharding/plan.h"

namespace fs = std::filesystem;

namespace dlrm::model {
namespace {

using test::TempDir;

Manifest sample_manifest(const std::string& preset = "small") {
  Manifest m;
  m.producer = "dlrm-shard test";
  m.source = "synth seed=1";
  m.arch = make_preset(preset);
  m.plan = "auto";
  sharding::PlanOptions options;
  options.shards = 3;
  m.shards = sharding::make_plan(m.arch, options);
  for (auto& s : m.shards) {
    s.file = "shard-00" + std::to_string(s.shard) + ".bin";
    s.file_bytes = 4096 + s.embedding_bytes;
    s.checksum = "0011223344556677";
  }
  m.dense_bytes = 1234;
  m.dense_checksum = "8899aabbccddeeff";
  return m;
}

TEST(ShardManifest, RoundTrip) {
  TempDir dir;
  Manifest m = sample_manifest();
  save_manifest(m, dir.path());
  EXPECT_TRUE(dir.partial_names().empty());
  Manifest read = load_manifest(dir.path());
  EXPECT_EQ(read.format_version, Manifest::kFormatVersion);
  EXPECT_EQ(read.producer, m.producer);
  EXPECT_EQ(read.source, m.source);
  EXPECT_EQ(read.arch.table_rows, m.arch.table_rows);
  EXPECT_EQ(read.arch.bottom_mlp, m.arch.bottom_mlp);
  EXPECT_EQ(read.arch.top_mlp, m.arch.top_mlp);
  EXPECT_EQ(read.dtype, ElementType::kFp32);
  ASSERT_EQ(read.num_shards(), 3);
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(read.shards[s].file, m.shards[s].file);
    EXPECT_EQ(read.shards[s].checksum, m.shards[s].checksum);
    EXPECT_EQ(read.shards[s].embedding_bytes, m.shards[s].embedding_bytes);
    ASSERT_EQ(read.shards[s].slices.size(), m.shards[s].slices.size());
  }
  EXPECT_EQ(read.dense_checksum, m.dense_checksum);
}

// A model of mixed tables: table t as kTypes[t % 4], the default int8.
Manifest mixed_manifest() {
  Manifest m = sample_manifest();
  m.dtype = ElementType::kInt8;
  const ElementType kTypes[] = {ElementType::kFp32, ElementType::kFp16, ElementType::kInt8, ElementType::kInt4};
  for (int t = 0; t < m.arch.num_tables(); ++t) m.table_dtypes.push_back(kTypes[t % 4]);
  return m;
}

TEST(ShardManifest, MixedTablesRoundTrip) {
  TempDir dir;
  Manifest m = mixed_manifest();
  save_manifest(m, dir.path());
  EXPECT_NE(test::read_file(dir / kManifestName).find("\"table_dtypes\""), std::string::npos);
  Manifest read = load_manifest(dir.path());
  EXPECT_EQ(read.dtype, ElementType::kInt8);
  ASSERT_EQ(read.table_dtypes, m.table_dtypes);
  EXPECT_TRUE(read.mixed());
  EXPECT_FALSE(read.all_fp32());
  EXPECT_EQ(read.table_dtype(5), ElementType::kFp16);
  EXPECT_EQ(read.storage_summary(), "mixed (7 fp32, 7 fp16, 6 int8, 6 int4)");
}

TEST(ShardManifest, UniformTablesWriteNoTableDtypes) {
  TempDir dir;
  Manifest m = sample_manifest();
  m.dtype = ElementType::kInt4;
  m.table_dtypes.assign(static_cast<size_t>(m.arch.num_tables()), ElementType::kInt4);
  save_manifest(m, dir.path());
  // A uniform model's manifest is what older versions wrote and read.
  EXPECT_EQ(test::read_file(dir / kManifestName).find("table_dtypes"), std::string::npos);
  Manifest read = load_manifest(dir.path());
  EXPECT_TRUE(read.table_dtypes.empty());
  EXPECT_FALSE(read.mixed());
  EXPECT_EQ(read.table_dtype(25), ElementType::kInt4);
  EXPECT_EQ(read.storage_summary(), "int4");
}

TEST(ShardManifest, OldManifestWithoutTableDtypesLoads) {
  TempDir dir;
  Manifest m = sample_manifest();
  m.dtype = ElementType::kFp16;
  save_manifest(m, dir.path());
  std::string text = test::read_file(dir / kManifestName);
  ASSERT_EQ(text.find("table_dtypes"), std::string::npos);
  Manifest read = load_manifest(dir.path());
  for (int t = 0; t < read.arch.num_tables(); ++t) EXPECT_EQ(read.table_dtype(t), ElementType::kFp16);
  EXPECT_TRUE(read.all_fp32() == false);
}

TEST(ShardManifest, BadTableDtypeRejectedNamingTheTable) {
  TempDir dir;
  save_manifest(mixed_manifest(), dir.path());
  fs::path path = dir / kManifestName;
  const std::string good = test::read_file(path);
  // Table 6 is the third "int8" entry of the list (tables 2, 6, 10, ...).
  std::string text = good;
  size_t at = text.find("\"table_dtypes\"");
  for (int k = 0; k < 2; ++k) at = text.find("\"int8\"", at + 1);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 6, "\"int3\"");
  test::write_file(path, text);
  EXPECT_ERROR_WITH(load_manifest(dir.path()), path.string(), "table_dtypes[6]", "table 6", "int3", "int4");
  // One storage type too few.
  text = std::regex_replace(good, std::regex("\"table_dtypes\": \\[\\s*\"fp32\","), "\"table_dtypes\": [");
  ASSERT_TRUE(text != good) << "the first table_dtypes entry was not found";
  test::write_file(path, text);
  EXPECT_ERROR_WITH(load_manifest(dir.path()), path.string(), "25 storage types", "26 tables");
}

TEST(ShardManifest, OtherFormatVersionRejected) {
  TempDir dir;
  save_manifest(sample_manifest(), dir.path());
  fs::path path = dir / kManifestName;
  std::string text = test::read_file(path);
  text = std::regex_replace(text, std::regex("\"format_version\": 1"), "\"format_version\": 2");
  test::write_file(path, text);
  EXPECT_ERROR_WITH(load_manifest(dir.path()), path.string(), "format_version is 2", "re-shard");
}

TEST(ShardManifest, MissingOrBrokenRejected) {
  TempDir dir;
  EXPECT_ERROR_WITH(load_manifest(dir / "nope"), (dir / "nope").string(), "does not exist");
  EXPECT_ERROR_WITH(load_manifest(dir.path()), (dir / kManifestName).string(), "missing");
  test::write_file(dir / kManifestName, "{ \"dlrm_model\": { \"format_version\": 1, ");
  EXPECT_ERROR_WITH(load_manifest(dir.path()), (dir / kManifestName).string());
}

TEST(ShardManifest, InconsistentPlanRejected) {
  TempDir dir;
  Manifest m = sample_manifest();
  m.shards[1].slices.push_back(m.shards[0].slices.front());  // one table held twice
  save_manifest(m, dir.path());
  EXPECT_ERROR_WITH(load_manifest(dir.path()), (dir / kManifestName).string(), "twice");
}

TEST(ShardManifest, DlrmV2Preset) {
  // DESIGN.md's DLRM-v2: 204,184,588 rows, 214 lookups per pair, x0 = 27 x 128.
  ModelArch arch = make_preset("dlrm-v2");
  EXPECT_TRUE(arch.dcn());
  EXPECT_EQ(arch.total_rows(), 204184588u);
  EXPECT_EQ(arch.lookups_per_pair(), 214);
  EXPECT_EQ(arch.cross_width(), 3456);
  EXPECT_EQ(arch.top_input_width(), 3456);
  EXPECT_EQ(arch.cross_layers, 3);
  EXPECT_EQ(arch.cross_rank, 512);
  EXPECT_EQ(make_preset("dlrm-v2", 1000000).table_rows[0], 1000000);
  // The dot presets keep their top input and one lookup per table.
  ModelArch dot = make_preset("terabyte-40m");
  EXPECT_EQ(dot.top_input_width(), 128 + 27 * 26 / 2);
  EXPECT_EQ(dot.lookups_per_pair(), 26);
}

TEST(ShardManifest, DenseMacsPerPair) {
  // terabyte: bottom 13-512-256-128, top 479-1024-1024-512-256-1 (as dense::mlp_macs counts them).
  const int64_t bottom = 13 * 512 + 512 * 256 + 256 * 128;
  EXPECT_EQ(make_preset("terabyte-40m").dense_macs_per_pair(),
            bottom + 479 * 1024 + 1024 * 1024 + 1024 * 512 + 512 * 256 + 256 * 1);
  EXPECT_EQ(make_preset("terabyte-40m").dense_macs_per_pair(), 170496 + 2194688);  // mlp_test.cc's figures
  // dlrm-v2: the same bottom, 3 cross layers of 2 x 512 x 3456, top from 3456.
  EXPECT_EQ(make_preset("dlrm-v2").dense_macs_per_pair(),
            bottom + int64_t{10616832} + 3456 * 1024 + 1024 * 1024 + 1024 * 512 + 512 * 256 + 256 * 1);
}

TEST(ShardManifest, DcnDenseTensors) {
  ModelArch arch = make_preset("dlrm-v2");
  auto specs = dense_tensor_specs(arch);
  // 3 bottom + 3 cross + 5 top layers, two or three tensors each.
  ASSERT_EQ(specs.size(), 3u * 2 + 3u * 3 + 5u * 2);
  EXPECT_EQ(specs[6].name, "cross.0.V");
  EXPECT_EQ(specs[6].shape, (std::vector<int64_t>{512, 3456}));
  EXPECT_EQ(specs[7].name, "cross.0.W");
  EXPECT_EQ(specs[7].shape, (std::vector<int64_t>{3456, 512}));
  EXPECT_EQ(specs[8].name, "cross.0.bias");
  EXPECT_EQ(specs[8].shape, (std::vector<int64_t>{3456}));
  EXPECT_EQ(specs[15].name, "top_l.0.weight");
  EXPECT_EQ(specs[15].shape, (std::vector<int64_t>{1024, 3456}));
}

TEST(ShardManifest, DcnRoundTrip) {
  TempDir dir;
  Manifest m = sample_manifest("small-v2");
  save_manifest(m, dir.path());
  Manifest read = load_manifest(dir.path());
  EXPECT_EQ(read.arch.interaction, "dcn");
  EXPECT_EQ(read.arch.cross_layers, m.arch.cross_layers);
  EXPECT_EQ(read.arch.cross_rank, m.arch.cross_rank);
  EXPECT_EQ(read.arch.hotness, m.arch.hotness);
  EXPECT_EQ(read.arch.top_input_width(), m.arch.top_input_width());
}

TEST(ShardManifest, BadDcnArchRejected) {
  ModelArch arch = make_preset("small-v2");
  auto bad = [&](auto change, const char* what) {
    ModelArch a = arch;
    change(a);
    EXPECT_ERROR_WITH(a.validate(), what);
  };
  bad([](ModelArch& a) { a.cross_layers = 0; }, "cross_layers is 0");
  bad([](ModelArch& a) { a.cross_rank = 10000; }, "cross_rank is 10000");
  bad([](ModelArch& a) { a.interaction_self = true; }, "'dot' only");
  bad([](ModelArch& a) { a.hotness.pop_back(); }, "hotness lists 25 tables");
  bad([](ModelArch& a) { a.hotness[3] = 0; }, "hotness of table 3 is 0");
  bad([](ModelArch& a) { a.interaction = "cat"; }, "interaction 'cat' is not supported");
  ModelArch dot = make_preset("small");
  dot.cross_rank = 4;
  EXPECT_ERROR_WITH(dot.validate(), "apply to 'dcn' only");
  // A dcn manifest without its cross fields names the missing field.
  TempDir dir;
  save_manifest(sample_manifest("small-v2"), dir.path());
  fs::path path = dir / kManifestName;
  std::string text = std::regex_replace(test::read_file(path), std::regex("\"cross_rank\": 8,?"), "");
  test::write_file(path, text);
  EXPECT_ERROR_WITH(load_manifest(dir.path()), path.string(), "cross_rank");
}

}  // namespace
}  // namespace dlrm::model
