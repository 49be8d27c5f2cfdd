// Multi-hot data (MLPerf's dlrm-v2 layout): MultiHotWriter's files and
// numpy's read back through Dataset::open_multi_hot and open_samples; bag,
// hotness, part, dense_transform, find_bad_index; every bad input refused
// with a message naming the file and entry.
#include "dlrm/datasets/multi_hot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/multi_hot_writer.h"
#include "dlrm/datasets/open.h"
#include "test_files.h"

namespace fs = std::filesystem;
using namespace dlrm::datasets;

namespace {

// Samples whose every value is a formula of (sample, table, position), so
// that numpy (below) and C++ write the same data with no random generator.
constexpr int64_t kN = 37;
constexpr int kF = 3;
const std::vector<int> kHot = {1, 3, 2, 5};
const std::vector<int64_t> kRows = {10, 20, 30, 40};
const DataShape kShape{kF, 4, kHot};

float dense_of(int64_t i, int f) { return static_cast<float>(i) + static_cast<float>(f) / 8; }
int32_t label_of(int64_t i) { return static_cast<int32_t>(i % 2); }
int32_t index_of(int64_t i, int t, int k) { return static_cast<int32_t>((i * 7 + k * 3 + t) % kRows[t]); }

// Writes the samples with MultiHotWriter, `chunk` samples at a time.
fs::path write_samples(const fs::path& prefix, int64_t chunk) {
  MultiHotWriter out(prefix, kN, kF, kHot);
  for (int64_t begin = 0; begin < kN; begin += chunk) {
    const int64_t n = std::min(chunk, kN - begin);
    std::vector<float> dense;
    std::vector<int32_t> labels;
    std::vector<std::vector<int32_t>> bags(kHot.size());
    for (int64_t i = begin; i < begin + n; ++i) {
      for (int f = 0; f < kF; ++f) dense.push_back(dense_of(i, f));
      labels.push_back(label_of(i));
      for (size_t t = 0; t < kHot.size(); ++t) {
        for (int k = 0; k < kHot[t]; ++k) bags[t].push_back(index_of(i, static_cast<int>(t), k));
      }
    }
    std::vector<const int32_t*> cols;
    for (const auto& b : bags) cols.push_back(b.data());
    out.write(n, dense.data(), labels.data(), cols);
  }
  out.commit();
  return out.prefix();
}

// Every held sample equals the formulas.
void expect_samples(const Dataset& data) {
  ASSERT_TRUE(data.multi_hot());
  ASSERT_EQ(data.samples(), kN);
  std::vector<float> dense(static_cast<size_t>(kN) * kF);
  const int64_t n = data.end_held() - data.first_held();
  dense_transform(data, data.first_held(), static_cast<int>(n), dense.data());
  for (int64_t i = data.first_held(); i < data.end_held(); ++i) {
    ASSERT_EQ(data.label(i), label_of(i)) << "sample " << i;
    for (int f = 0; f < kF; ++f) {
      ASSERT_EQ(dense[(i - data.first_held()) * kF + f], dense_of(i, f)) << "sample " << i << " feature " << f;
      ASSERT_EQ(data.dense_values(i)[f], dense_of(i, f));
    }
    for (int t = 0; t < 4; ++t) {
      ASSERT_EQ(data.hotness(t), kHot[t]);
      for (int k = 0; k < kHot[t]; ++k) ASSERT_EQ(data.bag(i, t)[k], index_of(i, t, k)) << i << " " << t << " " << k;
    }
  }
}

bool have_numpy() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return ok;
}

