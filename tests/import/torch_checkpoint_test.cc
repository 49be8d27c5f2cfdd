// PyTorch checkpoints written by Debian's torch 1.13 (tests/support/make_fixtures.py):
// every layout and dtype read back exactly, views and strides, wrapped and
// training checkpoints, and every kind of bad file refused with a message
// naming the file and entry.
#include <gtest/gtest.h>

#include <cstring>

#include "dlrm/import/import.h"
#include "dlrm/model/verify.h"
#include "dlrm/common/error.h"
#include "dlrm/sharding/model_writer.h"
#include "dlrm/import/onnx_model.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/import/torch_checkpoint.h"
#include "fixtures.h"

namespace fs = std::filesystem;

namespace dlrm::import {
namespace {

using test::fixtures;

struct Case {
  const char* file;
  const char* expected;  // expected*/ directory
  TorchFormat format;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }


class TorchLayouts : public ::testing::TestWithParam<Case> {};

// Every tensor read whole equals the expected .npy bit for bit (conversions
// from fp16 / bf16 / fp64 are exact roundings done the same way by numpy).
TEST_P(TorchLayouts, ReadsEveryTensorExactly) {
  REQUIRE_FIXTURES();
  const Case& c = GetParam();
  auto ckpt = TorchCheckpoint::open(fixtures() / c.file);
  EXPECT_EQ(ckpt->format(), c.format);
  std::vector<std::string> names;
  for (const TensorInfo& t : ckpt->tensors()) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, test::expected_keys());
  for (size_t i = 0; i < ckpt->tensors().size(); ++i) {
    const TensorInfo& info = ckpt->tensors()[i];
    std::vector<int64_t> shape;
    std::vector<float> want = test::expected_values(c.expected, info.name, &shape);
    ASSERT_EQ(info.shape, shape) << info.name;
    const int64_t rows = shape.size() == 2 ? shape[0] : 1;
    const int64_t cols = shape.back();
    std::vector<float> got(want.size(), -999.0f);
    ckpt->read_block(i, 0, rows, 0, cols, got.data());
    ASSERT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4)) << c.file << " " << info.name;
    if (rows >= 4 && cols >= 3) {  // an inner block: rows [1, 4), columns [1, 3)
      std::vector<float> block(6);
      ckpt->read_block(i, 1, 3, 1, 3, block.data());
      for (int r = 0; r < 3; ++r) {
        for (int k = 0; k < 2; ++k) EXPECT_EQ(block[r * 2 + k], want[(1 + r) * cols + 1 + k]) << info.name;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Files, TorchLayouts,
    ::testing::Values(Case{"zip.pt", "expected", TorchFormat::kZip}, Case{"legacy.pt", "expected", TorchFormat::kLegacy},
                      Case{"wrapped.pt", "expected", TorchFormat::kZip},
                      Case{"training.pt", "expected", TorchFormat::kZip},
                      Case{"training_legacy.pt", "expected", TorchFormat::kLegacy},
                      Case{"dataparallel.pt", "expected", TorchFormat::kZip},
                      Case{"parameters.pt", "expected", TorchFormat::kZip},
                      Case{"views.pt", "expected", TorchFormat::kZip},
                      Case{"views_legacy.pt", "expected", TorchFormat::kLegacy},
                      Case{"fp64_legacy.pt", "expected", TorchFormat::kLegacy},
                      Case{"fp16.pt", "expected_fp16", TorchFormat::kZip},
                      Case{"fp16_legacy.pt", "expected_fp16", TorchFormat::kLegacy},
                      Case{"bf16.pt", "expected_bf16", TorchFormat::kZip}),
    [](const auto& info) {
      std::string s = info.param.file;
      for (char& ch : s) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      return s;
    });

TEST(TorchCheckpoint, ViewsKeepTheirStrides) {
  REQUIRE_FIXTURES();
  auto ckpt = TorchCheckpoint::open(fixtures() / "views.pt");
  std::map<std::string, TorchTensorLayout> layouts;
  for (size_t i = 0; i < ckpt->tensors().size(); ++i) layouts[ckpt->tensors()[i].name] = ckpt->layout(i);
  EXPECT_EQ(layouts["emb_l.0.weight"].stride, (std::vector<int64_t>{1, 7}));
  EXPECT_EQ(layouts["emb_l.1.weight"].storage_offset, 12);
  EXPECT_EQ(layouts["emb_l.2.weight"].stride, (std::vector<int64_t>{8, 2}));
}

TEST(TorchCheckpoint, TrainingCheckpointNamesItsOtherEntries) {
  REQUIRE_FIXTURES();
  auto ckpt = TorchCheckpoint::open(fixtures() / "training_legacy.pt");
  const auto& other = ckpt->other_entries();
  EXPECT_NE(std::find(other.begin(), other.end(), "opt_state_dict"), other.end());
  EXPECT_NE(std::find(other.begin(), other.end(), "train_loss"), other.end());
  EXPECT_NE(ckpt->describe().find("entry=state_dict"), std::string::npos);
}

TEST(TorchCheckpoint, ArchitectureFromShapes) {
  REQUIRE_FIXTURES();
  auto source = open_torch_source(fixtures() / "legacy.pt", 0);
  const model::ModelArch& arch = source->arch();
  EXPECT_EQ(arch.table_rows, (std::vector<int64_t>{7, 5, 11}));
  EXPECT_EQ(arch.dim, 4);
  EXPECT_EQ(arch.dense_features, 13);
  EXPECT_EQ(arch.bottom_mlp, (std::vector<int>{8, 4}));
  EXPECT_EQ(arch.top_mlp, (std::vector<int>{6, 1}));
  auto capped = open_torch_source(fixtures() / "zip.pt", 6);
  EXPECT_EQ(capped->arch().table_rows, (std::vector<int64_t>{6, 5, 6}));
  EXPECT_NE(source->describe().find("pytorch legacy"), std::string::npos);
}

// The shard files written from a checkpoint are byte-identical to those
// written from the same weights as a .npy directory.
TEST(TorchCheckpoint, ImportMatchesNpyImport) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  for (const char* plan : {"table", "row", "column"}) {
    sharding::WriteOptions options;
    options.plan.kind = sharding::parse_plan_kind(plan);
    options.plan.shards = 2;
    options.progress = false;
    auto npy = open_import_source(fixtures() / "expected", 0);
    sharding::write_model(*npy, options, dir / (std::string("npy-") + plan));
    for (const char* file : {"views_legacy.pt", "training.pt"}) {
      auto pt = open_torch_source(fixtures() / file, 0);
      const fs::path out = dir / (std::string(file) + "-" + plan);
      model::Manifest m = sharding::write_model(*pt, options, out);
      for (const model::ShardInfo& s : m.shards) {
        EXPECT_EQ(test::read_file(out / s.file), test::read_file(dir / (std::string("npy-") + plan) / s.file))
            << file << " " << plan << " " << s.file;
      }
      EXPECT_EQ(test::read_file(out / "dense.bin"), test::read_file(dir / (std::string("npy-") + plan) / "dense.bin"));
    }
  }
}

TEST(TorchCheckpoint, MaliciousCheckpointsAreRefusedAndRunNothing) {
  REQUIRE_FIXTURES();
  for (const char* file : {"evil.pt", "evil_legacy.pt"}) {
    EXPECT_ERROR_WITH(TorchCheckpoint::open(fixtures() / file), file, "global 'posix.system'", "nothing was executed");
  }
  EXPECT_FALSE(fs::exists(fixtures() / "pwned_marker"));
  EXPECT_ERROR_WITH(TorchCheckpoint::open(fixtures() / "module.pt"), "module.pt",
                    "global 'torch.nn.modules.container.Sequential'", "state_dict");
}

TEST(TorchCheckpoint, BadStateDictsListWhatWasExpected) {
  REQUIRE_FIXTURES();
  EXPECT_ERROR_WITH(open_torch_source(fixtures() / "missing_key.pt", 0), "missing_key.pt", "missing bot_l.2.bias");
  EXPECT_ERROR_WITH(open_torch_source(fixtures() / "wrong_shape.pt", 0), "wrong_shape.pt",
                    "top_l.0.weight: expected shape (6, 10)", "found (6, 9)");
  EXPECT_ERROR_WITH(open_torch_source(fixtures() / "int_table.pt", 0), "emb_l.1.weight holds int64 values");
  EXPECT_ERROR_WITH(TorchCheckpoint::open(fixtures() / "no_state_dict.pt"), "no_state_dict.pt", "without tensors",
                    "'state_dict'");
}

// Cut short anywhere, a checkpoint is refused (at open or at the first read
// of the missing bytes) with an error naming the file; never wrong data.
TEST(TorchCheckpoint, TruncatedFilesAreRefused) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  for (const char* file : {"zip.pt", "legacy.pt", "training_legacy.pt", "fp16_legacy.pt"}) {
    const uint64_t size = fs::file_size(fixtures() / file);
    std::vector<uint64_t> cuts = {0, 3, 20, 100, size / 4, size / 2, size - 200, size - 22, size - 1};
    for (uint64_t cut : cuts) {
      if (cut >= size) continue;
      const fs::path p = dir / (std::to_string(cut) + "-" + file);
      test::copy_prefix(fixtures() / file, p, cut);
      try {
        auto ckpt = TorchCheckpoint::open(p);
        for (size_t i = 0; i < ckpt->tensors().size(); ++i) {
          const auto& shape = ckpt->tensors()[i].shape;
          std::vector<float> values(shape.size() == 2 ? shape[0] * shape[1] : shape[0]);
          ckpt->read_block(i, 0, shape.size() == 2 ? shape[0] : 1, 0, shape.back(), values.data());
        }
        ADD_FAILURE() << p << " (" << cut << " of " << size << " bytes) was accepted";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
      }
    }
  }
}

