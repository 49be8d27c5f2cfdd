#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/sharding/model_writer.h"
#include "dlrm/model/dense_file.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/sharding/source.h"

namespace fs = std::filesystem;

namespace dlrm::sharding {
namespace {

using test::TempDir;

constexpr uint64_t kSeed = 20240611;

std::vector<float> rows_of(ModelSource& source, int table, int64_t row_begin, int64_t rows, int col_begin,
                           int col_end) {
  std::vector<float> out(static_cast<size_t>(rows) * (col_end - col_begin));
  source.read_rows(table, row_begin, rows, col_begin, col_end, out.data());
  return out;
}

TEST(ShardSynthSource, SameSeedSameValuesAnyChunking) {
  std::printf("seed %llu\n", static_cast<unsigned long long>(kSeed));
  model::ModelArch arch = model::make_preset("small");
  auto a = make_synth_source(arch, kSeed);
  auto b = make_synth_source(arch, kSeed);
  std::vector<float> whole = rows_of(*a, 3, 0, 100, 0, arch.dim);
  EXPECT_EQ(whole, rows_of(*b, 3, 0, 100, 0, arch.dim));
  std::vector<float> first = rows_of(*b, 3, 0, 37, 0, arch.dim);
  std::vector<float> rest = rows_of(*b, 3, 37, 63, 0, arch.dim);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(whole, first) << "chunk boundaries must not change values";
  std::vector<float> cols = rows_of(*b, 3, 10, 5, 4, 12);
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 8; ++c) EXPECT_EQ(cols[r * 8 + c], whole[(10 + r) * arch.dim + 4 + c]);
  }
}

TEST(ShardSynthSource, SeedAndTableChangeValues) {
  std::printf("seed %llu\n", static_cast<unsigned long long>(kSeed));
  model::ModelArch arch = model::make_preset("small");
  auto a = make_synth_source(arch, kSeed);
  auto b = make_synth_source(arch, kSeed + 1);
  EXPECT_NE(rows_of(*a, 0, 0, 4, 0, arch.dim), rows_of(*b, 0, 0, 4, 0, arch.dim));
  EXPECT_NE(rows_of(*a, 0, 0, 4, 0, arch.dim), rows_of(*a, 1, 0, 4, 0, arch.dim));
  EXPECT_NE(rows_of(*a, 0, 0, 1, 0, arch.dim), rows_of(*a, 0, 1, 1, 0, arch.dim));
}

