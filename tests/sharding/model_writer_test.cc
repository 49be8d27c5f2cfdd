#include "dlrm/sharding/model_writer.h"

#include <gtest/gtest.h>

#include <regex>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/model/dense_file.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/model/verify.h"

namespace fs = std::filesystem;

namespace dlrm::sharding {
namespace {

using test::TempDir;

constexpr uint64_t kSeed = 7;

WriteOptions quiet_options(int shards) {
  WriteOptions options;
  options.plan.shards = shards;
  options.progress = false;
  return options;
}

fs::path write_small(const TempDir& dir, int shards, const std::string& name = "model") {
  auto source = make_synth_source(model::make_preset("small"), kSeed);
  write_model(*source, quiet_options(shards), dir / name);
  return dir / name;
}

TEST(ShardModelWriter, WritesCompleteModel) {
  std::printf("seed %llu\n", static_cast<unsigned long long>(kSeed));
  TempDir dir;
  auto source = make_synth_source(model::make_preset("small"), kSeed);
  model::Manifest written = write_model(*source, quiet_options(3), dir / "model");
  EXPECT_TRUE(dir.partial_names().empty());
  EXPECT_TRUE(fs::exists(dir / "model" / model::kManifestName));
  EXPECT_TRUE(fs::exists(dir / "model" / "dense.bin"));

  model::Manifest m = model::load_manifest(dir / "model");
  EXPECT_EQ(m.producer.rfind("dlrm-shard ", 0), 0u) << m.producer;
  EXPECT_EQ(m.source, source->describe());
  EXPECT_EQ(m.plan, "auto");
  ASSERT_EQ(m.num_shards(), 3);
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(m.shards[s].file, "shard-00" + std::to_string(s) + ".bin");
    EXPECT_EQ(m.shards[s].file_bytes, fs::file_size(dir / "model" / m.shards[s].file));
    EXPECT_EQ(m.shards[s].checksum, written.shards[s].checksum);
    EXPECT_EQ(m.shards[s].checksum.size(), 16u);
  }
  EXPECT_EQ(m.dense_bytes, fs::file_size(dir / "model" / "dense.bin"));

  model::VerifyResult result = model::verify_model(dir / "model", false);
  EXPECT_EQ(result.files, 4);
  uint64_t bytes = m.dense_bytes;
  for (const auto& info : m.shards) bytes += info.file_bytes;
  EXPECT_EQ(result.bytes_checked, bytes);

  // Dense tensors are the source's, in dense_tensor_specs order.
  std::vector<model::DenseTensor> dense = model::read_dense_file(dir / "model" / "dense.bin");
  auto specs = model::dense_tensor_specs(m.arch);
  ASSERT_EQ(dense.size(), specs.size());
  EXPECT_EQ(dense[3].values, source->read_dense(specs[3].name, specs[3].shape));
}

TEST(ShardModelWriter, ChunkSizeDoesNotChangeBytes) {
  TempDir dir;
  model::ModelArch arch = model::make_preset("small");
  std::vector<std::string> checksums[2];
  for (int i = 0; i < 2; ++i) {
    auto source = make_synth_source(arch, kSeed);
    WriteOptions options = quiet_options(2);
    options.chunk_bytes = i == 0 ? (16u << 20) : 100;  // 100 bytes: one row per step
    model::Manifest m = write_model(*source, options, dir / ("m" + std::to_string(i)));
    for (const auto& info : m.shards) checksums[i].push_back(info.checksum);
  }
  EXPECT_EQ(checksums[0], checksums[1]);
}

// A source that fails part way through, as a broken checkpoint would.
class FailingSource final : public ModelSource {
 public:
  explicit FailingSource(std::unique_ptr<ModelSource> inner) : inner_(std::move(inner)) {}
  std::string describe() const override { return "failing"; }
  const model::ModelArch& arch() const override { return inner_->arch(); }
  void read_rows(int table, int64_t row_begin, int64_t rows, int col_begin, int col_end, float* dst) override {
    DLRM_CHECK(table != 20, "emb_l.20.weight.npy is unreadable (test)");
    inner_->read_rows(table, row_begin, rows, col_begin, col_end, dst);
  }
  std::vector<float> read_dense(const std::string& name, const std::vector<int64_t>& shape) override {
    return inner_->read_dense(name, shape);
  }

