// Dataset: mmap reading of MLPerf binary records, the dense transform and the
// index range check.
#include "dlrm/datasets/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "test_files.h"
#include "dlrm/common/error.h"

namespace fs = std::filesystem;
using dlrm::datasets::BadIndex;
using dlrm::datasets::Dataset;
using dlrm::datasets::RecordLayout;

namespace {

class DatasetTest : public ::testing::Test {
 protected:
  fs::path write_bytes(const std::string& name, const void* src, size_t bytes) {
    fs::path path = dir_ / name;
    dlrm::test::write_file(path, std::string(static_cast<const char*>(src), bytes));
    return path;
  }

  dlrm::test::TempDir tmp_;
  const fs::path dir_ = tmp_.path();
};

// Records with a fixed, printed seed: label 0/1, dense in [-3, 1000), indices in [0, rows).
std::vector<int32_t> random_records(const RecordLayout& layout, int64_t samples, uint64_t seed,
                                    int32_t rows) {
  std::printf("random_records seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::vector<int32_t> records(samples * layout.record_ints());
  for (int64_t i = 0; i < samples; ++i) {
    int32_t* r = records.data() + i * layout.record_ints();
    r[0] = static_cast<int32_t>(rng() % 2);
    for (int f = 0; f < layout.dense_features; ++f) r[1 + f] = static_cast<int32_t>(rng() % 1003) - 3;
    for (int t = 0; t < layout.tables; ++t) r[1 + layout.dense_features + t] = static_cast<int32_t>(rng() % rows);
  }
  return records;
}

TEST_F(DatasetTest, RoundTripOfWrittenRecords) {
  RecordLayout layout;  // 13 dense, 26 tables: 160-byte records
  ASSERT_EQ(layout.record_bytes(), 160);
  auto records = random_records(layout, 1000, 11, 1000);
  fs::path path = write_bytes("data.bin", records.data(), records.size() * 4);
  Dataset data = Dataset::open(path, layout);
  ASSERT_EQ(data.samples(), 1000);
  EXPECT_EQ(data.path(), path);
  for (int64_t i = 0; i < data.samples(); ++i) {
    const int32_t* r = records.data() + i * layout.record_ints();
    ASSERT_EQ(data.label(i), r[0]) << "sample " << i;
    for (int f = 0; f < 13; ++f) ASSERT_EQ(data.dense(i)[f], r[1 + f]) << "sample " << i;
    for (int t = 0; t < 26; ++t) ASSERT_EQ(data.indices(i)[t], r[14 + t]) << "sample " << i;
  }
  data.prefetch(990, 100);  // past the end: clipped, no fault
  data.prefetch(0, 1000);

  // Moving keeps the mapping alive and empties the source.
  Dataset moved = std::move(data);
  EXPECT_EQ(moved.samples(), 1000);
  EXPECT_EQ(moved.label(999), records[999 * 40]);
  EXPECT_EQ(data.samples(), 0);  // NOLINT(bugprone-use-after-move)
}

TEST_F(DatasetTest, OtherLayoutAndMemoryView) {
  RecordLayout layout{2, 3};  // 6 ints = 24 bytes
  auto records = random_records(layout, 7, 12, 50);
  fs::path path = write_bytes("small.bin", records.data(), records.size() * 4);
  Dataset data = Dataset::open(path, layout);
  EXPECT_EQ(data.samples(), 7);
  Dataset view = Dataset::from_records(records.data(), 7, layout, "chunk");
  EXPECT_EQ(view.path(), fs::path("chunk"));
  for (int64_t i = 0; i < 7; ++i) {
    EXPECT_EQ(view.record(i), records.data() + i * 6);
    for (int k = 0; k < 6; ++k) EXPECT_EQ(view.record(i)[k], data.record(i)[k]);
  }
  view.prefetch(0, 7);  // a view has no mapping to advise: a no-op
  EXPECT_EQ(view.first_held(), 0);
  EXPECT_EQ(view.end_held(), 7);

  // Part of a larger dataset: samples [3, 6) of 7, indexed as in the whole.
  Dataset part = Dataset::part_of(records.data() + 3 * 6, 3, 3, 7, layout, "part");
  EXPECT_EQ(part.samples(), 7);
  EXPECT_EQ(part.first_held(), 3);
  EXPECT_EQ(part.end_held(), 6);
  for (int64_t i = 3; i < 6; ++i) {
    EXPECT_EQ(part.record(i), records.data() + i * 6);
    EXPECT_EQ(part.label(i), data.label(i));
    EXPECT_EQ(part.indices(i)[2], data.indices(i)[2]);
  }
  Dataset moved = std::move(part);
  EXPECT_EQ(moved.first_held(), 3);
  EXPECT_EQ(moved.record(5), records.data() + 5 * 6);
  EXPECT_ERROR_WITH(Dataset::part_of(records.data(), 5, 3, 7, layout, "part"), "part", "samples [5, 8)",
                    "its 7 samples");

  // Reads are checked against the part held, not the whole: inside it they
  // pass, outside it (though inside the 7 samples) they throw naming the part.
  std::vector<float> dense_out(3 * 2);
  dense_transform(moved, 3, 3, dense_out.data());
  EXPECT_FALSE(dlrm::datasets::find_bad_index(moved, 3, 6, {1000, 1000, 1000}).has_value());
  EXPECT_ERROR_WITH(dense_transform(moved, 2, 2, dense_out.data()), "dense_transform", "samples [2, 4)",
                    "part [3, 6) held of the 7 samples of part");
  EXPECT_ERROR_WITH(dlrm::datasets::find_bad_index(moved, 5, 7, {1000, 1000, 1000}), "find_bad_index",
                    "samples [5, 7)", "part [3, 6)");
  // A whole dataset keeps its message.
  EXPECT_ERROR_WITH(dense_transform(view, 5, 3, dense_out.data()), "dense_transform: samples [5, 8) are outside the 7 "
                    "samples of chunk");
}

TEST_F(DatasetTest, SizeNotWholeRecordsNamesFileAndRemainder) {
  RecordLayout layout;
  std::vector<uint8_t> bytes(160 * 3 + 17, 0);
  fs::path path = write_bytes("ragged.bin", bytes.data(), bytes.size());
  EXPECT_ERROR_WITH(Dataset::open(path, layout), path.string(), "497 bytes", "160-byte records", "17 bytes over");
}

TEST_F(DatasetTest, EmptyFileIsAnError) {
  fs::path path = write_bytes("empty.bin", "", 0);
  EXPECT_ERROR_WITH(Dataset::open(path, RecordLayout{}), path.string(), "empty");
}

TEST_F(DatasetTest, MissingFileIsAnError) {
  fs::path path = dir_ / "nope.bin";
  EXPECT_ERROR_WITH(Dataset::open(path, RecordLayout{}), path.string(), "does not exist");
  // A directory is not a data file either.
  EXPECT_ERROR_WITH(Dataset::open(dir_, RecordLayout{}), "not a regular file");
}

TEST_F(DatasetTest, DenseTransformClipsNegativesAndTakesLog1p) {
  RecordLayout layout{4, 1};
  // label, dense x4, index
  std::vector<int32_t> records = {1, -1,        0,         1,        1000, 0,
                                  0, INT32_MIN, INT32_MAX, 16777216, 7,    0};
  Dataset data = Dataset::from_records(records.data(), 2, layout);
  std::vector<float> dst(8, -99.0f);
  dlrm::datasets::dense_transform(data, 0, 2, dst.data());
  EXPECT_EQ(dst[0], 0.0f);  // -1 -> 0 -> log(1)
  EXPECT_EQ(dst[1], 0.0f);
  // Expected values: log(x + 1) in double rounded once to float.
  EXPECT_EQ(dst[2], static_cast<float>(std::log(2.0)));
  EXPECT_EQ(dst[3], static_cast<float>(std::log1p(1000.0)));
  EXPECT_EQ(dst[4], 0.0f);  // INT32_MIN clipped
  EXPECT_EQ(dst[5], static_cast<float>(std::log1p(2147483647.0)));
  EXPECT_EQ(dst[6], static_cast<float>(std::log(16777217.0)));
  EXPECT_EQ(dst[7], static_cast<float>(std::log(8.0)));
  // A sub-range writes only its own samples.
  std::vector<float> one(4, -99.0f);
  dlrm::datasets::dense_transform(data, 1, 1, one.data());
  EXPECT_TRUE(std::equal(one.begin(), one.end(), dst.begin() + 4));
}

// Small counts come from a table, larger ones are computed: both must be the
// double log1p rounded once, on either side of the table's end (4096).
TEST_F(DatasetTest, DenseTransformSmallAndLargeCountsAreExact) {
  RecordLayout layout{1, 1};
  std::vector<int32_t> records;
  std::vector<int32_t> values;
  for (int32_t x = -3; x < 5000; ++x) values.push_back(x);
  for (int32_t x : {65535, 1 << 20, INT32_MAX - 1}) values.push_back(x);
  for (int32_t x : values) {
    for (int32_t v : {0, x, 0}) records.push_back(v);  // label, dense, one index
  }
  Dataset data = Dataset::from_records(records.data(), static_cast<int64_t>(values.size()), layout);
  std::vector<float> dst(values.size());
  dlrm::datasets::dense_transform(data, 0, static_cast<int>(values.size()), dst.data());
  int64_t wrong = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const float want = static_cast<float>(std::log1p(static_cast<double>(std::max<int32_t>(values[i], 0))));
    if (std::memcmp(&dst[i], &want, sizeof(float)) != 0 && wrong++ < 5) {
      ADD_FAILURE() << "x = " << values[i] << ": " << dst[i] << " vs " << want;
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST_F(DatasetTest, FindBadIndexFindsFirstSampleThenTable) {
  RecordLayout layout{1, 3};
  const std::vector<int64_t> rows = {10, 5, 3};
  std::vector<int32_t> records;
  auto add = [&](int32_t a, int32_t b, int32_t c) {
    for (int32_t v : {0, 0, a, b, c}) records.push_back(v);
  };
  add(9, 4, 2);   // 0: all in range (upper edges)
  add(0, 0, 0);   // 1
  add(0, 0, 3);   // 2: table 2 index 3 == rows
  add(0, -1, 7);  // 3: table 1 negative, table 2 too large
  Dataset data = Dataset::from_records(records.data(), 4, layout, "four.bin");

  auto bad = dlrm::datasets::find_bad_index(data, 0, 4, rows);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->sample, 2);
  EXPECT_EQ(bad->table, 2);
  EXPECT_EQ(bad->value, 3);
  EXPECT_EQ(bad->rows, 3);
  EXPECT_EQ(dlrm::datasets::describe(*bad, "four.bin"),
            "sample 2 table 2: index 3 outside [0, 3) in four.bin; re-create the data for this model or "
            "pass --fold-indices to map indices modulo the table size");

  bad = dlrm::datasets::find_bad_index(data, 3, 4, rows);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->sample, 3);
  EXPECT_EQ(bad->table, 1);
  EXPECT_EQ(bad->value, -1);

  EXPECT_FALSE(dlrm::datasets::find_bad_index(data, 0, 2, rows).has_value());
  EXPECT_FALSE(dlrm::datasets::find_bad_index(data, 2, 2, rows).has_value());  // empty range

  EXPECT_ERROR_WITH(dlrm::datasets::find_bad_index(data, 0, 4, {10, 5}),
                    "3 indices per record but the model has 2 tables");
}

TEST(FoldIndex, IsNonNegativeModulo) {
  EXPECT_EQ(dlrm::datasets::fold_index(5000, 1000), 0);
  EXPECT_EQ(dlrm::datasets::fold_index(1234, 1000), 234);
  EXPECT_EQ(dlrm::datasets::fold_index(999, 1000), 999);
  EXPECT_EQ(dlrm::datasets::fold_index(-1, 1000), 999);
  EXPECT_EQ(dlrm::datasets::fold_index(-1000, 1000), 0);
  EXPECT_EQ(dlrm::datasets::fold_index(7, 1), 0);
}

}  // namespace

namespace {

using dlrm::datasets::SynthRecords;

const std::vector<int64_t> kSynthRows = {1, 3, 10, 997, 1000, 1024, 65536};
const RecordLayout kSynthLayout{13, 7};

TEST(SynthRecords, DeterministicAndIndependentOfChunking) {
  const uint64_t seed = 42;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  SynthRecords synth(kSynthLayout, kSynthRows, seed, 1.05);
  const int ints = kSynthLayout.record_ints();
  std::vector<int32_t> whole(3000 * ints), parts(3000 * ints), again(3000 * ints), other(3000 * ints);
  synth.fill(0, 3000, whole.data());
  synth.fill(0, 1, parts.data());
  synth.fill(1, 1999, parts.data() + 1 * ints);
  synth.fill(2000, 1000, parts.data() + 2000 * ints);
  EXPECT_EQ(whole, parts);
  SynthRecords(kSynthLayout, kSynthRows, seed, 1.05).fill(0, 3000, again.data());
  EXPECT_EQ(whole, again);
  SynthRecords(kSynthLayout, kSynthRows, seed + 1, 1.05).fill(0, 3000, other.data());
  EXPECT_NE(whole, other);
  EXPECT_EQ(synth.label_uniform(17), SynthRecords(kSynthLayout, kSynthRows, seed, 0.5).label_uniform(17));
}

TEST(SynthRecords, ValuesInRangeWithCriteoLikeNegatives) {
  const uint64_t seed = 7;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  SynthRecords synth(kSynthLayout, kSynthRows, seed, 1.05);
  const int64_t n = 20000;
  const int ints = kSynthLayout.record_ints();
  std::vector<int32_t> records(n * ints);
  synth.fill(0, n, records.data());
  Dataset data = Dataset::from_records(records.data(), n, kSynthLayout);
  EXPECT_FALSE(dlrm::datasets::find_bad_index(data, 0, n, kSynthRows).has_value());
  int64_t negatives = 0, zeros = 0, large = 0;
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(data.label(i), 0);
    for (int f = 0; f < 13; ++f) {
      int32_t v = data.dense(i)[f];
      ASSERT_GE(v, -1);
      negatives += v == -1;
      zeros += v == 0;
      large += v >= 1000;
    }
  }
  // -1 with probability p = 0.02 over 260000 draws: sd = sqrt(n p (1-p)) = 71; allow 5 sd.
  EXPECT_NEAR(static_cast<double>(negatives), 0.02 * n * 13, 5 * 71.4);
  EXPECT_GT(zeros, n * 13 / 10);  // every feature is 0 at least 10% of the time
  // Heavy tail: P(v >= 1000) summed over the 13 lognormal features is 0.013 per
  // sample (260 expected in 20000, sd 16); half of that is far outside chance.
  EXPECT_GT(large, 130);
  double u = synth.label_uniform(0);
  EXPECT_GE(u, 0.0);
  EXPECT_LT(u, 1.0);
}

TEST(SynthRecords, RankToIndexIsABijection) {
  SynthRecords synth(kSynthLayout, kSynthRows, 3, 1.05);
  for (int t = 0; t < kSynthLayout.tables; ++t) {
    std::vector<int> hits(kSynthRows[t], 0);
    for (int64_t r = 0; r < kSynthRows[t]; ++r) ++hits[synth.index_of_rank(t, r)];
    EXPECT_TRUE(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; })) << "table " << t;
  }
  // Hot ranks are scattered, not neighbours.
  EXPECT_GT(std::abs(synth.index_of_rank(6, 1) - synth.index_of_rank(6, 0)), 1000);
}

