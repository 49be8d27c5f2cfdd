// ReferenceModel: rows assembled from any sharding give the same predictions,
// which match a direct evaluation from the weight source; kRef vs kFast;
// --fold-indices; bad indices and bad files.
#include "dlrm/reference/reference_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <vector>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/dense/interaction.h"
#include "dlrm/dense/mlp.h"
#include "dlrm/sharding/model_writer.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/sharding/source.h"

namespace fs = std::filesystem;
using dlrm::datasets::Dataset;
using dlrm::reference::Kernels;
using dlrm::datasets::RecordLayout;
using dlrm::reference::ReferenceModel;

namespace {

constexpr uint64_t kWeightSeed = 5;
constexpr uint64_t kDataSeed = 20240611;
// Not a multiple of predict()'s 256-sample chunk, so the short last chunk is covered.
constexpr int64_t kSamples = 1000;

struct Sharding {
  const char* name;
  dlrm::sharding::PlanKind kind;
  int shards;
};
// One file; every table split in row ranges over 3 files; every table split in
// 2 column blocks spread over 3 files; the balanced planner on 2 files.
const Sharding kShardings[] = {{"table1", dlrm::sharding::PlanKind::kTable, 1},
                               {"row3", dlrm::sharding::PlanKind::kRow, 3},
                               {"column3", dlrm::sharding::PlanKind::kColumn, 3},
                               {"auto2", dlrm::sharding::PlanKind::kAuto, 2}};

class ReferenceModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_.emplace();
    dir_ = tmp_->path();
    arch_ = dlrm::model::make_preset("small");
    std::printf("weights seed %llu, data seed %llu\n", static_cast<unsigned long long>(kWeightSeed),
                static_cast<unsigned long long>(kDataSeed));
    for (const Sharding& sharding : kShardings) {
      auto source = dlrm::sharding::make_synth_source(arch_, kWeightSeed);
      dlrm::sharding::WriteOptions options;
      options.plan.kind = sharding.kind;
      options.plan.shards = sharding.shards;
      options.plan.column_splits = 2;
      options.progress = false;
      dlrm::sharding::write_model(*source, options, dir_ / sharding.name);
    }
    // Records: labels 0/1, dense counts in [-1, 200), indices uniform in each table.
    layout_ = dlrm::datasets::RecordLayout{arch_.dense_features, arch_.num_tables()};
    std::mt19937_64 rng(kDataSeed);
    records_.resize(kSamples * layout_.record_ints());
    for (int64_t i = 0; i < kSamples; ++i) {
      int32_t* rec = records_.data() + i * layout_.record_ints();
      rec[0] = static_cast<int32_t>(rng() % 2);
      for (int f = 0; f < arch_.dense_features; ++f) rec[1 + f] = static_cast<int32_t>(rng() % 201) - 1;
      for (int t = 0; t < arch_.num_tables(); ++t) {
        rec[1 + arch_.dense_features + t] = static_cast<int32_t>(rng() % arch_.table_rows[t]);
      }
    }
    data_path_ = write_records("data.bin", records_);
  }
  static void TearDownTestSuite() { tmp_.reset(); }

  static fs::path write_records(const std::string& name, const std::vector<int32_t>& records) {
    fs::path path = dir_ / name;
    dlrm::test::write_file(path, std::string(reinterpret_cast<const char*>(records.data()), records.size() * 4));
    return path;
  }

  static std::vector<float> predict_all(const fs::path& model_dir, Kernels kernels, const fs::path& data_path,
                                        bool fold = false) {
    ReferenceModel model = ReferenceModel::load(model_dir, kernels);
    dlrm::datasets::Dataset data = dlrm::datasets::Dataset::open(data_path, layout_);
    std::vector<float> dst(data.samples(), -1.0f);
    model.predict(data, 0, data.samples(), dst.data(), fold);
    return dst;
  }

  static inline std::optional<dlrm::test::TempDir> tmp_;
  static inline fs::path dir_;
  static inline dlrm::model::ModelArch arch_;
  static inline dlrm::datasets::RecordLayout layout_;
  static inline std::vector<int32_t> records_;
  static inline fs::path data_path_;
};

// The assembled rows are the same bytes whatever the plan, and every later
// stage sums in the same order, so predictions agree to the bit.
TEST_F(ReferenceModelTest, BitIdenticalAcrossShardings) {
  for (Kernels kernels : {Kernels::kRef, Kernels::kFast}) {
    std::vector<float> first = predict_all(dir_ / kShardings[0].name, kernels, data_path_);
    float lo = 1, hi = 0;
    for (float p : first) {
      ASSERT_TRUE(p > 0.0f && p < 1.0f) << p;
      lo = std::min(lo, p);
      hi = std::max(hi, p);
    }
    EXPECT_LT(lo, hi);  // the predictions depend on the sample
    for (const Sharding& sharding : kShardings) {
      std::vector<float> other = predict_all(dir_ / sharding.name, kernels, data_path_);
      EXPECT_EQ(std::memcmp(first.data(), other.data(), first.size() * sizeof(float)), 0)
          << sharding.name << (kernels == Kernels::kRef ? " ref" : " fast");
    }
  }
}