 private:
  std::unique_ptr<ModelSource> inner_;
};

TEST(ShardModelWriter, FailureLeavesNothingBehind) {
  TempDir dir;
  FailingSource source(make_synth_source(model::make_preset("small"), kSeed));
  EXPECT_ERROR_WITH(write_model(source, quiet_options(3), dir / "model"), "emb_l.20.weight.npy");
  EXPECT_FALSE(fs::exists(dir / "model"));
  EXPECT_TRUE(dir.partial_names().empty());
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(ShardModelWriter, ExistingOutputNeedsOverwrite) {
  TempDir dir;
  fs::path out = write_small(dir, 2);
  std::string old_checksum = model::load_manifest(out).shards[0].checksum;
  auto source = make_synth_source(model::make_preset("small"), kSeed + 1);
  EXPECT_ERROR_WITH(write_model(*source, quiet_options(2), out), out.string(), "already exists");
  EXPECT_EQ(model::load_manifest(out).shards[0].checksum, old_checksum);
  WriteOptions options = quiet_options(2);
  options.overwrite = true;
  write_model(*source, options, out);
  EXPECT_NE(model::load_manifest(out).shards[0].checksum, old_checksum);
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(ShardModelWriter, PlanErrorsLeaveNothingBehind) {
  TempDir dir;
  auto source = make_synth_source(model::make_preset("small"), kSeed);
  WriteOptions options = quiet_options(3);
  options.plan.max_shard_bytes = 1000;
  EXPECT_ERROR_WITH(write_model(*source, options, dir / "model"), "--max-shard-bytes");
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// verify_model must catch every kind of damage to a model directory and name the file.
struct ModelDamage {
  const char* name;
  void (*damage)(const fs::path& model);
  const char* file;     // the file the message must name
  const char* message;  // and a word it must contain
};

void PrintTo(const ModelDamage& c, std::ostream* os) { *os << c.name; }

void edit_manifest(const fs::path& model, const std::string& from, const std::string& to) {
  std::string text = test::read_file(model / model::kManifestName);
  std::string edited = std::regex_replace(text, std::regex(from), to, std::regex_constants::format_first_only);
  ASSERT_NE(text, edited) << "pattern " << from << " not found";
  test::write_file(model / model::kManifestName, edited);
}

const ModelDamage kModelDamages[] = {
    {"shard_data_byte", [](const fs::path& m) { test::flip_byte(m / "shard-001.bin", 4096 + 1000); }, "shard-001.bin",
     "corrupted"},
    {"shard_header_byte", [](const fs::path& m) { test::flip_byte(m / "shard-002.bin", 70); }, "shard-002.bin",
     "header"},
    {"shard_truncated",
     [](const fs::path& m) { fs::resize_file(m / "shard-000.bin", fs::file_size(m / "shard-000.bin") - 1); },
     "shard-000.bin", "truncated"},
    {"shard_missing", [](const fs::path& m) { fs::remove(m / "shard-001.bin"); }, "shard-001.bin", "missing"},
    {"shards_swapped",
     [](const fs::path& m) {
       fs::rename(m / "shard-000.bin", m / "tmp.bin");
       fs::rename(m / "shard-001.bin", m / "shard-000.bin");
       fs::rename(m / "tmp.bin", m / "shard-001.bin");
     },
     "shard-000.bin", "shard"},
    {"dense_data_byte", [](const fs::path& m) { test::flip_byte(m / "dense.bin", fs::file_size(m / "dense.bin") - 300); },
     "dense.bin", "corrupted"},
    {"dense_missing", [](const fs::path& m) { fs::remove(m / "dense.bin"); }, "dense.bin", "missing"},
    {"manifest_checksum",
     [](const fs::path& m) { edit_manifest(m, "\"checksum\": \"[0-9a-f]{16}\"", "\"checksum\": \"0000000000000000\""); },
     "shard-000.bin", "checksum"},
    {"manifest_version", [](const fs::path& m) { edit_manifest(m, "\"format_version\": 1", "\"format_version\": 9"); },
     "manifest.json", "format_version is 9"},
};

class ShardModelVerify : public ::testing::TestWithParam<ModelDamage> {};

TEST_P(ShardModelVerify, DamageDetected) {
  TempDir dir;
  fs::path model = write_small(dir, 3);
  ASSERT_NO_THROW(model::verify_model(model, false));
  GetParam().damage(model);
  EXPECT_ERROR_WITH(model::verify_model(model, false), GetParam().file, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Damage, ShardModelVerify, ::testing::ValuesIn(kModelDamages),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace dlrm::sharding
