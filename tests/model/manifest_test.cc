#include <gtest/gtest.h>

#include <regex>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/model/manifest.h"
#include "dlrm/sharding/plan.h"

namespace fs = std::filesystem;

namespace dlrm::model {
namespace {

using test::TempDir;

Manifest sample_manifest() {
  Manifest m;
  m.producer = "dlrm-shard test";
  m.source = "synth seed=1";
  m.arch = make_preset("small");
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

}  // namespace
}  // namespace dlrm::model