// An independent path to the same numbers: weights straight from the source
// (no files), rows read whole, then the _ref kernels one sample at a time.
TEST_F(ReferenceModelTest, MatchesDirectEvaluationFromTheSource) {
  auto source = dlrm::sharding::make_synth_source(arch_, kWeightSeed);
  auto layers = [&](const char* prefix, int in, const std::vector<int>& widths, bool sigmoid_last) {
    std::vector<dlrm::dense::Layer> out;
    for (size_t l = 0; l < widths.size(); ++l) {
      dlrm::dense::Layer layer;
      layer.in = in;
      layer.out = widths[l];
      layer.weight = source->read_dense(fmt::format("{}.{}.weight", prefix, 2 * l), {layer.out, layer.in});
      layer.bias = source->read_dense(fmt::format("{}.{}.bias", prefix, 2 * l), {layer.out});
      layer.act = sigmoid_last && l + 1 == widths.size() ? dlrm::dense::Activation::kSigmoid
                                                         : dlrm::dense::Activation::kRelu;
      out.push_back(std::move(layer));
      in = widths[l];
    }
    return out;
  };
  auto bottom = layers("bot_l", arch_.dense_features, arch_.bottom_mlp, false);
  auto top = layers("top_l", arch_.top_input_width(), arch_.top_mlp, true);
  dlrm::dense::InteractionShape shape{arch_.num_tables(), arch_.dim, arch_.interaction_self};

  std::vector<float> expected(kSamples);
  for (int64_t i = 0; i < kSamples; ++i) {
    const int32_t* rec = records_.data() + i * layout_.record_ints();
    std::vector<float> dense(arch_.dense_features), x(arch_.dim), emb(arch_.num_tables() * arch_.dim),
        top_in(shape.width());
    for (int f = 0; f < arch_.dense_features; ++f) {
      dense[f] = static_cast<float>(std::log1p(static_cast<double>(std::max(rec[1 + f], 0))));
    }
    for (int t = 0; t < arch_.num_tables(); ++t) {
      source->read_rows(t, rec[1 + arch_.dense_features + t], 1, 0, arch_.dim, emb.data() + t * arch_.dim);
    }
    dlrm::dense::mlp_forward_ref(bottom, dense.data(), 1, x.data());
    dlrm::dense::interaction_dot_ref(shape, x.data(), dlrm::dense::EmbeddingRows::block(emb.data(), shape.tables, shape.dim), 1,
                                     top_in.data(), shape.width());
    dlrm::dense::mlp_forward_ref(top, top_in.data(), 1, &expected[i]);
  }
  for (const Sharding& sharding : kShardings) {
    std::vector<float> got = predict_all(dir_ / sharding.name, Kernels::kRef, data_path_);
    for (int64_t i = 0; i < kSamples; ++i) ASSERT_EQ(got[i], expected[i]) << sharding.name << " sample " << i;
  }
}

// Tolerance: the fast path reorders fp32 sums (oneDNN blocking, the blocked
// interaction). Reordering a K-term sum changes it by at most about
// K u sum|terms| (u = 2^-24), typically sqrt(K) u sum|terms|. The widest sum is
// the first top layer, K = 367 (16 + 27*26/2); with sum|terms| a few times the
// layer's output scale (~1 here) and four layers compounding, the logit moves by
// ~ 4 * sqrt(367) * 6e-8 * 10 = 5e-5 at most in practice, and the sigmoid's slope
// (<= 1/4) shrinks that: 2e-5 bounds |p_ref - p_fast|. A wrong row, weight or
// activation moves p by ~1e-2, far outside it.
TEST_F(ReferenceModelTest, RefAndFastAgreeWithinDerivedTolerance) {
  constexpr double kTolerance = 2e-5;
  std::vector<float> ref = predict_all(dir_ / "column3", Kernels::kRef, data_path_);
  std::vector<float> fast = predict_all(dir_ / "column3", Kernels::kFast, data_path_);
  double max_diff = 0;
  for (int64_t i = 0; i < kSamples; ++i) max_diff = std::max(max_diff, std::abs(double(ref[i]) - fast[i]));
  std::printf("max |ref - fast| = %.3g over %lld samples\n", max_diff, static_cast<long long>(kSamples));
  EXPECT_LE(max_diff, kTolerance);
}

