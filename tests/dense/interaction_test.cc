// interaction_dot against interaction_dot_ref and a hand-computed example.
//
// Tolerance (derived, per pair): a dot product of length dim summed in fp32 in
// any order (partial sums per lane, a reduction tree, FMA or not) is within
// gamma_dim * A of the exact value, A = sum_d |T_i[d] T_j[d]| and
// gamma_n = n u / (1 - n u), u = 2^-24. Reference and fast version both are,
// so |fast - ref| <= 2 gamma_dim * A, with A computed in double from the inputs.
// The x columns are copies and must match exactly; columns past width() must
// keep their sentinel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/common/half.h"
#include "dlrm/dense/interaction.h"
#include "test_files.h"

namespace dlrm::dense {
namespace {

constexpr double kUnitRoundoff = 1.0 / (1 << 24);
constexpr float kSentinel = -12345.5f;

double gamma_n(int64_t n) { return n * kUnitRoundoff / (1.0 - n * kUnitRoundoff); }

// Embedding-row views that own their pointer arrays (one per table, or one
// per (sample, table) row), for the calls below.
struct OwnedRows {
  std::vector<const void*> pointers;
  EmbeddingRows view;
};
template <class T>
OwnedRows tables_view(const std::vector<const T*>& tables, int64_t stride, ElementType type = ElementType::kFp32) {
  OwnedRows r{{tables.begin(), tables.end()}, {}};
  r.view = EmbeddingRows::per_table(r.pointers.data(), static_cast<int>(tables.size()), stride, type);
  return r;
}
template <class T>
OwnedRows rows_view(const std::vector<const T*>& rows, int tables, ElementType type = ElementType::kFp32) {
  OwnedRows r{{rows.begin(), rows.end()}, {}};
  r.view = EmbeddingRows::per_row(r.pointers.data(), tables, type);
  return r;
}
EmbeddingRows block_view(const std::vector<float>& emb, const InteractionShape& shape) {
  return EmbeddingRows::block(emb.data(), shape.tables, shape.dim);
}

TEST(Interaction, HandComputedOrder) {
  // T rows: r0 = x = (1, 2), r1 = (3, 4), r2 = (5, 6), r3 = (7, 8); all products exact.
  const float x[2] = {1, 2};
  const float emb[6] = {3, 4, 5, 6, 7, 8};
  // Strict: (1,0)=11 (2,0)=17 (2,1)=39 (3,0)=23 (3,1)=53 (3,2)=83.
  const std::vector<float> strict = {1, 2, 11, 17, 39, 23, 53, 83};
  // Self: (0,0)=5 (1,0)=11 (1,1)=25 (2,0)=17 (2,1)=39 (2,2)=61 (3,0)=23 (3,1)=53 (3,2)=83 (3,3)=113.
  const std::vector<float> self = {1, 2, 5, 11, 25, 17, 39, 61, 23, 53, 83, 113};
  for (bool with_self : {false, true}) {
    InteractionShape shape{3, 2, with_self};
    const std::vector<float>& want = with_self ? self : strict;
    ASSERT_EQ(shape.width(), static_cast<int>(want.size()));
    for (auto kernel : {&interaction_dot, &interaction_dot_ref}) {
      std::vector<float> dst(want.size() + 3, kSentinel);
      kernel(shape, x, EmbeddingRows::block(emb, shape.tables, shape.dim), 1, dst.data(),
             static_cast<int64_t>(dst.size()));
      for (size_t k = 0; k < want.size(); ++k) EXPECT_EQ(dst[k], want[k]) << "self " << with_self << " column " << k;
      for (size_t k = want.size(); k < dst.size(); ++k) EXPECT_EQ(dst[k], kSentinel);
    }
  }
}

// The table-pointer form (the cluster's answers used where they lie) computes
// exactly what the emb[batch][tables][dim] form computes: same kernel, same
// summation order, so bit-identical, for the fast and the _ref versions.
// Uniform(-1, 1) inputs x[batch][dim] and emb[batch][tables][dim] from a
// fixed, printed seed.
struct RandomInputs {
  std::vector<float> x, emb;
};
RandomInputs random_inputs(const InteractionShape& shape, int batch, uint32_t seed) {
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  RandomInputs in;
  in.x.resize(static_cast<size_t>(batch) * shape.dim);
  in.emb.resize(static_cast<size_t>(batch) * shape.tables * shape.dim);
  for (float& v : in.x) v = dist(rng);
  for (float& v : in.emb) v = dist(rng);
  return in;
}

TEST(Interaction, TablePointersEqualContiguousEmbeddings) {
  const InteractionShape shape{26, 128, false};
  const int batch = 37;
  const int64_t stride = 128 + 16;  // each table's rows padded, in its own buffer
  auto [x, emb] = random_inputs(shape, batch, 77);
  std::vector<std::vector<float>> own(shape.tables, std::vector<float>(static_cast<size_t>(batch) * stride, NAN));
  std::vector<const float*> tables(shape.tables);
  for (int t = 0; t < shape.tables; ++t) {
    for (int b = 0; b < batch; ++b) {
      std::copy_n(emb.data() + (static_cast<size_t>(b) * shape.tables + t) * shape.dim, shape.dim,
                  own[t].data() + b * stride);
    }
    tables[t] = own[t].data();
  }
  const int64_t width = shape.width();
  for (bool ref : {false, true}) {
    std::vector<float> want(static_cast<size_t>(batch) * width), got(want.size());
    if (ref) {
      interaction_dot_ref(shape, x.data(), block_view(emb, shape), batch, want.data(), width);
      interaction_dot_ref(shape, x.data(), tables_view(tables, stride).view, batch, got.data(), width);
    } else {
      interaction_dot(shape, x.data(), block_view(emb, shape), batch, want.data(), width);
      interaction_dot(shape, x.data(), tables_view(tables, stride).view, batch, got.data(), width);
    }
    int64_t mismatches = 0;
    for (size_t k = 0; k < want.size(); ++k) mismatches += std::memcmp(&want[k], &got[k], sizeof(float)) != 0;
    EXPECT_EQ(mismatches, 0) << (ref ? "_ref" : "fast");
  }
}

// The pointer-per-row form (row-split tables: each sample's row lies in the
// answer of the shard that owns it) equals the contiguous form bit for bit,
// fp32 and 16-bit rows, both precisions, fast and _ref. The rows sit in one
// pool in a shuffled order (fixed seed), so no two of a sample are adjacent.
TEST(Interaction, RowPointersEqualContiguousEmbeddings) {
  const int batch = 37;
  for (ElementType precision : {ElementType::kFp32, ElementType::kBf16}) {
    const InteractionShape shape{26, 128, false, precision};
    auto [x, emb] = random_inputs(shape, batch, 79);
    const int64_t count = static_cast<int64_t>(batch) * shape.tables;
    std::vector<int64_t> place(count);
    for (int64_t k = 0; k < count; ++k) place[k] = k;
    std::shuffle(place.begin(), place.end(), std::mt19937(80));
    std::vector<float> pool(emb.size());
    std::vector<uint16_t> half_pool(emb.size()), half_emb(emb.size());
    dlrm::to_half_ref(dlrm::ElementType::kBf16, emb.data(), half_emb.data(), static_cast<int64_t>(emb.size()));
    std::vector<const float*> rows(count);
    std::vector<const uint16_t*> half_rows(count);
    for (int64_t k = 0; k < count; ++k) {  // k = b * tables + t
      std::copy_n(emb.data() + k * shape.dim, shape.dim, pool.data() + place[k] * shape.dim);
      std::copy_n(half_emb.data() + k * shape.dim, shape.dim, half_pool.data() + place[k] * shape.dim);
      rows[k] = pool.data() + place[k] * shape.dim;
      half_rows[k] = half_pool.data() + place[k] * shape.dim;
    }
    std::vector<const uint16_t*> half_tables(shape.tables);
    for (int t = 0; t < shape.tables; ++t) half_tables[t] = half_emb.data() + static_cast<int64_t>(t) * shape.dim;
    const int64_t width = shape.width(), stride = static_cast<int64_t>(shape.tables) * shape.dim;
    for (bool ref : {false, true}) {
      const size_t n = static_cast<size_t>(batch) * width;
      std::vector<float> want(n), got(n), half_want(n), half_got(n);
      if (ref) {
        interaction_dot_ref(shape, x.data(), block_view(emb, shape), batch, want.data(), width);
        interaction_dot_ref(shape, x.data(), rows_view(rows, shape.tables).view, batch, got.data(), width);
        interaction_dot_ref(shape, x.data(), tables_view(half_tables, stride, dlrm::ElementType::kBf16).view, batch,
                            half_want.data(), width);
        interaction_dot_ref(shape, x.data(), rows_view(half_rows, shape.tables, dlrm::ElementType::kBf16).view, batch, half_got.data(),
                                 width);
      } else {
        interaction_dot(shape, x.data(), block_view(emb, shape), batch, want.data(), width);
        interaction_dot(shape, x.data(), rows_view(rows, shape.tables).view, batch, got.data(), width);
        interaction_dot(shape, x.data(), tables_view(half_tables, stride, dlrm::ElementType::kBf16).view, batch, half_want.data(),
                        width);
        interaction_dot(shape, x.data(), rows_view(half_rows, shape.tables, dlrm::ElementType::kBf16).view, batch, half_got.data(), width);
      }
      int64_t mismatches = 0, half_mismatches = 0;
      for (size_t k = 0; k < n; ++k) {
        mismatches += std::memcmp(&want[k], &got[k], sizeof(float)) != 0;
        half_mismatches += std::memcmp(&half_want[k], &half_got[k], sizeof(float)) != 0;
      }
      EXPECT_EQ(mismatches, 0) << (ref ? "_ref " : "fast ") << to_string(precision);
      EXPECT_EQ(half_mismatches, 0) << (ref ? "_ref " : "fast ") << to_string(precision) << " 16-bit rows";
    }
  }
}

// 16-bit rows (the cluster's fp16/bf16 answers) are widened exactly, so the
// 16-bit forms equal the fp32 forms on the widened rows bit for bit (fast and
// _ref alike; fast against _ref is bounded by InteractionVsRef).
TEST(Interaction, HalfRowsEqualWidenedRows) {
  const InteractionShape shape{26, 128, false};
  const int batch = 19;
  const int64_t stride = 128 + 32;
  const uint32_t seed = 78;
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(batch) * shape.dim);
  for (float& v : x) v = dist(rng);
  for (dlrm::ElementType type : {dlrm::ElementType::kBf16, dlrm::ElementType::kFp16}) {
    std::vector<std::vector<uint16_t>> half(shape.tables);
    std::vector<std::vector<float>> wide(shape.tables);
    std::vector<const uint16_t*> half_tables(shape.tables);
    std::vector<const float*> wide_tables(shape.tables);
    for (int t = 0; t < shape.tables; ++t) {
      std::vector<float> values(static_cast<size_t>(batch) * stride);
      for (float& v : values) v = dist(rng);
      half[t].resize(values.size());
      wide[t].resize(values.size());
      dlrm::to_half_ref(type, values.data(), half[t].data(), static_cast<int64_t>(values.size()));
      dlrm::from_half_ref(type, half[t].data(), wide[t].data(), static_cast<int64_t>(values.size()));
      half_tables[t] = half[t].data();
      wide_tables[t] = wide[t].data();
    }
    const int64_t width = shape.width();
    for (bool ref : {false, true}) {
      std::vector<float> want(static_cast<size_t>(batch) * width), got(want.size());
      if (ref) {
        interaction_dot_ref(shape, x.data(), tables_view(wide_tables, stride).view, batch, want.data(), width);
        interaction_dot_ref(shape, x.data(), tables_view(half_tables, stride, type).view, batch, got.data(), width);
      } else {
        interaction_dot(shape, x.data(), tables_view(wide_tables, stride).view, batch, want.data(), width);
        interaction_dot(shape, x.data(), tables_view(half_tables, stride, type).view, batch, got.data(), width);
      }
      int64_t mismatches = 0;
      for (size_t k = 0; k < want.size(); ++k) mismatches += std::memcmp(&want[k], &got[k], sizeof(float)) != 0;
      EXPECT_EQ(mismatches, 0) << (ref ? "_ref" : "fast") << (type == dlrm::ElementType::kBf16 ? " bf16" : " fp16");
    }
  }
}

struct InteractionCase {
  int tables;
  int dim;
  bool self;
  int batch;
  int pad;  // dst_stride - width
  ElementType precision = ElementType::kFp32;
};

class InteractionVsRef : public ::testing::TestWithParam<InteractionCase> {};

TEST_P(InteractionVsRef, WithinDerivedBound) {
  const InteractionCase c = GetParam();
  const InteractionShape shape{c.tables, c.dim, c.self, c.precision};
  const uint32_t seed = 4000 + c.tables * 7 + c.dim + (c.self ? 1 : 0);
  std::printf("tables %d dim %d self %d batch %d precision %s seed %u\n", c.tables, c.dim, c.self, c.batch,
              to_string(c.precision), seed);
  // bf16: both sum the same exact products of rounded values, each at most
  // (1 + 2^-8)^2 times the product of the originals (bf16 unit roundoff 2^-8);
  // VDPBF16PS flushes subnormals, worth at most dim x 2^-126 (the 1e-30).
  const bool bf16 = c.precision == ElementType::kBf16;
  const double product_growth = bf16 ? std::pow(1.0 + std::ldexp(1.0, -8), 2) : 1.0;
  const double flush_slack = bf16 ? 1e-30 : 0.0;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(c.batch) * c.dim);
  std::vector<float> emb(static_cast<size_t>(c.batch) * c.tables * c.dim);
  for (float& v : x) v = dist(rng);
  for (float& v : emb) v = dist(rng);
  const int64_t stride = shape.width() + c.pad;
  std::vector<float> fast(static_cast<size_t>(c.batch) * stride, kSentinel);
  std::vector<float> ref(fast.size(), kSentinel);
  interaction_dot(shape, x.data(), block_view(emb, shape), c.batch, fast.data(), stride);
  interaction_dot_ref(shape, x.data(), block_view(emb, shape), c.batch, ref.data(), stride);

