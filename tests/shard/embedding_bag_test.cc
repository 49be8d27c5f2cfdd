// Embedding-bag kernels: fast versions against their _ref twins.
//
// Tolerance: none. Both sum every column in index order starting from 0.0f
// (the fast version only holds the partial sums in registers), so fp32 results
// must be bit-identical; floats are compared with EXPECT_EQ. Columns past
// `cols` in each dst row hold a sentinel that must survive.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/shard/embedding_bag.h"

namespace dlrm::shard {
namespace {

constexpr float kSentinel = -4242.25f;

// A table of `rows` x `cols` fp32 values stored with row_stride(kFp32, cols); the
// padding bytes of each row hold NaN so that reading past `cols` shows up.
struct Table {
  std::vector<uint8_t> bytes;
  RowsView view;

  Table(int64_t rows, int cols, uint32_t seed) {
    uint64_t stride = row_stride(StorageType::kFp32, cols);
    bytes.assign(static_cast<size_t>(stride * rows) + 64, 0);
    // 64-byte aligned start, as a mapped shard file gives.
    uint8_t* base = bytes.data() + (64 - reinterpret_cast<uintptr_t>(bytes.data()) % 64) % 64;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (int64_t r = 0; r < rows; ++r) {
      float* row = reinterpret_cast<float*>(base + r * stride);
      for (uint64_t c = 0; c < stride / 4; ++c)
        row[c] = c < static_cast<uint64_t>(cols) ? dist(rng) : std::numeric_limits<float>::quiet_NaN();
    }
    view.rows = base;
    view.stride = stride;
    view.num_rows = rows;
    view.cols = cols;
    view.type = StorageType::kFp32;
  }
  const float* row(int64_t r) const { return reinterpret_cast<const float*>(view.rows + r * view.stride); }
};

void expect_rows_identical(const std::vector<float>& fast, const std::vector<float>& ref, int n, int cols,
                           int64_t stride) {
  ASSERT_EQ(fast.size(), ref.size());
  for (int b = 0; b < n; ++b) {
    for (int c = 0; c < cols; ++c) {
      ASSERT_EQ(fast[b * stride + c], ref[b * stride + c]) << "bag " << b << " column " << c;
    }
    for (int64_t c = cols; c < stride; ++c) {
      ASSERT_EQ(fast[b * stride + c], kSentinel) << "padding written, bag " << b;
      ASSERT_EQ(ref[b * stride + c], kSentinel) << "padding written by ref, bag " << b;
    }
  }
}

struct BagCase {
  int cols;
  int batch;
  int max_len;      // bag lengths uniform in [0, max_len]
  int pad;          // dst_stride - cols
  int threads;
};

class EmbeddingBagSum : public ::testing::TestWithParam<BagCase> {};

TEST_P(EmbeddingBagSum, MatchesRefBitForBit) {
  const BagCase c = GetParam();
  const int64_t rows = 1000;
  const uint32_t seed = 500 + c.cols * 3 + c.batch;
  std::printf("cols %d batch %d max_len %d threads %d seed %u\n", c.cols, c.batch, c.max_len, c.threads, seed);
  Table table(rows, c.cols, seed);
  std::mt19937 rng(seed + 1);
  std::uniform_int_distribution<int> len(0, c.max_len);
  std::uniform_int_distribution<int32_t> row(0, rows - 1);
  std::vector<int32_t> offsets = {3};  // offsets need not start at 0
  std::vector<int32_t> indices = {-9, -9, -9};
  for (int b = 0; b < c.batch; ++b) {
    int n = b % 5 == 0 ? 0 : len(rng);  // every fifth bag empty
    for (int k = 0; k < n; ++k) indices.push_back(row(rng));
    offsets.push_back(static_cast<int32_t>(indices.size()));
  }
  const int64_t stride = c.cols + c.pad;
  std::vector<float> fast(static_cast<size_t>(c.batch) * stride, kSentinel);
  std::vector<float> ref(fast.size(), kSentinel);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(c.threads);
  int64_t bad_fast = embedding_bag_sum(table.view, indices.data(), offsets.data(), c.batch, fast.data(), stride);
  omp_set_num_threads(threads);
  int64_t bad_ref = embedding_bag_sum_ref(table.view, indices.data(), offsets.data(), c.batch, ref.data(), stride);
  EXPECT_EQ(bad_fast, 0);
  EXPECT_EQ(bad_ref, 0);
  expect_rows_identical(fast, ref, c.batch, c.cols, stride);
  // Empty bags are zeros; a one-row bag is that row.
  for (int b = 0; b < c.batch; b += 5) {
    for (int col = 0; col < c.cols; ++col) ASSERT_EQ(fast[b * stride + col], 0.0f);
  }
  for (int b = 0; b < c.batch; ++b) {
    if (offsets[b + 1] - offsets[b] == 1) {
      const float* r = table.row(indices[offsets[b]]);
      for (int col = 0; col < c.cols; ++col) ASSERT_EQ(fast[b * stride + col], r[col]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, EmbeddingBagSum,
    ::testing::Values(BagCase{128, 64, 20, 0, 1},    // DLRM dim, multi-hot
                      BagCase{128, 40, 1, 3, 1},     // one-hot and empty
                      BagCase{8, 50, 6, 1, 1},       // half a vector (masked)
                      BagCase{24, 50, 6, 5, 1},      // one and a half vectors
                      BagCase{16, 30, 4, 0, 1},      // exactly one vector
                      BagCase{130, 30, 5, 2, 1},     // two column chunks, tail of 2
                      BagCase{300, 20, 7, 0, 1},     // three chunks
                      BagCase{1, 10, 3, 0, 1},       // a single column
                      BagCase{128, 2000, 8, 0, 2},   // enough indices for the OpenMP split
                      BagCase{24, 3000, 4, 7, 2}),
    [](const ::testing::TestParamInfo<BagCase>& info) {
      return "cols" + std::to_string(info.param.cols) + "_batch" + std::to_string(info.param.batch) + "_threads" +
             std::to_string(info.param.threads);
    });

TEST(EmbeddingBag, OutOfRangeIndicesCountedAndSkipped) {
  const uint32_t seed = 91;
  std::printf("seed %u\n", seed);
  const int64_t rows = 50;
  for (int cols : {8, 24, 128}) {
    Table table(rows, cols, seed);
    // Bags: {3, -1, 7}, {50}, {INT32_MIN, 49, INT32_MAX, 0}, {-5}, {}
    const std::vector<int32_t> indices = {3, -1, 7, 50, std::numeric_limits<int32_t>::min(), 49,
                                          std::numeric_limits<int32_t>::max(), 0, -5};
    const std::vector<int32_t> offsets = {0, 3, 4, 8, 9, 9};
    const int batch = 5;
    const int64_t stride = cols + 4;
    std::vector<float> fast(batch * stride, kSentinel), ref(batch * stride, kSentinel);
    EXPECT_EQ(embedding_bag_sum(table.view, indices.data(), offsets.data(), batch, fast.data(), stride), 5);
    EXPECT_EQ(embedding_bag_sum_ref(table.view, indices.data(), offsets.data(), batch, ref.data(), stride), 5);
    expect_rows_identical(fast, ref, batch, cols, stride);
    for (int c = 0; c < cols; ++c) {
      EXPECT_EQ(fast[0 * stride + c], 0.0f + table.row(3)[c] + table.row(7)[c]);
      EXPECT_EQ(fast[1 * stride + c], 0.0f);
      EXPECT_EQ(fast[2 * stride + c], 0.0f + table.row(49)[c] + table.row(0)[c]);
      EXPECT_EQ(fast[3 * stride + c], 0.0f);
      EXPECT_EQ(fast[4 * stride + c], 0.0f);
    }

    std::vector<float> gfast(indices.size() * stride, kSentinel), gref(indices.size() * stride, kSentinel);
    const int n = static_cast<int>(indices.size());
    EXPECT_EQ(embedding_gather(table.view, indices.data(), n, gfast.data(), stride), 5);
    EXPECT_EQ(embedding_gather_ref(table.view, indices.data(), n, gref.data(), stride), 5);
    expect_rows_identical(gfast, gref, n, cols, stride);
    for (int c = 0; c < cols; ++c) {
      EXPECT_EQ(gfast[1 * stride + c], 0.0f);  // -1: a zero row
      EXPECT_EQ(gfast[5 * stride + c], table.row(49)[c]);
    }
  }
}

class EmbeddingGather : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(EmbeddingGather, MatchesRefBitForBit) {
  const auto [cols, n, threads] = GetParam();
  const int64_t rows = 777;
  const uint32_t seed = 900 + cols + n;
  std::printf("cols %d n %d threads %d seed %u\n", cols, n, threads, seed);
  Table table(rows, cols, seed);
  std::mt19937 rng(seed + 1);
  std::uniform_int_distribution<int32_t> row(0, rows - 1);
  std::vector<int32_t> indices(n);
  for (int32_t& i : indices) i = row(rng);
  const int64_t stride = cols + 3;
  std::vector<float> fast(static_cast<size_t>(n) * stride, kSentinel), ref(fast.size(), kSentinel);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  EXPECT_EQ(embedding_gather(table.view, indices.data(), n, fast.data(), stride), 0);
  omp_set_num_threads(saved);
  EXPECT_EQ(embedding_gather_ref(table.view, indices.data(), n, ref.data(), stride), 0);
  expect_rows_identical(fast, ref, n, cols, stride);
  for (int b = 0; b < n; ++b) {
    for (int c = 0; c < cols; ++c) ASSERT_EQ(fast[b * stride + c], table.row(indices[b])[c]);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, EmbeddingGather,
                         ::testing::Values(std::make_tuple(128, 100, 1), std::make_tuple(8, 33, 1),
                                           std::make_tuple(24, 33, 1), std::make_tuple(128, 9000, 2),
                                           std::make_tuple(40, 0, 1)));

TEST(EmbeddingBag, DecodeRowRef) {
  Table table(10, 24, 7);
  std::vector<float> row(24);
  decode_row_ref(table.view, 9, row.data());
  for (int c = 0; c < 24; ++c) EXPECT_EQ(row[c], table.row(9)[c]);
  EXPECT_THROW(decode_row_ref(table.view, 10, row.data()), Error);
  EXPECT_THROW(decode_row_ref(table.view, -1, row.data()), Error);
}

TEST(EmbeddingBag, UnsupportedStorageTypeThrows) {
  Table table(10, 16, 8);
  int32_t index = 0;
  int32_t offsets[2] = {0, 1};
  float dst[16];
  for (StorageType type : {StorageType::kFp16, StorageType::kInt8, StorageType::kInt4}) {
    RowsView view = table.view;
    view.type = type;
    try {
      embedding_bag_sum(view, &index, offsets, 1, dst, 16);
      ADD_FAILURE() << "accepted " << to_string(type);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("storage type " + to_string(type) + " not supported by this build"),
                std::string::npos)
          << e.what();
    }
    EXPECT_THROW(embedding_bag_sum_ref(view, &index, offsets, 1, dst, 16), Error);
    EXPECT_THROW(embedding_gather(view, &index, 1, dst, 16), Error);
    EXPECT_THROW(embedding_gather_ref(view, &index, 1, dst, 16), Error);
    EXPECT_THROW(decode_row_ref(view, 0, dst), Error);
  }
}

TEST(EmbeddingBag, RejectsShortDstStride) {
  Table table(10, 16, 9);
  int32_t index = 0;
  int32_t offsets[2] = {0, 1};
  float dst[32];
  EXPECT_THROW(embedding_bag_sum(table.view, &index, offsets, 1, dst, 15), Error);
  EXPECT_THROW(embedding_gather(table.view, &index, 1, dst, 15), Error);
}

}  // namespace
}  // namespace dlrm::shard
