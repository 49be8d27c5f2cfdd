// ONNX models: inline raw_data, typed float_data, fp16 int32_data, external
// data files, Gemm(transB=0) and MatMul weights presented [out, in]; missing
// or short external files, escaping locations, truncated and damaged models.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>

#include "dlrm/common/error.h"
#include "dlrm/common/half.h"
#include "dlrm/import/onnx_model.h"
#include "fixtures.h"

namespace fs = std::filesystem;

namespace dlrm::import {
namespace {

using test::fixtures;

struct Case {
  const char* file;
  const char* expected;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }


class OnnxLayouts : public ::testing::TestWithParam<Case> {};

TEST_P(OnnxLayouts, ReadsEveryTensorExactly) {
  REQUIRE_FIXTURES();
  auto model = OnnxModel::open(fixtures() / GetParam().file);
  std::vector<std::string> names;
  for (const TensorInfo& t : model->tensors()) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, test::expected_keys());
  EXPECT_EQ(model->ignored_initializers(), std::vector<std::string>{"onnx::Gather_7"});
  for (size_t i = 0; i < model->tensors().size(); ++i) {
    const TensorInfo& info = model->tensors()[i];
    std::vector<int64_t> shape;
    std::vector<float> want = test::expected_values(GetParam().expected, info.name, &shape);
    ASSERT_EQ(info.shape, shape) << info.name;
    const int64_t rows = shape.size() == 2 ? shape[0] : 1;
    const int64_t cols = shape.back();
    std::vector<float> got(want.size());
    model->read_block(i, 0, rows, 0, cols, got.data());
    ASSERT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4)) << GetParam().file << " " << info.name;
    if (rows >= 4 && cols >= 3) {
      std::vector<float> block(6);
      model->read_block(i, 1, 3, 1, 3, block.data());
      for (int r = 0; r < 3; ++r) {
        for (int k = 0; k < 2; ++k) EXPECT_EQ(block[r * 2 + k], want[(1 + r) * cols + 1 + k]) << info.name;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Files, OnnxLayouts,
                         ::testing::Values(Case{"inline.onnx", "expected"}, Case{"typed.onnx", "expected"},
                                           Case{"transposed.onnx", "expected"},
                                           Case{"external/model.onnx", "expected"},
                                           Case{"fp16.onnx", "expected_fp16"}),
                         [](const auto& info) {
                           std::string s = info.param.file;
                           for (char& ch : s) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return s;
                         });

TEST(OnnxModel, TransposedWeightsAreDetectedFromNodes) {
  REQUIRE_FIXTURES();
  auto model = OnnxModel::open(fixtures() / "transposed.onnx");
  std::set<std::string> transposed;
  for (size_t i = 0; i < model->tensors().size(); ++i) {
    if (model->transposed(i)) transposed.insert(model->tensors()[i].name);
  }
  EXPECT_EQ(transposed, (std::set<std::string>{"bot_l.0.weight", "top_l.0.weight"}));
  auto source = open_onnx_source(fixtures() / "external/model.onnx", 0);
  EXPECT_EQ(source->arch().table_rows, (std::vector<int64_t>{7, 5, 11}));
  EXPECT_EQ(source->arch().top_mlp, (std::vector<int>{6, 1}));
  EXPECT_NE(source->describe().find("external data"), std::string::npos);
}

void copy_dir(const fs::path& src, const fs::path& dst) {
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) fs::copy_file(e.path(), dst / e.path().filename());
}

TEST(OnnxModel, MissingExternalFileIsNamed) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  copy_dir(fixtures() / "external", dir / "m");
  fs::remove(dir / "m" / "emb_l.1.weight");
  EXPECT_ERROR_WITH(OnnxModel::open(dir / "m" / "model.onnx"), (dir / "m" / "emb_l.1.weight").string(),
                    "does not exist", "initializer 'emb_l.1.weight'");
}

TEST(OnnxModel, ShortExternalFileIsNamed) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  copy_dir(fixtures() / "external", dir / "m");
  fs::resize_file(dir / "m" / "emb_l.2.weight", 40);
  EXPECT_ERROR_WITH(OnnxModel::open(dir / "m" / "model.onnx"), "emb_l.2.weight", "is short", "[0, 176)",
                    "has 40 bytes");
}

TEST(OnnxModel, TruncatedModelIsRefused) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  for (const char* file : {"inline.onnx", "typed.onnx", "external/model.onnx"}) {
    const uint64_t size = fs::file_size(fixtures() / file);
    for (uint64_t cut : {uint64_t{1}, size / 3, size / 2, size - 30, size - 1}) {
      const fs::path p = dir / (std::to_string(cut) + fs::path(file).filename().string());
      test::copy_prefix(fixtures() / file, p, cut);
      if (std::string(file).find("external") != std::string::npos) {
        for (const auto& e : fs::directory_iterator(fixtures() / "external")) {
          if (!fs::exists(dir / e.path().filename())) fs::copy_file(e.path(), dir / e.path().filename());
        }
      }
      try {
        auto model = OnnxModel::open(p);
        // A cut that lands between fields leaves a shorter valid model:
        // then some tensor (or the graph) is missing.
        auto source = make_state_dict_source(std::move(model), 0);
        ADD_FAILURE() << p << " (" << cut << " of " << size << " bytes) was accepted";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
      }
    }
  }
}

