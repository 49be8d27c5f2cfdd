// DLRM_DCN checkpoints as files: the forms tests/oracle/dlrm_dcn.py writes
// (import.dcn_fixtures: torch.save zip files in the TorchRec, DLRMTrain and
// Intel namings, .npy directories) read back tensor by tensor under their
// internal names, a written model's dense.bin and rows equal to PyTorch's;
// .npy directories written here (no torch needed); --hotness; ONNX models
// with DLRM_DCN initializers refused.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>

#include "dlrm/common/error.h"
#include "dlrm/common/npy.h"
#include "dlrm/import/import.h"
#include "dlrm/import/onnx_model.h"
#include "dlrm/model/dense_file.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/model/verify.h"
#include "dlrm/sharding/model_writer.h"
#include "fixtures.h"

namespace fs = std::filesystem;

namespace dlrm::import {
namespace {

fs::path dcn_fixtures() { return DLRM_DCN_FIXTURES; }

#define REQUIRE_DCN_FIXTURES()                                                                          \
  do {                                                                                                  \
    if (!fs::exists(dcn_fixtures() / "done")) {                                                         \
      GTEST_SKIP() << "DLRM_DCN fixtures missing in " << dcn_fixtures()                                 \
                   << " (import.dcn_fixtures needs /usr/bin/python3 with torch)";                       \
    }                                                                                                   \
  } while (0)

// The expected value of an internal tensor (dlrm_dcn.py's internal/ directory).
std::vector<float> expected(const std::string& name, std::vector<int64_t>* shape = nullptr) {
  return read_npy_f32(dcn_fixtures() / "internal" / (name + ".npy"), shape);
}

class DcnCheckpoint : public ::testing::TestWithParam<const char*> {};

// dlrm_dcn.py's tiny arch: 3 tables (7, 5, 11 rows) of dim 4, bottom 13-8-4,
// 2 cross layers of rank 3, top 16-6-5-1. Every dense tensor and every table
// read under its internal name equals the PyTorch model's, bit for bit (fp32
// copied, no arithmetic).
TEST_P(DcnCheckpoint, EveryTensorLandsInItsInternalName) {
  REQUIRE_DCN_FIXTURES();
  auto source = open_import_source(dcn_fixtures() / GetParam(), 0);
  const model::ModelArch& arch = source->arch();
  EXPECT_EQ(arch.interaction, "dcn");
  EXPECT_EQ(arch.cross_layers, 2);
  EXPECT_EQ(arch.cross_rank, 3);
  EXPECT_EQ(arch.dim, 4);
  EXPECT_EQ(arch.dense_features, 13);
  EXPECT_EQ(arch.bottom_mlp, (std::vector<int>{8, 4}));
  EXPECT_EQ(arch.top_mlp, (std::vector<int>{6, 5, 1}));
  EXPECT_EQ(arch.table_rows, (std::vector<int64_t>{7, 5, 11}));
  EXPECT_TRUE(arch.hotness.empty());
  for (const auto& spec : model::dense_tensor_specs(arch)) {
    std::vector<int64_t> shape;
    std::vector<float> want = expected(spec.name, &shape);
    ASSERT_EQ(shape, spec.shape) << spec.name;
    std::vector<float> got = source->read_dense(spec.name, spec.shape);
    ASSERT_EQ(got.size(), want.size()) << spec.name;
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4)) << GetParam() << " " << spec.name;
  }
  for (int t = 0; t < arch.num_tables(); ++t) {
    std::vector<float> want = expected(fmt::format("emb_l.{}.weight", t));
    const int64_t rows = arch.table_rows[t];
    std::vector<float> got(rows * arch.dim);
    source->read_rows(t, 0, rows, 0, arch.dim, got.data());
    EXPECT_EQ(got, want) << GetParam() << " table " << t;
    std::vector<float> block(3 * 2);  // rows [1, 4), columns [1, 3)
    source->read_rows(t, 1, 3, 1, 3, block.data());
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 2; ++c) EXPECT_EQ(block[r * 2 + c], want[(1 + r) * arch.dim + 1 + c]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Forms, DcnCheckpoint,
                         ::testing::Values("torchrec.pt", "dlrmtrain.pt", "intel.pt", "npy_torchrec", "npy_intel",
                                           "internal"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

// The shard writer pulls the cross tensors into dense.bin in dense_tensor_specs order.
TEST(DcnCheckpointModel, DenseFileHoldsTheCrossNet) {
  REQUIRE_DCN_FIXTURES();
  test::TempDir dir;
  auto source = open_import_source(dcn_fixtures() / "intel.pt", 0, "2,1,3");
  sharding::WriteOptions options;
  options.plan.shards = 2;
  options.plan.kind = sharding::PlanKind::kRow;
  options.progress = false;
  model::Manifest m = sharding::write_model(*source, options, dir / "model");
  EXPECT_EQ(m.arch.hotness, (std::vector<int>{2, 1, 3}));
  EXPECT_NO_THROW(model::verify_model(dir / "model", false));
  const auto specs = model::dense_tensor_specs(m.arch);
  const auto dense = model::read_dense_file(dir / "model" / m.dense_file);
  ASSERT_EQ(dense.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(dense[i].name, specs[i].name);
    EXPECT_EQ(dense[i].values, expected(specs[i].name)) << specs[i].name;
  }
  for (const auto& info : m.shards) {
    model::ShardFile file = model::ShardFile::open(dir / "model" / info.file);
    for (size_t s = 0; s < file.slices().size(); ++s) {
      const model::ShardSliceRecord& r = file.slices()[s];
      const std::vector<float> table = expected(fmt::format("emb_l.{}.weight", r.table));
      for (uint64_t row = r.row_begin; row < r.row_end; ++row) {
        const auto* values =
            reinterpret_cast<const float*>(file.slice_rows(static_cast<int>(s)) + (row - r.row_begin) * r.row_stride);
        for (uint32_t c = r.col_begin; c < r.col_end; ++c) {
          ASSERT_EQ(values[c - r.col_begin], table[row * m.arch.dim + c]) << "table " << r.table << " row " << row;
        }
      }
    }
  }
}

// A TorchRec-named .npy directory written here: tensor k holds k * 1000 +
// 0.25 * i at element i (exact in fp32), so a tensor read under the wrong
// internal name, or transposed, shows.
void write_npy(const fs::path& path, const std::vector<int64_t>& shape, float base) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  std::string bytes = npy_header_bytes("<f4", shape);
  for (int64_t i = 0; i < count; ++i) {
    const float v = base + 0.25f * static_cast<float>(i);
    bytes.append(reinterpret_cast<const char*>(&v), 4);
  }
  test::write_file(path, bytes);
}

TEST(DcnNpyDir, ValuesFollowTheirKeys) {
  test::TempDir dir;
  const fs::path sd = dir / "sd";
  fs::create_directories(sd);
  const std::string tables = "sparse_arch.embedding_bag_collection.embedding_bags.";
  // internal name, TorchRec key, shape (dim 2, 2 tables: X = 6, rank 2; bottom 13-2; top 6-3-1).
  const std::vector<std::tuple<std::string, std::string, std::vector<int64_t>>> keys = {
      {"emb_l.0.weight", tables + "t_cat_0.weight", {5, 2}},
      {"emb_l.1.weight", tables + "t_cat_1.weight", {3, 2}},
      {"bot_l.0.weight", "dense_arch.model._mlp.0._linear.weight", {2, 13}},
      {"bot_l.0.bias", "dense_arch.model._mlp.0._linear.bias", {2}},
      {"cross.0.V", "inter_arch.crossnet.V_kernels.0", {2, 6}},
      {"cross.0.W", "inter_arch.crossnet.W_kernels.0", {6, 2}},
      {"cross.0.bias", "inter_arch.crossnet.bias.0", {6}},
      {"top_l.0.weight", "over_arch.model.0._mlp.0._linear.weight", {3, 6}},
      {"top_l.0.bias", "over_arch.model.0._mlp.0._linear.bias", {3}},
      {"top_l.2.weight", "over_arch.model.1.weight", {1, 3}},
      {"top_l.2.bias", "over_arch.model.1.bias", {1}},
  };
  for (size_t k = 0; k < keys.size(); ++k) {
    write_npy(sd / (std::get<1>(keys[k]) + ".npy"), std::get<2>(keys[k]), 1000.0f * static_cast<float>(k));
  }
  auto source = open_import_source(sd, 0);
  EXPECT_EQ(source->arch().cross_width(), 6);
  EXPECT_EQ(source->arch().top_mlp, (std::vector<int>{3, 1}));
  for (size_t k = 0; k < keys.size(); ++k) {
    const auto& [internal, key, shape] = keys[k];
    std::vector<float> got;
    if (internal.rfind("emb_l.", 0) == 0) {
      got.resize(shape[0] * shape[1]);
      source->read_rows(internal[6] - '0', 0, shape[0], 0, 2, got.data());
    } else {
      got = source->read_dense(internal, shape);
    }
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], 1000.0f * static_cast<float>(k) + 0.25f * static_cast<float>(i)) << internal << " " << i;
    }
  }
  EXPECT_ERROR_WITH(source->read_dense("cross.0.V", {6, 2}), "inter_arch.crossnet.V_kernels.0 (for cross.0.V) has "
                    "shape (2, 6) but (6, 2) was expected");
}