// numpy writes DIR/day_5_* holding the formulas' samples, changed as `mode` says.
const char* kNumpyScript = R"PY(
import sys, zipfile, numpy as np
d, mode = sys.argv[1], sys.argv[2]
N, F, H, rows = 37, 3, [1, 3, 2, 5], [10, 20, 30, 40]
i = np.arange(N)
dense = (i[:, None] + np.arange(F)[None, :] / 8).astype(np.float32)
labels = (i % 2).astype(np.int32).reshape(N, 1)
bags = {str(t): ((i[:, None] * 7 + np.arange(H[t])[None, :] * 3 + t) % rows[t]).astype(np.int32) for t in range(4)}
if mode == 'dense_f8': dense = dense.astype(np.float64)
if mode == 'dense_width': dense = np.zeros((N, 4), np.float32)
if mode == 'labels_i8': labels = labels.astype(np.int64)
if mode == 'labels_short': labels = labels[:-1]
if mode == 'bag_i8': bags['2'] = bags['2'].astype(np.int64)
if mode == 'bag_rows': bags['3'] = np.zeros((N + 1, 5), np.int32)
if mode == 'bag_hotness': bags['1'] = np.zeros((N, 4), np.int32)
if mode == 'bag_fortran': bags['1'] = np.asfortranarray(bags['1'])
if mode == 'missing_entry': del bags['3']
if mode == 'extra_entry': bags['x'] = bags['0']
if mode == 'bad_index':
    bags['3'][20, 4] = -1; bags['2'][20, 1] = 30; bags['1'][25, 0] = 99
np.save(d + '/day_5_dense.npy', dense)
np.save(d + '/day_5_labels.npy', labels)
save = np.savez_compressed if mode == 'compressed' else np.savez
if mode != 'no_sparse': save(d + '/day_5_sparse_multi_hot.npz', **bags)
if mode == 'two_days':
    np.save(d + '/day_6_dense.npy', dense)
)PY";

class MultiHotTest : public ::testing::Test {
 protected:
  // DIR/day_5 written by numpy in `mode`.
  fs::path numpy_data(const std::string& mode) {
    const fs::path dir = tmp_.path() / mode;
    fs::create_directories(dir);
    dlrm::test::write_file(tmp_.path() / "make.py", kNumpyScript);
    const std::string cmd =
        "/usr/bin/python3 " + (tmp_.path() / "make.py").string() + " " + dir.string() + " " + mode;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return dir / "day_5";
  }

  dlrm::test::TempDir tmp_;
};

#define REQUIRE_NUMPY() \
  if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is needed"

TEST_F(MultiHotTest, WriterRoundTripMappedInPlace) {
  const fs::path prefix = write_samples(tmp_.path() / "day_3", 10);
  EXPECT_EQ(prefix, tmp_.path() / "day_3");
  for (const fs::path& p : {prefix, tmp_.path(), fs::path(prefix.string() + "_labels.npy")}) {
    Dataset data = Dataset::open_multi_hot(p, kShape);
    EXPECT_EQ(data.path(), p);
    expect_samples(data);
    // The writer aligns every array to 64 bytes, so each is used in place.
    for (int t = 0; t < 4; ++t) EXPECT_EQ(reinterpret_cast<uintptr_t>(data.bag(0, t)) % 64, 0u) << "table " << t;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(data.dense_values(0)) % 64, 0u);
  }
  // Any hotness is taken when the model gives none; records are not multi-hot.
  expect_samples(Dataset::open_multi_hot(prefix, DataShape{kF, 4, {}}));
  EXPECT_TRUE(tmp_.partial_names().empty());
}

TEST_F(MultiHotTest, ChunkingDoesNotChangeTheBytes) {
  const fs::path a = write_samples(tmp_.path() / "a", 1);
  const fs::path b = write_samples(tmp_.path() / "b", kN);
  for (const char* suffix : {"_dense.npy", "_sparse_multi_hot.npz", "_labels.npy"}) {
    EXPECT_EQ(dlrm::test::read_file(a.string() + suffix), dlrm::test::read_file(b.string() + suffix)) << suffix;
  }
}

