#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "test_files.h"
#include "dlrm/import/import.h"
#include "dlrm/model/verify.h"
#include "dlrm/common/error.h"
#include "dlrm/common/npy.h"
#include "dlrm/sharding/model_writer.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/sharding/source.h"

namespace fs = std::filesystem;

namespace dlrm::import {
namespace {

using test::TempDir;

// A small DLRM state_dict: 3 tables of dim 4, 3 dense features, bottom 3-8-4,
// top (4 + 4*3/2 = 10)-6-1.
constexpr int kDim = 4;
const std::vector<int64_t> kRows = {5, 7, 4};

float table_value(int t, int64_t r, int c) { return static_cast<float>(t * 1000 + r * 10 + c) * 0.5f; }

// fp16 bit pattern of small integers and halves (exactly representable).
uint16_t to_half(float v) {
  if (v == 0.0f) return 0;
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  int exp = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
  uint16_t mant = static_cast<uint16_t>((bits >> 13) & 0x3ffu);
  return static_cast<uint16_t>(sign | (exp << 10) | mant);
}

void write_f32(const fs::path& path, const std::vector<int64_t>& shape, const std::vector<float>& values) {
  std::string bytes = npy_header_bytes("<f4", shape);
  bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  test::write_file(path, bytes);
}

void write_f16(const fs::path& path, const std::vector<int64_t>& shape, const std::vector<float>& values) {
  std::string bytes = npy_header_bytes("<f2", shape);
  for (float v : values) {
    uint16_t h = to_half(v);
    bytes.append(reinterpret_cast<const char*>(&h), 2);
  }
  test::write_file(path, bytes);
}

void write_f64(const fs::path& path, const std::vector<int64_t>& shape, const std::vector<float>& values) {
  std::string bytes = npy_header_bytes("<f8", shape);
  for (float v : values) {
    double d = v;
    bytes.append(reinterpret_cast<const char*>(&d), 8);
  }
  test::write_file(path, bytes);
}

std::vector<float> ramp(size_t count, float start) {
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = start + 0.125f * static_cast<float>(i);
  return v;
}

void write_table(const fs::path& dir, int t, int64_t rows, int dim, bool half = false) {
  std::vector<float> values;
  for (int64_t r = 0; r < rows; ++r) {
    for (int c = 0; c < dim; ++c) values.push_back(table_value(t, r, c));
  }
  fs::path path = dir / ("emb_l." + std::to_string(t) + ".weight.npy");
  half ? write_f16(path, {rows, dim}, values) : write_f32(path, {rows, dim}, values);
}

void write_linear(const fs::path& dir, const std::string& prefix, int index, int64_t out, int64_t in) {
  std::string key = prefix + "." + std::to_string(index);
  write_f32(dir / (key + ".weight.npy"), {out, in}, ramp(out * in, static_cast<float>(index)));
  write_f32(dir / (key + ".bias.npy"), {out}, ramp(out, -1.0f));
}

// The full state_dict; `half_table` (>= 0) is stored as fp16.
void write_state_dict(const fs::path& dir, int half_table = -1) {
  fs::create_directories(dir);
  for (int t = 0; t < 3; ++t) write_table(dir, t, kRows[t], kDim, t == half_table);
  write_linear(dir, "bot_l", 0, 8, 3);
  write_linear(dir, "bot_l", 2, kDim, 8);
  write_linear(dir, "top_l", 0, 6, 10);
  write_linear(dir, "top_l", 2, 1, 6);
}

TEST(ShardNpyImport, InfersArchitecture) {
  TempDir dir;
  write_state_dict(dir / "sd");
  auto source = open_import_source(dir / "sd", 0);
  const model::ModelArch& arch = source->arch();
  EXPECT_EQ(arch.dense_features, 3);
  EXPECT_EQ(arch.dim, kDim);
  EXPECT_EQ(arch.table_rows, kRows);
  EXPECT_EQ(arch.bottom_mlp, (std::vector<int>{8, 4}));
  EXPECT_EQ(arch.top_mlp, (std::vector<int>{6, 1}));
  EXPECT_FALSE(arch.interaction_self);
  EXPECT_EQ(source->describe(), "import npy " + fs::absolute(dir / "sd").lexically_normal().string());
}

TEST(ShardNpyImport, RowsEqualWrittenValues) {
  TempDir dir;
  write_state_dict(dir / "sd", /*half_table=*/1);
  auto source = open_import_source(dir / "sd", 0);
  for (int t = 0; t < 3; ++t) {
    std::vector<float> all(kRows[t] * kDim);
    source->read_rows(t, 0, kRows[t], 0, kDim, all.data());
    for (int64_t r = 0; r < kRows[t]; ++r) {
      for (int c = 0; c < kDim; ++c) ASSERT_EQ(all[r * kDim + c], table_value(t, r, c)) << t << "," << r << "," << c;
    }
    std::vector<float> part(2 * 2);
    source->read_rows(t, 2, 2, 1, 3, part.data());  // rows 2..3, columns 1..2
    for (int r = 0; r < 2; ++r) {
      for (int c = 0; c < 2; ++c) EXPECT_EQ(part[r * 2 + c], table_value(t, 2 + r, 1 + c));
    }
  }
  EXPECT_EQ(source->read_dense("bot_l.2.weight", {kDim, 8}), ramp(kDim * 8, 2.0f));
  EXPECT_EQ(source->read_dense("top_l.2.bias", {1}), ramp(1, -1.0f));
  EXPECT_ERROR_WITH(source->read_dense("top_l.2.bias", {2}), (dir / "sd").string(), "top_l.2.bias has shape (1,)",
                    "(2,) was expected");
}

// float64 arrays are converted; a row longer than the 8 MiB read buffer (the
// first bottom weight: 1.1M float64 values) is read in pieces.
TEST(ShardNpyImport, Float64AndRowsLongerThanTheBuffer) {
  TempDir dir;
  const fs::path sd = dir / "sd";
  write_state_dict(sd);
  std::vector<float> table;
  for (int64_t r = 0; r < kRows[0]; ++r) {
    for (int c = 0; c < kDim; ++c) table.push_back(table_value(0, r, c));
  }
  write_f64(sd / "emb_l.0.weight.npy", {kRows[0], kDim}, table);
  constexpr int64_t kWide = 1'100'000;
  write_f64(sd / "bot_l.0.weight.npy", {1, kWide}, ramp(kWide, 0.0f));
  write_f32(sd / "bot_l.0.bias.npy", {1}, {0.5f});
  write_f32(sd / "bot_l.2.weight.npy", {kDim, 1}, ramp(kDim, 1.0f));
  auto source = open_import_source(sd, 0);
  EXPECT_EQ(source->arch().dense_features, kWide);
  EXPECT_EQ(source->arch().bottom_mlp, (std::vector<int>{1, kDim}));
  std::vector<float> all(kRows[0] * kDim), part(3 * 2);
  source->read_rows(0, 0, kRows[0], 0, kDim, all.data());
  EXPECT_EQ(all, table);
  source->read_rows(0, 1, 3, 2, 4, part.data());  // rows 1..3, columns 2..3
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 2; ++c) EXPECT_EQ(part[r * 2 + c], table_value(0, 1 + r, 2 + c));
  }
  EXPECT_EQ(source->read_dense("bot_l.0.weight", {1, kWide}), ramp(kWide, 0.0f));
}

