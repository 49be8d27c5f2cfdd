// Embedding-bag kernels: fast versions against their _ref twins, for every
// storage type (fp32, fp16, int8, int4).
//
// Tolerance: none. Both decode a row the same way (fp16 exactly, int8/int4 as
// fmaf(code, scale, bias)) and sum every column in index order starting from
// 0.0f (the fast version only holds the partial sums in registers), so results
// must be bit-identical; floats are compared with EXPECT_EQ. For the same
// reason a quantized table's sums equal, bit for bit, the fp32 kernel's sums
// over its dequantized rows. Columns past `cols` in each dst row hold a
// sentinel that must survive. Quantization error itself is tested in
// row_codec_test.cc.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/shard/embedding_bag.h"
#include "dlrm/model/row_codec.h"

namespace dlrm::shard {
namespace {

constexpr float kSentinel = -4242.25f;

constexpr ElementType kTypes[] = {ElementType::kFp32, ElementType::kFp16, ElementType::kInt8, ElementType::kInt4};

// A table of `rows` x `cols` random values stored as `type`, with
// `extra_stride` more bytes per row than row_stride (a view's stride may
// exceed the layout's; the kernels must step by it and read nothing past the
// row). fp32: the padding of each row NaN so that reading past `cols` shows
// up; extra_stride is rounded down to whole floats, and a non-zero one leaves
// rows off the 64-byte lines. Others: encoded (row_codec.h), padding filled
// with 0xff. row(r) gives the row as the kernels must see it (decoded).
struct Table {
  std::vector<uint8_t> bytes;
  std::vector<float> decoded;  // quantized types: rows x cols
  model::RowsView view;

