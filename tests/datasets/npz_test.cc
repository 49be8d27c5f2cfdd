// Accuracy data in .npz: stored and deflated archives, dtype conversions,
// the MLPerf records they become, and archives without the expected arrays.
#include <gtest/gtest.h>

#include <cstring>

#include "dlrm/datasets/criteo.h"
#include "dlrm/datasets/npz.h"
#include "dlrm/common/error.h"
#include "fixtures.h"

namespace fs = std::filesystem;

namespace dlrm::datasets {
namespace {

using test::fixtures;

const RecordLayout kLayout{13, 3};

std::vector<int32_t> expected_records() {
  std::string bytes = test::read_file(fixtures() / "data_expected.bin");
  std::vector<int32_t> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

TEST(Npz, StoredAndCompressedArchivesGiveTheSameRecords) {
  REQUIRE_FIXTURES();
  for (const char* file : {"data.npz", "data_compressed.npz"}) {
    NpzDataset data = read_npz_dataset(fixtures() / file, kLayout);
    EXPECT_EQ(data.samples, 50);
    EXPECT_EQ(data.records, expected_records()) << file;
    ASSERT_EQ(data.reference.size(), 50u);
    Dataset view = data.view();
    EXPECT_EQ(view.samples(), 50);
    EXPECT_EQ(view.label(3), expected_records()[3 * 17]);
  }
  NpzFile npz = NpzFile::open(fixtures() / "data.npz");
  EXPECT_EQ(npz.names(), (std::vector<std::string>{"dense", "sparse", "labels", "reference"}));
  EXPECT_EQ(npz.header("sparse").shape, (std::vector<int64_t>{50, 3}));
  std::vector<float> ref = read_reference_predictions(fixtures() / "data.npz");
  EXPECT_EQ(ref, read_npz_dataset(fixtures() / "data.npz", kLayout).reference);
}

// A dense rank reads only its samples: every range of both archives equals
// that slice of the whole, indexed like the whole (stored members seek,
// deflated ones read up to the start).
TEST(Npz, SampleRangesAreSlicesOfTheWhole) {
  REQUIRE_FIXTURES();
  const std::vector<int32_t> all = expected_records();
  const std::vector<float> all_ref = read_reference_predictions(fixtures() / "data.npz");
  const int ri = kLayout.record_ints();
  for (const char* file : {"data.npz", "data_compressed.npz"}) {
    EXPECT_EQ(npz_samples(fixtures() / file, kLayout), 50);
    for (auto [first, count] : {std::pair<int64_t, int64_t>{0, 50}, {0, 1}, {17, 20}, {49, 1}, {50, 0}, {33, -1}}) {
      for (int64_t part_samples : {int64_t{1} << 16, int64_t{7}, int64_t{1}}) {  // one part, parts of 7, of 1
        SCOPED_TRACE(fmt::format("{} [{}, +{}) in parts of {}", file, first, count, part_samples));
        NpzDataset part = read_npz_dataset(fixtures() / file, kLayout, first, count, part_samples);
        const int64_t n = count < 0 ? 50 - first : count;
        EXPECT_EQ(part.samples, 50);
        EXPECT_EQ(part.first, first);
        EXPECT_EQ(part.count, n);
        EXPECT_EQ(part.records, std::vector<int32_t>(all.begin() + first * ri, all.begin() + (first + n) * ri));
        EXPECT_EQ(part.reference, std::vector<float>(all_ref.begin() + first, all_ref.begin() + first + n));
        Dataset view = part.view();
        EXPECT_EQ(view.samples(), 50);
        EXPECT_EQ(view.first_held(), first);
        EXPECT_EQ(view.end_held(), first + n);
        for (int64_t i = first; i < first + n; ++i) {
          ASSERT_EQ(std::vector<int32_t>(view.record(i), view.record(i) + ri),
                    std::vector<int32_t>(all.begin() + i * ri, all.begin() + (i + 1) * ri));
        }
      }
    }
    EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / file, kLayout, 40, 11), file, "samples [40, 51)", "holds 50");
    EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / file, kLayout, -1, 2), file, "samples [-1, 1)");
  }
  // Errors in a range name the sample as in the whole archive.
  EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / "data_bad_labels.npz", kLayout, 17, 5), "labels[17]");
  EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / "data_fractional.npz", kLayout, 17, 5),
                    "array 'dense' element 221", "not an integer");  // 17 samples x 13 features
  EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / "data_bad_labels.npz", kLayout, 17, 5, 2), "labels[17]");
  EXPECT_ERROR_WITH(npz_samples(fixtures() / "data_wrong_tables.npz", kLayout), "array 'sparse' has shape (50, 2)");
  EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / "data.npz", kLayout, 0, 50, 0), "parts of 0 samples");
}

TEST(Npz, ConvertWritesBinaryAndReference) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  ConvertOptions o;
  o.from = fixtures() / "data_compressed.npz";
  o.out = dir / "data.bin";
  o.reference_out = dir / "ref.npy";
  EXPECT_EQ(run_convert(o), 0);
  EXPECT_EQ(test::read_file(dir / "data.bin"), test::read_file(fixtures() / "data_expected.bin"));
  EXPECT_EQ(read_npy_f32(dir / "ref.npy"), read_reference_predictions(fixtures() / "data.npz"));
}

TEST(Npz, MissingOrWrongArraysAreNamed) {
  REQUIRE_FIXTURES();
  EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / "data_missing.npz", kLayout), "data_missing.npz",
                    "missing array sparse", "found: dense, labels", "sparse [N, T]");
  EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / "data_bad_labels.npz", kLayout), "labels[0]", "must be 0 or 1");
  EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / "data_fractional.npz", kLayout), "array 'dense' element 0",
                    "not an integer");
  EXPECT_ERROR_WITH(read_npz_dataset(fixtures() / "data_wrong_tables.npz", kLayout), "array 'sparse' has shape (50, 2)",
                    "(50, 3)", "3 tables");
  EXPECT_ERROR_WITH(read_reference_predictions(fixtures() / "data_missing.npz"), "no array 'reference'");
  ConvertOptions o;
  test::TempDir dir;
  o.from = fixtures() / "data_bad_labels.npz";
  o.out = dir / "x.bin";
  EXPECT_ERROR_WITH(run_convert(o), "labels");
  EXPECT_FALSE(fs::exists(o.out));
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(Npz, DamagedArchivesAreRefused) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  const uint64_t size = fs::file_size(fixtures() / "data_compressed.npz");
  for (uint64_t cut : {uint64_t{0}, uint64_t{30}, size / 2, size - 10}) {
    const fs::path p = dir / (std::to_string(cut) + ".npz");
    test::copy_prefix(fixtures() / "data_compressed.npz", p, cut);
    EXPECT_ERROR_WITH(read_npz_dataset(p, kLayout), p.string());
  }
  test::write_file(dir / "text.npz", "not a zip at all");
  EXPECT_ERROR_WITH(NpzFile::open(dir / "text.npz"), "text.npz", "not a readable .npz");
}

}  // namespace
}  // namespace dlrm::datasets