TEST(ShardNpyImport, RowCapKeepsFirstRows) {
  TempDir dir;
  write_state_dict(dir / "sd");
  auto source = open_import_source(dir / "sd", 5);
  EXPECT_EQ(source->arch().table_rows, (std::vector<int64_t>{5, 5, 4}));
  EXPECT_EQ(source->describe(), "import npy " + fs::absolute(dir / "sd").lexically_normal().string() + " row_cap=5");
  std::vector<float> dst(kDim);
  EXPECT_ERROR_WITH(source->read_rows(1, 5, 1, 0, kDim, dst.data()), "table 1");
}

TEST(ShardNpyImport, NegativeRowCapIsRefused) {
  TempDir dir;
  write_state_dict(dir / "sd");
  EXPECT_ERROR_WITH(open_import_source(dir / "sd", -1), "--row-cap must be >= 0 (0 keeps every row), got -1");
}

TEST(ShardNpyImport, WrittenModelHoldsImportedRows) {
  TempDir dir;
  write_state_dict(dir / "sd");
  auto source = open_import_source(dir / "sd", 0);
  sharding::WriteOptions options;
  options.plan.shards = 2;
  options.plan.kind = sharding::PlanKind::kRow;
  options.progress = false;
  model::Manifest m = sharding::write_model(*source, options, dir / "model");
  EXPECT_NE(m.source.find("import"), std::string::npos);
  EXPECT_NO_THROW(model::verify_model(dir / "model", false));
  for (const auto& info : m.shards) {
    model::ShardFile file = model::ShardFile::open(dir / "model" / info.file);
    for (size_t s = 0; s < file.slices().size(); ++s) {
      const model::ShardSliceRecord& r = file.slices()[s];
      for (uint64_t row = r.row_begin; row < r.row_end; ++row) {
        const auto* values =
            reinterpret_cast<const float*>(file.slice_rows(static_cast<int>(s)) + (row - r.row_begin) * r.row_stride);
        for (uint32_t c = r.col_begin; c < r.col_end; ++c) {
          ASSERT_EQ(values[c - r.col_begin], table_value(static_cast<int>(r.table), static_cast<int64_t>(row), c));
        }
      }
    }
  }
}