  Table(int64_t rows, int cols, uint32_t seed, ElementType type = ElementType::kFp32, uint64_t extra_stride = 0) {
    const bool fp32 = type == ElementType::kFp32;
    uint64_t stride = model::row_stride(type, cols) + (fp32 ? extra_stride / 4 * 4 : extra_stride);
    bytes.assign(static_cast<size_t>(stride * rows) + 64, 0);
    // 64-byte aligned start, as a mapped shard file gives.
    uint8_t* base = bytes.data() + (64 - reinterpret_cast<uintptr_t>(bytes.data()) % 64) % 64;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    if (type == ElementType::kFp32) {
      for (int64_t r = 0; r < rows; ++r) {
        float* row = reinterpret_cast<float*>(base + r * stride);
        for (uint64_t c = 0; c < stride / 4; ++c)
          row[c] = c < static_cast<uint64_t>(cols) ? dist(rng) : std::numeric_limits<float>::quiet_NaN();
      }
    } else {
      const uint64_t encoded_stride = model::row_stride(type, cols);
      std::vector<float> values(static_cast<size_t>(rows) * cols);
      for (float& v : values) v = dist(rng);
      std::vector<uint8_t> encoded(encoded_stride * rows);
      model::EncodeResult result = model::encode_rows(type, values.data(), rows, cols, encoded.data());
      EXPECT_EQ(result.bad_rows, 0) << result.reason;
      decoded.resize(values.size());
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(base + r * stride, encoded.data() + r * encoded_stride, encoded_stride);
        std::memset(base + r * stride + encoded_stride, 0xff, stride - encoded_stride);
        model::decode_row(type, encoded.data() + r * encoded_stride, cols, decoded.data() + r * cols);
      }
    }
    view.rows = base;
    view.stride = stride;
    view.num_rows = rows;
    view.cols = cols;
    view.type = type;
  }
  bool in_range(int32_t r) const { return r >= 0 && r < view.num_rows; }
  const float* row(int64_t r) const {
    if (view.type != ElementType::kFp32) return decoded.data() + r * view.cols;
    return reinterpret_cast<const float*>(view.rows + r * view.stride);
  }
  // The decoded rows as an fp32 table (for comparing with the fp32 kernels).
  Table dequantized() const {
    Table t(view.num_rows, view.cols, 0);
    for (int64_t r = 0; r < view.num_rows; ++r)
      std::memcpy(const_cast<uint8_t*>(t.view.rows) + r * t.view.stride, row(r), sizeof(float) * view.cols);
    return t;
  }
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
  int pad;          // dst_stride - cols; odd: rows `pad + 2` bytes past row_stride apart
  int threads;
  int bad_every = 0;  // every bad_every-th index out of range (alternately -1 and rows), 0: none
};

using BagSumCase = std::tuple<ElementType, BagCase>;
class EmbeddingBagSum : public ::testing::TestWithParam<BagSumCase> {};

TEST_P(EmbeddingBagSum, MatchesRefBitForBit) {
  const auto [type, c] = GetParam();
  const int64_t rows = 1000;
  const uint32_t seed = 500 + c.cols * 3 + c.batch;
  std::printf("%s cols %d batch %d max_len %d threads %d seed %u\n", to_string(type), c.cols, c.batch,
              c.max_len, c.threads, seed);
  Table table(rows, c.cols, seed, type, c.pad % 2 == 1 ? c.pad + 2 : 0);
  std::mt19937 rng(seed + 1);
  std::uniform_int_distribution<int> len(0, c.max_len);
  std::uniform_int_distribution<int32_t> row(0, rows - 1);
  std::vector<int32_t> offsets = {3};  // offsets need not start at 0
  std::vector<int32_t> indices = {-9, -9, -9};
  int64_t bad = 0;
  for (int b = 0; b < c.batch; ++b) {
    int n = b % 5 == 0 ? 0 : len(rng);  // every fifth bag empty
    for (int k = 0; k < n; ++k) {
      const bool out = c.bad_every > 0 && (indices.size() - 3) % c.bad_every == 0;
      indices.push_back(out ? (bad++ % 2 == 0 ? -1 : static_cast<int32_t>(rows)) : row(rng));
    }
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
  EXPECT_EQ(bad_fast, bad);
  EXPECT_EQ(bad_ref, bad);
  expect_rows_identical(fast, ref, c.batch, c.cols, stride);
  // Empty bags are zeros; a one-row bag is that row.
  for (int b = 0; b < c.batch; b += 5) {
    for (int col = 0; col < c.cols; ++col) ASSERT_EQ(fast[b * stride + col], 0.0f);
  }
  for (int b = 0; b < c.batch; ++b) {
    if (offsets[b + 1] - offsets[b] == 1 && table.in_range(indices[offsets[b]])) {
      const float* r = table.row(indices[offsets[b]]);
      for (int col = 0; col < c.cols; ++col) ASSERT_EQ(fast[b * stride + col], r[col]);
    }
  }
  if (type != ElementType::kFp32) {
    // The fp32 kernel over the dequantized rows gives the same bits.
    Table fp32 = table.dequantized();
    std::vector<float> expect(fast.size(), kSentinel);
    EXPECT_EQ(embedding_bag_sum(fp32.view, indices.data(), offsets.data(), c.batch, expect.data(), stride), bad);
    expect_rows_identical(fast, expect, c.batch, c.cols, stride);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, EmbeddingBagSum,
    ::testing::Combine(::testing::ValuesIn(kTypes),
                       ::testing::Values(BagCase{128, 64, 20, 0, 1},    // DLRM dim, multi-hot
                                         BagCase{128, 40, 1, 3, 1},     // one-hot and empty
                                         BagCase{8, 50, 6, 1, 1},       // half a vector (masked)
                                         BagCase{24, 50, 6, 5, 1},      // one and a half vectors
                                         BagCase{16, 30, 4, 0, 1},      // exactly one vector
                                         BagCase{7, 30, 4, 0, 1},       // odd: int4 half-filled last byte
                                         BagCase{33, 30, 4, 1, 1},      // odd, one column past two vectors
                                         BagCase{130, 30, 5, 2, 1},     // two column chunks, tail of 2
                                         BagCase{300, 20, 7, 0, 1},     // three chunks
                                         BagCase{1, 10, 3, 0, 1},       // a single column
                                         BagCase{128, 2000, 8, 0, 2},   // enough indices for the OpenMP split
                                         BagCase{24, 3000, 4, 7, 2},
                                         BagCase{128, 0, 4, 0, 1},      // no bags
                                         BagCase{128, 40, 100, 1, 1},   // bags longer than any prefetch distance
                                         BagCase{40, 60, 80, 3, 1, 7},  // out-of-range indices among the rows ahead
                                         BagCase{128, 1500, 9, 0, 2, 5})),  // ... and in the OpenMP split
    [](const ::testing::TestParamInfo<BagSumCase>& info) {
      const BagCase& c = std::get<1>(info.param);
      return std::string(to_string(std::get<0>(info.param))) + "_cols" + std::to_string(c.cols) + "_batch" +
             std::to_string(c.batch) + "_len" + std::to_string(c.max_len) + "_threads" + std::to_string(c.threads) +
             (c.bad_every > 0 ? "_bad" + std::to_string(c.bad_every) : "");
    });

// Cases of one storage type.
class EmbeddingBagOfType : public ::testing::TestWithParam<ElementType> {};

TEST_P(EmbeddingBagOfType, OutOfRangeIndicesCountedAndSkipped) {
  const ElementType type = GetParam();
  const uint32_t seed = 91;
  std::printf("seed %u\n", seed);
  const int64_t rows = 50;
  for (int cols : {8, 24, 128, 130}) {
    SCOPED_TRACE(std::string(to_string(type)) + " cols " + std::to_string(cols));
    Table table(rows, cols, seed, type);
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

using GatherShape = std::tuple<int, int, int>;  // cols, n, threads
using GatherCase = std::tuple<ElementType, GatherShape>;
class EmbeddingGather : public ::testing::TestWithParam<GatherCase> {};

TEST_P(EmbeddingGather, MatchesRefBitForBit) {
  const auto [type, shape] = GetParam();
  const auto [cols, n, threads] = shape;
  const int64_t rows = 777;
  const uint32_t seed = 900 + cols + n;
  std::printf("%s cols %d n %d threads %d seed %u\n", to_string(type), cols, n, threads, seed);
  Table table(rows, cols, seed, type, cols % 2 == 1 ? 3 : 0);
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
                         ::testing::Combine(::testing::ValuesIn(kTypes),
                                            ::testing::Values(std::make_tuple(128, 100, 1), std::make_tuple(8, 33, 1),
                                                              std::make_tuple(24, 33, 1), std::make_tuple(7, 33, 1),
                                                              std::make_tuple(130, 50, 1), std::make_tuple(1, 20, 1),
                                                              std::make_tuple(128, 9000, 2),
                                                              std::make_tuple(40, 0, 1))),
                         [](const ::testing::TestParamInfo<GatherCase>& info) {
                           const GatherShape& shape = std::get<1>(info.param);
                           return std::string(to_string(std::get<0>(info.param))) + "_cols" + std::to_string(std::get<0>(shape)) +
                                  "_n" + std::to_string(std::get<1>(shape)) + "_threads" +
                                  std::to_string(std::get<2>(shape));
                         });

TEST_P(EmbeddingBagOfType, DecodeRowRef) {
  Table table(10, 24, 7, GetParam());
  std::vector<float> row(24);
  decode_row_ref(table.view, 9, row.data());
  for (int c = 0; c < 24; ++c) EXPECT_EQ(row[c], table.row(9)[c]);
  EXPECT_THROW(decode_row_ref(table.view, 10, row.data()), Error);
  EXPECT_THROW(decode_row_ref(table.view, -1, row.data()), Error);
}

INSTANTIATE_TEST_SUITE_P(Types, EmbeddingBagOfType, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<ElementType>& info) {
                           return to_string(info.param);
                         });

TEST(EmbeddingBag, UnknownStorageTypeThrows) {
  Table table(10, 16, 8);
  int32_t index = 0;
  int32_t offsets[2] = {0, 1};
  float dst[16];
  model::RowsView view = table.view;
  view.type = ElementType::kInt64;  // an element type, but not a storage type
  try {
    embedding_bag_sum(view, &index, offsets, 1, dst, 16);
    ADD_FAILURE() << "accepted storage type int64";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("storage type int64 not supported by this build"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(embedding_bag_sum_ref(view, &index, offsets, 1, dst, 16), Error);
  EXPECT_THROW(embedding_gather(view, &index, 1, dst, 16), Error);
  EXPECT_THROW(embedding_gather_ref(view, &index, 1, dst, 16), Error);
  EXPECT_THROW(decode_row_ref(view, 0, dst), Error);
}

// A view whose stride cannot hold a row of its type is rejected by every kernel.
TEST(EmbeddingBag, RejectsShortRowStride) {
  int32_t index = 0;
  int32_t offsets[2] = {0, 1};
  float dst[24];
  // Bytes of a row of 24 columns before padding: fp32 96, fp16 48, int8 24 + 8, int4 12 + 4.
  const uint64_t need[] = {96, 48, 32, 16};
  for (int t = 0; t < 4; ++t) {
    Table table(4, 24, 8, kTypes[t]);
    model::RowsView view = table.view;
    view.stride = need[t] - 1;
    EXPECT_ERROR_WITH(embedding_bag_sum(view, &index, offsets, 1, dst, 24), "too small");
    EXPECT_THROW(embedding_bag_sum_ref(view, &index, offsets, 1, dst, 24), Error);
    EXPECT_THROW(embedding_gather(view, &index, 1, dst, 24), Error);
    EXPECT_THROW(embedding_gather_ref(view, &index, 1, dst, 24), Error);
    view.stride = need[t];
    EXPECT_EQ(embedding_gather(view, &index, 1, dst, 24), 0) << to_string(kTypes[t]);
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