// A model built here: one external tensor whose location is `location`.
void write_external_model(const fs::path& path, const std::string& location, const std::string& length) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  onnx::TensorProto* t = model.mutable_graph()->add_initializer();
  t->set_name("emb_l.0.weight");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(2);
  t->add_dims(4);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = t->add_external_data();
  e->set_key("location");
  e->set_value(location);
  if (!length.empty()) {
    e = t->add_external_data();
    e->set_key("length");
    e->set_value(length);
  }
  std::ofstream out(path, std::ios::binary);
  ASSERT_TRUE(model.SerializeToOstream(&out));
}

TEST(OnnxModel, ExternalLocationsStayNextToTheModel) {
  test::TempDir dir;
  fs::create_directories(dir / "m");
  test::write_file(dir / "secret", std::string(32, '\0'));
  write_external_model(dir / "m" / "up.onnx", "../secret", "");
  EXPECT_ERROR_WITH(OnnxModel::open(dir / "m" / "up.onnx"), "'../secret'", "leaves the model's directory");
  write_external_model(dir / "m" / "abs.onnx", (dir / "secret").string(), "");
  EXPECT_ERROR_WITH(OnnxModel::open(dir / "m" / "abs.onnx"), "leaves the model's directory");
  test::write_file(dir / "m" / "w", std::string(32, '\0'));
  write_external_model(dir / "m" / "len.onnx", "w", "16");
  EXPECT_ERROR_WITH(OnnxModel::open(dir / "m" / "len.onnx"), "length 16", "needs 32 bytes");
  write_external_model(dir / "m" / "ok.onnx", "w", "32");
  EXPECT_EQ(OnnxModel::open(dir / "m" / "ok.onnx")->tensors().size(), 1u);
}

// Column slices of a table larger than the 8 MiB read buffer (9000 x 300
// fp32: about 7000 rows per read, so two reads) and of its fp16 twin: every
// value equals the one a whole-table read gives.
TEST(OnnxModel, ColumnSlicesOfABigTable) {
  constexpr int64_t kRows = 9000, kCols = 300;
  test::TempDir dir;
  onnx::ModelProto model;
  model.set_ir_version(8);
  std::vector<float> f32(kRows * kCols);
  std::vector<uint16_t> f16(kRows * kCols);
  for (int64_t i = 0; i < kRows * kCols; ++i) {
    f32[i] = static_cast<float>(i);                               // exact below 2^24
    f16[i] = static_cast<uint16_t>((i * 131 + i / kCols) % 0x7c00);  // finite fp16 values
  }
  auto add = [&](const char* name, onnx::TensorProto::DataType type, const void* data, size_t bytes) {
    onnx::TensorProto* t = model.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    t->add_dims(kRows);
    t->add_dims(kCols);
    t->set_raw_data(data, bytes);
  };
  add("emb_l.0.weight", onnx::TensorProto::FLOAT, f32.data(), f32.size() * 4);
  add("emb_l.1.weight", onnx::TensorProto::FLOAT16, f16.data(), f16.size() * 2);
  {
    std::ofstream out(dir / "big.onnx", std::ios::binary);
    ASSERT_TRUE(model.SerializeToOstream(&out));
  }
  auto onnx = OnnxModel::open(dir / "big.onnx");
  ASSERT_EQ(onnx->tensors().size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    std::vector<float> all(kRows * kCols);
    onnx->read_block(i, 0, kRows, 0, kCols, all.data());
    for (int64_t k = 0; k < kRows * kCols; k += 997) {
      ASSERT_EQ(all[k], i == 0 ? f32[k] : fp16_to_float(f16[k])) << k;
    }
    struct Block {
      int64_t row_begin, rows, col_begin, col_end;
    };
    for (const Block& s : {Block{0, kRows, 0, 150}, Block{1, kRows - 2, 7, 290}, Block{5, 8000, 299, 300},
                           Block{6990, 2010, 1, 2}, Block{3, 4, 100, 200}}) {
      const int64_t cols = s.col_end - s.col_begin;
      std::vector<float> got(s.rows * cols);
      onnx->read_block(i, s.row_begin, s.rows, s.col_begin, s.col_end, got.data());
      for (int64_t r = 0; r < s.rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          ASSERT_EQ(got[r * cols + c], all[(s.row_begin + r) * kCols + s.col_begin + c])
              << "tensor " << i << " rows [" << s.row_begin << ", " << s.row_begin + s.rows << ") cols ["
              << s.col_begin << ", " << s.col_end << ") row " << r << " col " << c;
        }
      }
    }
  }
}

TEST(OnnxModel, NotAModel) {
  test::TempDir dir;
  test::write_file(dir / "x.onnx", std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12));
  EXPECT_ERROR_WITH(OnnxModel::open(dir / "x.onnx"), "x.onnx", "malformed protobuf");
  test::write_file(dir / "empty.onnx", "");
  EXPECT_ERROR_WITH(OnnxModel::open(dir / "empty.onnx"), "empty.onnx", "empty");
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.mutable_graph()->set_name("g");
  std::ofstream(dir / "none.onnx", std::ios::binary) << model.SerializeAsString();
  EXPECT_ERROR_WITH(OnnxModel::open(dir / "none.onnx"), "none.onnx", "no initializer is named like");
}

}  // namespace
}  // namespace dlrm::import