// Each bad state_dict must be refused with a message naming the directory,
// the file or key and, for shapes, what was expected and what was found.
struct BadStateDict {
  const char* name;
  void (*damage)(const fs::path& dir);
  std::vector<std::string> message;
};

void PrintTo(const BadStateDict& c, std::ostream* os) { *os << c.name; }

const BadStateDict kBadStateDicts[] = {
    {"missing_table", [](const fs::path& d) { fs::remove(d / "emb_l.1.weight.npy"); },
     {"missing emb_l.1.weight ", "numbered 0..N-1", "found 0, 2"}},
    {"table_dim_differs", [](const fs::path& d) { write_table(d, 2, 4, 5); },
     {"emb_l.2.weight: expected shape (rows, 4)", "found (4, 5)"}},
    {"bottom_chain_broken", [](const fs::path& d) { write_linear(d, "bot_l", 2, 4, 7); },
     {"bot_l.2.weight: expected shape (4, 8)", "found (4, 7)"}},
    {"bottom_end_not_dim", [](const fs::path& d) { write_linear(d, "bot_l", 2, 5, 8); },
     {"bot_l.2.weight: the bottom MLP must end at the embedding dim 4", "found width 5"}},
    {"top_input_wrong", [](const fs::path& d) { write_linear(d, "top_l", 0, 6, 11); },
     {"top_l.0.weight: expected shape (6, 10)", "found (6, 11)"}},
    {"top_end_not_one", [](const fs::path& d) { write_linear(d, "top_l", 2, 2, 6); },
     {"top_l.2.weight: the top MLP must end with width 1", "found width 2"}},
    {"missing_bias", [](const fs::path& d) { fs::remove(d / "bot_l.0.bias.npy"); }, {"missing bot_l.0.bias ", "needs weight and bias"}},
    {"bias_shape", [](const fs::path& d) { write_f32(d / "top_l.0.bias.npy", {5}, ramp(5, 0)); },
     {"top_l.0.bias: expected shape (6,)", "found (5,)"}},
    {"missing_layer",
     [](const fs::path& d) {
       fs::remove(d / "top_l.2.weight.npy");
       fs::remove(d / "top_l.2.bias.npy");
       write_linear(d, "top_l", 4, 1, 6);
     },
     {"missing top_l.2.weight ", "expected Linear layers at 0..4 step 2"}},
    {"no_top_mlp",
     [](const fs::path& d) {
       for (const char* f : {"top_l.0.weight.npy", "top_l.0.bias.npy", "top_l.2.weight.npy", "top_l.2.bias.npy"}) {
         fs::remove(d / f);
       }
     },
     {"missing top_l.0.weight and top_l.0.bias", "no top MLP layers"}},
    {"wrong_dtype",
     [](const fs::path& d) {
       test::write_file(d / "emb_l.0.weight.npy", npy_header_bytes("<i8", {5, 4}) + std::string(5 * 4 * 8, '\0'));
     },
     {"emb_l.0.weight holds <i8 values", "expected float32"}},
    {"fortran_order",
     [](const fs::path& d) {
       std::string header = npy_header_bytes("<f4", {5, 4});
       header.replace(header.find("False"), 5, "True ");
       test::write_file(d / "emb_l.0.weight.npy", header + std::string(5 * 4 * 4, '\0'));
     },
     {"emb_l.0.weight.npy", "Fortran"}},
    {"truncated",
     [](const fs::path& d) { fs::resize_file(d / "emb_l.2.weight.npy", fs::file_size(d / "emb_l.2.weight.npy") - 3); },
     {"emb_l.2.weight.npy", "truncated"}},
    {"bad_magic", [](const fs::path& d) { test::write_file(d / "bot_l.0.weight.npy", "not an array"); },
     {"bot_l.0.weight.npy", "bad magic"}},
    {"unexpected_key", [](const fs::path& d) { write_f32(d / "emb_l.0.weight_scale.npy", {1}, {1.0f}); },
     {"unexpected key 'emb_l.0.weight_scale'", "only emb_l.K.weight, bot_l.I.weight/bias and top_l.I.weight/bias"}},
};