TEST_F(MultiHotTest, WriterLeavesNothingWithoutCommit) {
  {
    MultiHotWriter out(tmp_.path(), kN, kF, kHot);
    std::vector<float> dense(kF);
    std::vector<int32_t> label(1), bag(5);
    out.write(1, dense.data(), label.data(), {bag.data(), bag.data(), bag.data(), bag.data()});
    EXPECT_ERROR_WITH(out.commit(), "1 of 37 samples written");
  }
  EXPECT_TRUE(fs::is_empty(tmp_.path()));
}

TEST_F(MultiHotTest, PartHoldsOnlyItsSamples) {
  const fs::path prefix = write_samples(tmp_.path() / "day_0", 16);
  Dataset part = Dataset::open_multi_hot(prefix, kShape, 10, 7);
  EXPECT_EQ(part.first_held(), 10);
  EXPECT_EQ(part.end_held(), 17);
  expect_samples(part);
  part.prefetch(0, 100);  // clipped to what is held
  std::vector<float> dense(100);
  EXPECT_ERROR_WITH(dense_transform(part, 9, 2, dense.data()), "dense_transform", "samples [9, 11)",
                    "part [10, 17)");
  EXPECT_ERROR_WITH(find_bad_index(part, 15, 20, kRows), "find_bad_index", "part [10, 17)");
  EXPECT_ERROR_WITH(Dataset::open_multi_hot(prefix, kShape, 30, 8), "samples [30, 38)", "holds 37");
  // Moving keeps the mapping.
  Dataset moved = std::move(part);
  expect_samples(moved);
  SampleData s = open_samples(tmp_.path(), kShape, 20, 5);
  EXPECT_EQ(s.format(), DataFormat::kMultiHot);
  EXPECT_EQ(s.data().first_held(), 20);
  expect_samples(s.data());
  EXPECT_EQ(count_samples(prefix, kShape), kN);
}

TEST_F(MultiHotTest, FromMultiHotView) {
  std::vector<float> dense = {1, 2, 3, 4};
  std::vector<int32_t> labels = {1, 0};
  std::vector<int32_t> bag0 = {5, 6, 7, 8};  // hotness 2
  std::vector<int32_t> bag1 = {9, 10};       // hotness 1
  Dataset data = Dataset::from_multi_hot({dense.data(), labels.data(), {bag0.data(), bag1.data()}, {2, 1}}, 2, 3, 2,
                                         9, "view");
  EXPECT_EQ(data.samples(), 9);
  EXPECT_EQ(data.label(4), 0);
  EXPECT_EQ(data.bag(4, 0)[1], 8);
  EXPECT_EQ(data.bag(3, 1)[0], 9);
  auto bad = find_bad_index(data, 3, 5, {8, 100});
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->sample, 4);
  EXPECT_EQ(bad->position, 1);
  EXPECT_EQ(describe(*bad, "view"),
            "sample 4 table 0 bag position 1 of 2: index 8 outside [0, 8) in view; re-create the data for this model "
            "or pass --fold-indices to map indices modulo the table size");
  EXPECT_ERROR_WITH(Dataset::from_multi_hot({dense.data(), labels.data(), {bag0.data()}, {0}}, 2, 0, 1, 1, "v"),
                    "table 0 has hotness 0");
}

TEST_F(MultiHotTest, NumpyFilesReadBackUnalignedOrNot) {
  REQUIRE_NUMPY();
  const fs::path prefix = numpy_data("ok");
  expect_samples(Dataset::open_multi_hot(prefix, kShape));
  expect_samples(Dataset::open_multi_hot(prefix, kShape, 3, 30));
  expect_samples(open_samples(prefix.parent_path(), kShape).data());
  EXPECT_FALSE(find_bad_index(Dataset::open_multi_hot(prefix, kShape), 0, kN, kRows).has_value());
}