TEST(DcnHotness, ParsedAndRecorded) {
  EXPECT_TRUE(parse_hotness("", 3).empty());
  EXPECT_EQ(parse_hotness("2,1,3", 3), (std::vector<int>{2, 1, 3}));
  EXPECT_EQ(parse_hotness("dlrm-v2", 26), model::make_preset("dlrm-v2").hotness);
  EXPECT_EQ(parse_hotness("dlrm-v2", 26)[20], 100);
  EXPECT_ERROR_WITH(parse_hotness("dlrm-v2", 3), "--hotness dlrm-v2", "26 tables", "has 3 tables");
  EXPECT_ERROR_WITH(parse_hotness("1,2", 3), "--hotness lists 2 values but the model has 3 tables");
  EXPECT_ERROR_WITH(parse_hotness("1,,2", 3), "item 1 is ''");
  EXPECT_ERROR_WITH(parse_hotness("1,2,65537", 3), "item 2 is '65537'", "1..65536");
  EXPECT_ERROR_WITH(parse_hotness("1,2,3x", 3), "item 2 is '3x'");
  EXPECT_ERROR_WITH(parse_hotness("-1,2,3", 3), "item 0 is '-1'");
}

TEST(DcnHotness, OpenImportSourceSetsIt) {
  REQUIRE_DCN_FIXTURES();
  auto plain = open_import_source(dcn_fixtures() / "torchrec.pt", 0);
  auto hot = open_import_source(dcn_fixtures() / "torchrec.pt", 0, "3,1,2");
  EXPECT_EQ(hot->arch().hotness, (std::vector<int>{3, 1, 2}));
  EXPECT_EQ(hot->arch().lookups_per_pair(), 6);
  EXPECT_EQ(hot->describe(), plain->describe() + " hotness=3,1,2");
  EXPECT_EQ(hot->read_dense("cross.1.W", {16, 3}), plain->read_dense("cross.1.W", {16, 3}));
  EXPECT_ERROR_WITH(open_import_source(dcn_fixtures() / "torchrec.pt", 0, "dlrm-v2"), "has 3 tables");
}