// Per-sample arithmetic of the _ref kernels does not depend on the batch, so a
// sub-range reproduces its slice of the full run.
TEST_F(ReferenceModelTest, SubRangesMatchTheFullRun) {
  std::vector<float> full = predict_all(dir_ / "row3", Kernels::kRef, data_path_);
  ReferenceModel model = ReferenceModel::load(dir_ / "row3", Kernels::kRef);
  dlrm::datasets::Dataset data = dlrm::datasets::Dataset::open(data_path_, layout_);
  std::vector<float> part(300);
  model.predict(data, 700, 300, part.data());
  for (int i = 0; i < 300; ++i) ASSERT_EQ(part[i], full[700 + i]) << "sample " << 700 + i;
  model.predict(data, 0, 0, part.data());  // nothing to do
  EXPECT_THROW(model.predict(data, 900, 101, part.data()), dlrm::Error);
  EXPECT_THROW(model.predict(data, -1, 10, part.data()), dlrm::Error);
}

// Indices shifted by multiples of the table size (and negative ones) fold back
// to the original rows: same predictions bit for bit; without folding, the
// first bad one is an error naming sample and table.
TEST_F(ReferenceModelTest, FoldIndicesMapsModuloTableRows) {
  std::vector<int32_t> shifted = records_;
  const int dense = arch_.dense_features;
  for (int64_t i = 0; i < kSamples; ++i) {
    int32_t* idx = shifted.data() + i * layout_.record_ints() + 1 + dense;
    for (int t = 0; t < arch_.num_tables(); ++t) {
      const int32_t rows = static_cast<int32_t>(arch_.table_rows[t]);
      switch ((i + t) % 3) {
        case 0: break;
        case 1: idx[t] += rows * static_cast<int32_t>(1 + i % 5); break;
        case 2: idx[t] -= rows; break;  // negative: folds to rows + idx - rows = idx
      }
    }
  }
  fs::path shifted_path = write_records("shifted.bin", shifted);
  std::vector<float> original = predict_all(dir_ / "table1", Kernels::kRef, data_path_);
  std::vector<float> folded = predict_all(dir_ / "table1", Kernels::kRef, shifted_path, true);
  EXPECT_EQ(std::memcmp(original.data(), folded.data(), original.size() * sizeof(float)), 0);
  // Folding in-range data changes nothing.
  std::vector<float> folded_plain = predict_all(dir_ / "table1", Kernels::kRef, data_path_, true);
  EXPECT_EQ(std::memcmp(original.data(), folded_plain.data(), original.size() * sizeof(float)), 0);

  // Sample 0 table 1 is shifted (case (0 + 1) % 3 == 1): index r + rows.
  const int32_t first_bad = shifted[1 + dense + 1];
  EXPECT_ERROR_WITH(predict_all(dir_ / "table1", Kernels::kRef, shifted_path),
                    fmt::format("sample 0 table 1: index {} outside [0, {})", first_bad, arch_.table_rows[1]),
                    "--fold-indices", shifted_path.string());
}

TEST_F(ReferenceModelTest, BadIndexInALaterChunkIsAnError) {
  std::vector<int32_t> bad = records_;
  const int table = 7;
  bad[300 * layout_.record_ints() + 1 + arch_.dense_features + table] = static_cast<int32_t>(arch_.table_rows[table]);
  fs::path path = write_records("bad.bin", bad);
  for (Kernels kernels : {Kernels::kRef, Kernels::kFast}) {
    EXPECT_ERROR_WITH(predict_all(dir_ / "row3", kernels, path),
                      fmt::format("sample 300 table 7: index {0} outside [0, {0})", arch_.table_rows[table]));
  }
}

TEST_F(ReferenceModelTest, DataForAnotherModelIsAnError) {
  ReferenceModel model = ReferenceModel::load(dir_ / "table1", Kernels::kRef);
  dlrm::datasets::RecordLayout other{arch_.dense_features, arch_.num_tables() - 1};
  std::vector<int32_t> records(10 * other.record_ints(), 0);
  dlrm::datasets::Dataset data = dlrm::datasets::Dataset::from_records(records.data(), 10, other, "other.bin");
  std::vector<float> dst(10);
  EXPECT_ERROR_WITH(model.predict(data, 0, 10, dst.data()), "other.bin", "25 indices", "26 tables");
}

TEST_F(ReferenceModelTest, MissingModelAndCorruptShardAreErrors) {
  EXPECT_ERROR_WITH(ReferenceModel::load(dir_ / "no-such-model", Kernels::kRef), "no-such-model");

  // Flip one byte of shard 1's rows in a copy of the model.
  const fs::path copy = dir_ / "row3-corrupt";
  fs::copy(dir_ / "row3", copy, fs::copy_options::recursive);
  const fs::path shard_path = copy / "shard-001.bin";
  uint64_t offset;
  {
    auto file = dlrm::model::ShardFile::open(shard_path);
    offset = file.header().header_bytes + 100;
  }
  dlrm::test::flip_byte(shard_path, offset, 0x40);
  EXPECT_ERROR_WITH(ReferenceModel::load(copy, Kernels::kRef, /*verify=*/true), "shard-001.bin");
  // Without verification the damage goes unnoticed at load (the model still loads).
  EXPECT_NO_THROW(ReferenceModel::load(copy, Kernels::kRef, /*verify=*/false));
}

}  // namespace