TEST_F(MultiHotTest, FindBadIndexChecksEveryPositionInSampleOrder) {
  REQUIRE_NUMPY();
  const Dataset data = Dataset::open_multi_hot(numpy_data("bad_index"), kShape);
  auto bad = find_bad_index(data, 0, kN, kRows);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->sample, 20);
  EXPECT_EQ(bad->table, 2);  // before table 3's -1 in the same sample
  EXPECT_EQ(bad->position, 1);
  EXPECT_EQ(bad->value, 30);
  EXPECT_EQ(bad->rows, 30);
  EXPECT_EQ(bad->hotness, 2);
  bad = find_bad_index(data, 21, kN, kRows);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->sample, 25);
  EXPECT_EQ(bad->table, 1);
  EXPECT_EQ(bad->position, 0);
  EXPECT_FALSE(find_bad_index(data, 0, 20, kRows).has_value());
  EXPECT_FALSE(find_bad_index(data, 26, kN, kRows).has_value());
  EXPECT_ERROR_WITH(find_bad_index(data, 0, kN, {1, 2}), "4 indices per record", "2 tables");
}

TEST_F(MultiHotTest, BadNumpyFilesAreRefusedNamingFileAndEntry) {
  REQUIRE_NUMPY();
  struct Case {
    const char* mode;
    std::vector<std::string> message;
  };
  const std::vector<Case> cases = {
      {"dense_f8", {"day_5_dense.npy holds '<f8' values; expected '<f4'"}},
      {"dense_width", {"day_5_dense.npy has shape (37, 4); expected (N, 3)"}},
      {"labels_i8", {"day_5_labels.npy holds '<i8' values; expected '<i4'"}},
      {"labels_short", {"day_5_labels.npy has shape (36, 1); expected (37, 1)"}},
      {"bag_i8", {"day_5_sparse_multi_hot.npz entry '2' holds '<i8' values; expected '<i4'"}},
      {"bag_rows", {"day_5_sparse_multi_hot.npz entry '3' has shape (38, 5); expected (37, hotness)"}},
      {"bag_hotness", {"entry '1' has bags of 4 indices but the model looks up 3 in table 1"}},
      {"bag_fortran", {"day_5_sparse_multi_hot.npz entry '1'", "Fortran-order"}},
      {"missing_entry", {"day_5_sparse_multi_hot.npz: missing entries 3;", "exactly the entries \"0\" .. \"3\""}},
      {"extra_entry", {"day_5_sparse_multi_hot.npz: unexpected entries x.npy"}},
      {"compressed", {"day_5_sparse_multi_hot.npz entry '0' is compressed (zip method 8)", "not savez_compressed"}},
      {"no_sparse", {"missing", "day_5_sparse_multi_hot.npz"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.mode);
    const fs::path prefix = numpy_data(c.mode);
    try {
      count_samples(prefix, kShape);
      ADD_FAILURE() << "no error";
    } catch (const dlrm::Error& e) {
      for (const std::string& m : c.message) EXPECT_NE(std::string(e.what()).find(m), std::string::npos) << e.what();
    }
  }
}

TEST_F(MultiHotTest, DirectoriesMustHoldOneDay) {
  REQUIRE_NUMPY();
  const fs::path two = numpy_data("two_days").parent_path();
  EXPECT_ERROR_WITH(open_samples(two, kShape), "holds 2 days", "day_5_dense.npy, day_6_dense.npy",
                    "--data " + (two / "day_5").string());
  fs::create_directories(tmp_.path() / "empty");
  dlrm::test::write_file(tmp_.path() / "empty" / "readme.txt", "x");
  EXPECT_ERROR_WITH(count_samples(tmp_.path() / "empty", kShape), "holds no day_N_dense.npy", "readme.txt");
}

TEST_F(MultiHotTest, DamagedArchivesAreRefused) {
  const fs::path prefix = write_samples(tmp_.path() / "day_1", 37);
  const fs::path npz = prefix.string() + "_sparse_multi_hot.npz";
  const std::string whole = dlrm::test::read_file(npz);
  // Cut anywhere: the end record, the directory or an entry is missing.
  for (size_t keep : {size_t{0}, size_t{10}, whole.size() / 2, whole.size() - 30, whole.size() - 1}) {
    SCOPED_TRACE(keep);
    dlrm::test::write_file(npz, whole.substr(0, keep));
    try {
      Dataset::open_multi_hot(prefix, kShape);
      ADD_FAILURE() << "no error";
    } catch (const dlrm::Error& e) {
      EXPECT_NE(std::string(e.what()).find(npz.string()), std::string::npos) << e.what();
    }
  }
  dlrm::test::write_file(npz, std::string(200, 'x'));
  EXPECT_ERROR_WITH(Dataset::open_multi_hot(prefix, kShape), npz.string(), "no zip end-of-central-directory record");
  // The local header of entry 0 says deflated (method 8): refused.
  std::string deflated = whole;
  deflated[8] = 8;
  dlrm::test::write_file(npz, deflated);
  EXPECT_ERROR_WITH(Dataset::open_multi_hot(prefix, kShape), npz.string(), "entry 0.npy's local header");
  // Records are not multi-hot: their accessors keep working.
  EXPECT_EQ(data_format(tmp_.path() / "x.bin"), DataFormat::kRecords);
  EXPECT_EQ(data_format(tmp_.path() / "x.npz"), DataFormat::kAccuracyNpz);
  EXPECT_EQ(data_format(prefix), DataFormat::kMultiHot);
}

TEST(MultiHotRecords, RecordsHaveBagsOfOne) {
  const RecordLayout layout{1, 2};
  std::vector<int32_t> records = {1, 5, 6, 7, 0, 8, 9, 10};
  Dataset data = Dataset::from_records(records.data(), 2, layout);
  EXPECT_FALSE(data.multi_hot());
  EXPECT_EQ(data.hotness(1), 1);
  EXPECT_EQ(data.bag(1, 1), &data.indices(1)[1]);
  EXPECT_EQ(*data.bag(1, 0), 9);
  EXPECT_EQ(data.label(0), 1);
}

TEST(MultiHotSynth, BagsDependOnlyOnSeedSampleTableAndPosition) {
  SynthRecords synth(RecordLayout{2, 2}, {100, 7}, 42, 1.05);
  const std::vector<int> hot = {3, 2};
  auto make = [&](int64_t begin, int64_t n) {
    std::vector<float> dense(static_cast<size_t>(n) * 2);
    std::vector<int32_t> b0(static_cast<size_t>(n) * 3), b1(static_cast<size_t>(n) * 2);
    synth.fill_multi_hot(begin, n, hot, dense.data(), {b0.data(), b1.data()});
    return std::make_tuple(dense, b0, b1);
  };
  std::printf("synth seed 42\n");
  const auto [d_all, b0_all, b1_all] = make(0, 600);
  const auto [d_part, b0_part, b1_part] = make(500, 100);
  for (int64_t i = 0; i < 100; ++i) {
    for (int f = 0; f < 2; ++f) ASSERT_EQ(d_part[i * 2 + f], d_all[(500 + i) * 2 + f]);
    for (int k = 0; k < 3; ++k) ASSERT_EQ(b0_part[i * 3 + k], b0_all[(500 + i) * 3 + k]);
  }
  // The dense values are log(x + 3) of the record synth's counts.
  std::vector<int32_t> records(600 * 5);
  synth.fill(0, 600, records.data());
  int distinct = 0;
  for (int64_t i = 0; i < 600; ++i) {
    for (int f = 0; f < 2; ++f) {
      ASSERT_EQ(d_all[i * 2 + f], static_cast<float>(std::log(records[i * 5 + 1 + f] + 3.0)));
    }
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(b0_all[i * 3 + k] >= 0 && b0_all[i * 3 + k] < 100);
    for (int k = 0; k < 2; ++k) ASSERT_TRUE(b1_all[i * 2 + k] >= 0 && b1_all[i * 2 + k] < 7);
    distinct += b0_all[i * 3] != b0_all[i * 3 + 1];
  }
  EXPECT_GT(distinct, 100);  // a bag's indices are separate draws
}

}  // namespace