TEST(TorchCheckpoint, CorruptedPickleIsRefused) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  // Zip layout: a flipped byte inside data.pkl fails its CRC.
  const fs::path zip = dir / "zip.pt";
  fs::copy_file(fixtures() / "zip.pt", zip);
  const std::string bytes = test::read_file(zip);
  const size_t pkl = bytes.find("emb_l.0.weight");
  ASSERT_NE(pkl, std::string::npos);
  test::flip_byte(zip, pkl + 2);
  EXPECT_ERROR_WITH(TorchCheckpoint::open(zip), zip.string(), "data.pkl");
  // Legacy layout: a storage record whose element count disagrees with the pickle.
  const fs::path legacy = dir / "legacy.pt";
  test::write_file(legacy, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15) +
                               test::read_file(fixtures() / "zip.pt"));
  EXPECT_ERROR_WITH(TorchCheckpoint::open(legacy), legacy.string());
}

// Every import path (a .npy directory, zip and legacy checkpoints, ONNX with
// inline and external data) refuses a negative row cap with the same message.
TEST(TorchCheckpoint, EveryImportRefusesANegativeRowCap) {
  REQUIRE_FIXTURES();
  for (const char* from : {"expected", "zip.pt", "legacy.pt", "inline.onnx", "external/model.onnx"}) {
    EXPECT_ERROR_WITH(open_import_source(fixtures() / from, -1), "--row-cap must be >= 0 (0 keeps every row), got -1");
  }
  EXPECT_ERROR_WITH(open_torch_source(fixtures() / "zip.pt", -2), "--row-cap must be >= 0 (0 keeps every row), got -2");
  EXPECT_ERROR_WITH(open_onnx_source(fixtures() / "inline.onnx", -2),
                    "--row-cap must be >= 0 (0 keeps every row), got -2");
}

TEST(TorchCheckpoint, NotACheckpoint) {
  test::TempDir dir;
  test::write_file(dir / "x.pt", "hello world, not a checkpoint");
  EXPECT_ERROR_WITH(TorchCheckpoint::open(dir / "x.pt"), "x.pt", "not a PyTorch checkpoint");
  EXPECT_ERROR_WITH(TorchCheckpoint::open(dir / "missing.pt"), "missing.pt", "does not exist");
}

}  // namespace
}  // namespace dlrm::import