TEST(SynthRecords, ZipfSkewMatchesTheContinuousLaw) {
  const uint64_t seed = 9;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const double s = 1.05;
  SynthRecords synth(kSynthLayout, kSynthRows, seed, s);
  const int t = 4;  // 1000 rows
  EXPECT_EQ(synth.rank_of_uniform(t, 0.0), 0);
  EXPECT_EQ(synth.rank_of_uniform(t, std::nextafter(1.0, 0.0)), 999);
  int64_t prev = 0;
  for (double u = 0; u < 1; u += 1e-3) {
    int64_t r = synth.rank_of_uniform(t, u);
    ASSERT_GE(r, prev);  // monotone inverse CDF
    prev = r;
  }
  // P(rank 0) = F(2) = (2^(1-s) - 1) / (1001^(1-s) - 1) = 0.0691 for s = 1.05.
  const double p0 = std::expm1((1 - s) * std::log(2.0)) / std::expm1((1 - s) * std::log(1001.0));
  const int64_t n = 40000;
  std::vector<int32_t> records(n * kSynthLayout.record_ints());
  synth.fill(0, n, records.data());
  Dataset data = Dataset::from_records(records.data(), n, kSynthLayout);
  const int64_t hottest = synth.index_of_rank(t, 0);
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) hits += data.indices(i)[t] == hottest;
  // Binomial sd = sqrt(n p0 (1 - p0)) ~ 51; allow 5 sd.
  EXPECT_NEAR(static_cast<double>(hits), p0 * n, 5 * std::sqrt(n * p0 * (1 - p0)));

  // zipf 0: uniform ranks, mean (rows - 1) / 2 with sd 288.7 / sqrt(n).
  SynthRecords uniform(kSynthLayout, kSynthRows, seed, 0.0);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += static_cast<double>(uniform.rank_of_uniform(t, (i + 0.5) / n));
  EXPECT_NEAR(sum / n, 499.5, 0.5);
}

TEST(SynthRecords, RejectsBadParameters) {
  EXPECT_THROW(SynthRecords(kSynthLayout, kSynthRows, 1, -0.5), dlrm::Error);
  EXPECT_THROW(SynthRecords(kSynthLayout, kSynthRows, 1, std::nan("")), dlrm::Error);
  EXPECT_THROW(SynthRecords(kSynthLayout, {10, 20}, 1, 1.0), dlrm::Error);
  std::vector<int64_t> with_empty = kSynthRows;
  with_empty[2] = 0;
  EXPECT_THROW(SynthRecords(kSynthLayout, with_empty, 1, 1.0), dlrm::Error);
  SynthRecords exactly_one(kSynthLayout, kSynthRows, 1, 1.0);  // the log form of the CDF
  EXPECT_EQ(exactly_one.rank_of_uniform(4, 0.0), 0);
  EXPECT_EQ(exactly_one.rank_of_uniform(4, std::nextafter(1.0, 0.0)), 999);
}

}  // namespace