class ShardNpyImportBad : public ::testing::TestWithParam<BadStateDict> {};

TEST_P(ShardNpyImportBad, Refused) {
  TempDir dir;
  fs::path sd = dir / "sd";
  write_state_dict(sd);
  GetParam().damage(sd);
  try {
    open_import_source(sd, 0);
    ADD_FAILURE() << "import accepted a bad state_dict";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one-line message: " << msg;
    EXPECT_NE(msg.find(sd.string()), std::string::npos) << "names the directory | " << msg;
    for (const auto& part : GetParam().message) EXPECT_NE(msg.find(part), std::string::npos) << part << " | " << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(StateDicts, ShardNpyImportBad, ::testing::ValuesIn(kBadStateDicts),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ShardNpyImport, OtherPathKindsRefused) {
  TempDir dir;
  EXPECT_ERROR_WITH(open_import_source(dir / "absent", 0), (dir / "absent").string(), "does not exist");
  // Not checkpoints at all: refused naming the file (whether or not an importer for the kind exists).
  test::write_file(dir / "model.pt", "PK");
  EXPECT_ERROR_WITH(open_import_source(dir / "model.pt", 0), "model.pt");
  test::write_file(dir / "model.onnx", "x");
  EXPECT_ERROR_WITH(open_import_source(dir / "model.onnx", 0), "model.onnx");
  test::write_file(dir / "weights.bin", "x");
  EXPECT_ERROR_WITH(open_import_source(dir / "weights.bin", 0), "weights.bin");
  fs::create_directories(dir / "empty");
  EXPECT_ERROR_WITH(open_import_source(dir / "empty", 0), (dir / "empty").string(), "no .npy files",
                    "emb_l.0.weight.npy");
  // .npy files, but no tables among them.
  fs::create_directories(dir / "no_tables");
  write_linear(dir / "no_tables", "bot_l", 0, 4, 3);
  EXPECT_ERROR_WITH(open_import_source(dir / "no_tables", 0), (dir / "no_tables").string(),
                    "no embedding tables found", "emb_l.0.weight");
}

}  // namespace
}  // namespace dlrm::import