  const double g = gamma_n(c.dim);
  int failures = 0;
  for (int b = 0; b < c.batch && failures < 10; ++b) {
    const float* f = fast.data() + b * stride;
    const float* r = ref.data() + b * stride;
    const float* xb = x.data() + static_cast<size_t>(b) * c.dim;
    const float* eb = emb.data() + static_cast<size_t>(b) * c.tables * c.dim;
    auto row = [&](int k) { return k == 0 ? xb : eb + static_cast<size_t>(k - 1) * c.dim; };
    for (int d = 0; d < c.dim; ++d) ASSERT_EQ(f[d], xb[d]) << "sample " << b;
    int col = c.dim;
    for (int i = 0; i < shape.features(); ++i) {
      for (int j = 0; j < (c.self ? i + 1 : i); ++j, ++col) {
        double abs_sum = 0.0;
        for (int d = 0; d < c.dim; ++d) abs_sum += std::abs(static_cast<double>(row(i)[d]) * row(j)[d]);
        double diff = std::abs(static_cast<double>(f[col]) - r[col]);
        const double bound = 2 * g * abs_sum * product_growth + flush_slack;
        if (!(diff <= bound)) {
          ADD_FAILURE() << "sample " << b << " pair (" << i << "," << j << "): fast " << f[col] << " ref " << r[col]
                        << " bound " << bound;
          ++failures;
        }
      }
    }
    ASSERT_EQ(col, shape.width());
    for (int64_t k = shape.width(); k < stride; ++k) {
      ASSERT_EQ(f[k], kSentinel) << "padding written, sample " << b;
      ASSERT_EQ(r[k], kSentinel) << "padding written by ref, sample " << b;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, InteractionVsRef,
    ::testing::Values(InteractionCase{26, 128, false, 67, 1},   // DLRM terabyte: 479 -> stride 480
                      InteractionCase{26, 128, true, 33, 0},    // with self terms
                      InteractionCase{26, 128, false, 300, 33},  // enough work for the OpenMP path; pad to 512
                      InteractionCase{3, 16, false, 20, 5},     // F = 4: one 4 x 4 block
                      InteractionCase{3, 16, true, 20, 0},
                      InteractionCase{26, 16, false, 40, 7},    // the "small" preset
                      InteractionCase{5, 20, false, 9, 2},      // masked dim tail, F = 6
                      InteractionCase{8, 7, true, 9, 3},        // dim < 16, F = 9
                      InteractionCase{1, 33, false, 5, 0},      // a single pair
                      InteractionCase{0, 16, true, 3, 2},       // only (0,0)
                      InteractionCase{63, 24, true, 17, 0},     // F = 64, dim not a multiple of 16
                      InteractionCase{80, 32, false, 21, 3},    // F = 81: a partial last block row
                      // bf16 products: DLRM shapes, dims not a multiple of 32 (zero padding), tiny F.
                      InteractionCase{26, 128, false, 67, 1, ElementType::kBf16},
                      InteractionCase{26, 128, true, 300, 33, ElementType::kBf16},
                      InteractionCase{26, 16, false, 40, 7, ElementType::kBf16},
                      InteractionCase{5, 20, false, 9, 2, ElementType::kBf16},
                      InteractionCase{8, 7, true, 9, 3, ElementType::kBf16},
                      InteractionCase{1, 33, false, 5, 0, ElementType::kBf16}),
    [](const ::testing::TestParamInfo<InteractionCase>& info) {
      const InteractionCase& c = info.param;
      return "tables" + std::to_string(c.tables) + "_dim" + std::to_string(c.dim) + (c.self ? "_self" : "") +
             "_batch" + std::to_string(c.batch) + (c.precision == ElementType::kBf16 ? "_bf16" : "");
    });

// bf16 products against the fp32 _ref: each input moves by at most 2^-8 of
// itself, so each product by (2 * 2^-8 + 2^-16) of itself, plus both sums'
// rounding (2 gamma_dim of the sums of |products|, bf16 ones up to (1 + 2^-8)^2
// larger). Over DLRM-shaped random data the measured worst is far inside.
TEST(Interaction, Bf16ProductsStayWithinTheirRoundingOfFp32) {
  const InteractionShape fp32{26, 128, false, ElementType::kFp32};
  InteractionShape bf16 = fp32;
  bf16.precision = ElementType::kBf16;
  const int batch = 64;
  auto [x, emb] = random_inputs(fp32, batch, 79);
  const int64_t width = fp32.width();
  std::vector<float> want(static_cast<size_t>(batch) * width), got(want.size());
  interaction_dot_ref(fp32, x.data(), block_view(emb, fp32), batch, want.data(), width);
  interaction_dot(bf16, x.data(), block_view(emb, bf16), batch, got.data(), width);
  const double u = std::ldexp(1.0, -8), g = gamma_n(128);
  double worst_share = 0;  // largest |diff| / bound seen
  int failures = 0;
  for (int b = 0; b < batch && failures < 10; ++b) {
    const float* xb = x.data() + static_cast<size_t>(b) * 128;
    const float* eb = emb.data() + static_cast<size_t>(b) * 26 * 128;
    auto row = [&](int k) { return k == 0 ? xb : eb + static_cast<size_t>(k - 1) * 128; };
    for (int d = 0; d < 128; ++d) ASSERT_EQ(got[b * width + d], xb[d]) << "x must stay exact, sample " << b;
    int col = 128;
    for (int i = 1; i < fp32.features(); ++i) {
      for (int j = 0; j < i; ++j, ++col) {
        double abs_sum = 0.0;
        for (int d = 0; d < 128; ++d) abs_sum += std::abs(static_cast<double>(row(i)[d]) * row(j)[d]);
        const double bound = (2 * u + u * u) * abs_sum + 2 * g * abs_sum * (1 + (1 + u) * (1 + u));
        const double diff = std::abs(static_cast<double>(got[b * width + col]) - want[b * width + col]);
        worst_share = std::max(worst_share, diff / bound);
        if (!(diff <= bound) && failures++ < 10) {
          ADD_FAILURE() << "sample " << b << " pair (" << i << "," << j << "): " << diff << " > " << bound;
        }
      }
    }
  }
  std::printf("worst |bf16 - fp32 ref| = %.3f of the bound\n", worst_share);
}

// bf16 products over 16-bit or fp32 rows of the same values: the block is the
// same, so the results are bit-identical (fast and _ref).
TEST(Interaction, Bf16ProductsSameFromFp32AndBf16Rows) {
  InteractionShape shape{26, 128, false, ElementType::kBf16};
  const int batch = 21;
  auto [x, emb] = random_inputs(shape, batch, 80);
  std::vector<uint16_t> emb16(emb.size());
  dlrm::to_half_ref(dlrm::ElementType::kBf16, emb.data(), emb16.data(), static_cast<int64_t>(emb.size()));
  std::vector<const float*> tables(26);
  std::vector<const uint16_t*> tables16(26);
  for (int t = 0; t < 26; ++t) {
    tables[t] = emb.data() + t * 128;
    tables16[t] = emb16.data() + t * 128;
  }
  const int64_t width = shape.width();
  for (bool ref : {false, true}) {
    std::vector<float> a(static_cast<size_t>(batch) * width), b(a.size());
    if (ref) {
      interaction_dot_ref(shape, x.data(), tables_view(tables, 26 * 128).view, batch, a.data(), width);
      interaction_dot_ref(shape, x.data(), tables_view(tables16, 26 * 128, dlrm::ElementType::kBf16).view, batch, b.data(), width);
    } else {
      interaction_dot(shape, x.data(), tables_view(tables, 26 * 128).view, batch, a.data(), width);
      interaction_dot(shape, x.data(), tables_view(tables16, 26 * 128, dlrm::ElementType::kBf16).view, batch, b.data(), width);
    }
    int64_t mismatches = 0;
    for (size_t k = 0; k < a.size(); ++k) mismatches += std::memcmp(&a[k], &b[k], sizeof(float)) != 0;
    EXPECT_EQ(mismatches, 0) << (ref ? "_ref" : "fast");
  }
}

TEST(Interaction, PrecisionNames) {
  EXPECT_EQ(parse_element_type("bf16", kInteractionTypes, "interaction precision"), ElementType::kBf16);
  EXPECT_EQ(parse_element_type("fp32", kInteractionTypes, "interaction precision"), ElementType::kFp32);
  EXPECT_ERROR_WITH(parse_element_type("int8", kInteractionTypes, "interaction precision"),
                    "unknown interaction precision 'int8'; choose fp32 or bf16");
}

TEST(Interaction, RejectsRowsOfOtherTypesOrTableCounts) {
  InteractionShape shape{26, 128, false};
  std::vector<float> x(128), emb(26 * 128), dst(479);
  auto rows = block_view(emb, shape);
  rows.type = ElementType::kInt8;
  EXPECT_ERROR_WITH(interaction_dot(shape, x.data(), rows, 1, dst.data(), 479), "int8");
  rows = EmbeddingRows::block(emb.data(), 25, 128);
  EXPECT_ERROR_WITH(interaction_dot_ref(shape, x.data(), rows, 1, dst.data(), 479), "25 tables");
}

TEST(Interaction, RejectsShortStride) {
  InteractionShape shape{26, 128, false};
  std::vector<float> x(128), emb(26 * 128), dst(479);
  EXPECT_THROW(interaction_dot(shape, x.data(), block_view(emb, shape), 1, dst.data(), 478), Error);
  EXPECT_THROW(interaction_dot_ref(shape, x.data(), block_view(emb, shape), 1, dst.data(), 478), Error);
  EXPECT_NO_THROW(interaction_dot(shape, x.data(), block_view(emb, shape), 1, dst.data(), 479));
  EXPECT_NO_THROW(interaction_dot(shape, x.data(), block_view(emb, shape), 0, dst.data(), 479));
}

}  // namespace
}  // namespace dlrm::dense