TEST(ShardSynthSource, TableValuesFollowReferenceInit) {
  std::printf("seed %llu\n", static_cast<unsigned long long>(kSeed));
  model::ModelArch arch = model::make_preset("small");
  auto source = make_synth_source(arch, kSeed);
  std::vector<float> values = rows_of(*source, 0, 0, 1000, 0, arch.dim);  // 16000 draws
  const double bound = std::sqrt(1.0 / 1000);
  double sum = 0, sum_sq = 0;
  for (float v : values) {
    ASSERT_LE(std::abs(v), bound);
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  double n = static_cast<double>(values.size());
  // Uniform(-b, b): mean 0 (std of the mean b/sqrt(3n) ~ 1.4e-4), variance b^2/3.
  EXPECT_NEAR(sum / n, 0.0, 6 * bound / std::sqrt(3 * n));
  EXPECT_NEAR(sum_sq / n, bound * bound / 3, 0.05 * bound * bound / 3);
}

TEST(ShardSynthSource, DenseTensorsFollowSpecs) {
  model::ModelArch arch = model::make_preset("terabyte-40m");
  std::vector<model::DenseTensorSpec> specs = model::dense_tensor_specs(arch);
  ASSERT_EQ(specs.size(), 16u);  // 3 bottom + 5 top layers, weight and bias each
  EXPECT_EQ(specs[0].name, "bot_l.0.weight");
  EXPECT_EQ(specs[0].shape, (std::vector<int64_t>{512, 13}));
  EXPECT_EQ(specs[5].name, "bot_l.4.bias");
  EXPECT_EQ(specs[5].shape, (std::vector<int64_t>{128}));
  EXPECT_EQ(specs[6].name, "top_l.0.weight");
  EXPECT_EQ(specs[6].shape, (std::vector<int64_t>{1024, 479}));
  EXPECT_EQ(specs[14].name, "top_l.8.weight");
  EXPECT_EQ(specs[14].shape, (std::vector<int64_t>{1, 256}));
  uint64_t params = 0;
  for (const auto& s : specs) {
    uint64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    params += n;
  }
  EXPECT_NEAR(static_cast<double>(params), 2.37e6, 0.01e6);  // DESIGN.md: 2.37M MLP parameters

  auto source = make_synth_source(arch, kSeed);
  std::vector<float> w = source->read_dense("top_l.0.weight", {1024, 479});
  double sum_sq = 0;
  for (float v : w) sum_sq += static_cast<double>(v) * v;
  double expect_var = 2.0 / (1024 + 479);
  EXPECT_NEAR(sum_sq / w.size(), expect_var, 0.03 * expect_var);  // 490k draws: var estimate within ~0.6%
  EXPECT_EQ(w, make_synth_source(arch, kSeed)->read_dense("top_l.0.weight", {1024, 479}));
  EXPECT_ERROR_WITH(source->read_dense("top_l.0.weight", {1024, 480}), "top_l.0.weight", "(1024, 479)");
  EXPECT_ERROR_WITH(source->read_dense("emb_l.0.weight", {1, 1}), "emb_l.0.weight");
}

TEST(ShardSynthSource, OutOfRangeReadsRejected) {
  model::ModelArch arch = model::make_preset("small");
  auto source = make_synth_source(arch, kSeed);
  std::vector<float> dst(64);
  EXPECT_ERROR_WITH(source->read_rows(26, 0, 1, 0, 16, dst.data()), "table 26");
  EXPECT_ERROR_WITH(source->read_rows(5, 2, 2, 0, 16, dst.data()), "table 5");
  EXPECT_ERROR_WITH(source->read_rows(0, 0, 1, 8, 17, dst.data()), "columns");
}

// Row r of table t as stored in a model directory, found in whichever shard holds it.
std::vector<float> stored_row(const std::vector<model::ShardFile>& files, int table, int64_t row, int dim) {
  std::vector<float> out(dim, std::nanf(""));
  for (const auto& file : files) {
    for (size_t s = 0; s < file.slices().size(); ++s) {
      const model::ShardSliceRecord& r = file.slices()[s];
      if (r.table != static_cast<uint32_t>(table) || static_cast<uint64_t>(row) < r.row_begin ||
          static_cast<uint64_t>(row) >= r.row_end) {
        continue;
      }
      const uint8_t* src = file.slice_rows(static_cast<int>(s)) + (row - r.row_begin) * r.row_stride;
      std::memcpy(out.data() + r.col_begin, src, (r.col_end - r.col_begin) * sizeof(float));
    }
  }
  return out;
}

std::vector<model::ShardFile> open_model(const fs::path& dir) {
  model::Manifest m = model::load_manifest(dir);
  std::vector<model::ShardFile> files;
  for (const auto& info : m.shards) files.push_back(model::ShardFile::open(dir / info.file));
  return files;
}

TEST(ShardSynthSource, BytesIndependentOfShardCountAndPlan) {
  std::printf("seed %llu\n", static_cast<unsigned long long>(kSeed));
  TempDir dir;
  model::ModelArch arch = model::make_preset("small");
  struct Layout {
    PlanKind kind;
    int shards;
  };
  std::vector<std::vector<model::ShardFile>> models;
  for (Layout layout : {Layout{PlanKind::kAuto, 1}, Layout{PlanKind::kAuto, 3}, Layout{PlanKind::kRow, 4},
                        Layout{PlanKind::kColumn, 5}}) {
    auto source = make_synth_source(arch, kSeed);
    WriteOptions options;
    options.plan.kind = layout.kind;
    options.plan.shards = layout.shards;
    options.progress = false;
    options.chunk_bytes = 4096;  // many chunks per slice
    fs::path out = dir / (to_string(layout.kind) + std::to_string(layout.shards));
    write_model(*source, options, out);
    models.push_back(open_model(out));
  }
  auto source = make_synth_source(arch, kSeed);
  for (int t = 0; t < arch.num_tables(); ++t) {
    for (int64_t row : {int64_t{0}, arch.table_rows[t] / 2, arch.table_rows[t] - 1}) {
      std::vector<float> expect = rows_of(*source, t, row, 1, 0, arch.dim);
      for (size_t m = 0; m < models.size(); ++m) {
        std::vector<float> got = stored_row(models[m], t, row, arch.dim);
        ASSERT_EQ(std::memcmp(got.data(), expect.data(), arch.dim * sizeof(float)), 0)
            << "table " << t << " row " << row << " differs in layout " << m;
      }
    }
  }
}

}  // namespace
}  // namespace dlrm::sharding