// ONNX import reads the DLRM reference layout only: a DLRM_DCN initializer is refused by name.
TEST(DcnOnnx, DlrmDcnInitializersAreRefused) {
  test::TempDir dir;
  for (const char* name : {"inter_arch.crossnet.V_kernels.0", "model.sparse_arch.embedding_bag_collection."
                                                              "embedding_bags.t_cat_0.weight"}) {
    onnx::ModelProto model;
    model.set_ir_version(8);
    for (const std::string& n : {std::string("emb_l.0.weight"), std::string(name)}) {
      onnx::TensorProto* t = model.mutable_graph()->add_initializer();
      t->set_name(n);
      t->set_data_type(onnx::TensorProto::FLOAT);
      t->add_dims(2);
      t->add_dims(2);
      const float values[4] = {1, 2, 3, 4};
      t->set_raw_data(values, sizeof(values));
    }
    {
      std::ofstream out(dir / "dcn.onnx", std::ios::binary);
      ASSERT_TRUE(model.SerializeToOstream(&out));
    }
    EXPECT_ERROR_WITH(OnnxModel::open(dir / "dcn.onnx"), "dcn.onnx", fmt::format("initializer '{}'", name),
                      "TorchRec's DLRM_DCN", "torch.save");
  }
}

}  // namespace
}  // namespace dlrm::import
