// Row encodings (row_codec.h): fp16 conversion, the byte layouts, the derived
// error bounds of int8/int4/fp16 rows, fast encoder == scalar _ref encoder
// byte for byte, bad rows, and whole models written with each storage type.
//
// Tolerances (row_codec.h; derived in docs/quantization.md, u = 2^-24):
//   fp16:       |x - y| <= max(2^-11 |x|, 2^-25)    (round to nearest, normal / subnormal)
//   int8, int4: |x - y| <= s/2 + u (4R + A)         (s the stored scale, R = (2^b - 1) s, A = max|x| of the row)
//   int4 scale: s <= ((max - min) + max(2^-10 |min|, 2^-24)) / 15 * (1 + 2^-10) + 2^-24
//               (bias rounded down to fp16: at most one fp16 ulp below min; scale
//               rounded up: at most one fp16 ulp above the exact quotient)
#include "dlrm/model/verify.h"
#include "dlrm/model/row_codec.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/shard/embedding_bag.h"
#include "dlrm/sharding/model_writer.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/sharding/source.h"

namespace fs = std::filesystem;

namespace dlrm::model {
namespace {

using test::TempDir;

constexpr float kU = 0x1p-24f;

// ---------------------------------------------------------------- fp16

TEST(Fp16, EveryValueRoundTripsExactly) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float x = fp16_to_float(static_cast<uint16_t>(h));
    if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0) {  // NaN
      ASSERT_TRUE(std::isnan(x)) << std::hex << h;
      ASSERT_TRUE(std::isnan(fp16_to_float(fp16_from_float(x)))) << std::hex << h;
      continue;
    }
    ASSERT_EQ(fp16_from_float(x), h) << std::hex << h << " -> " << x;
#if defined(__F16C__)
    ASSERT_EQ(std::bit_cast<uint32_t>(x), std::bit_cast<uint32_t>(_cvtsh_ss(static_cast<uint16_t>(h))))
        << std::hex << h;
#endif
  }
  EXPECT_EQ(fp16_to_float(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_float(0x7bff), kFp16Max);
  EXPECT_EQ(fp16_to_float(0x0001), 0x1p-24f);  // smallest subnormal
  EXPECT_EQ(fp16_to_float(0x0400), 0x1p-14f);  // smallest normal
  EXPECT_EQ(std::bit_cast<uint32_t>(fp16_to_float(0x8000)), 0x80000000u);
}

TEST(Fp16, RoundsToNearestEven) {
  EXPECT_EQ(fp16_from_float(65504.0f), 0x7bff);
  EXPECT_EQ(fp16_from_float(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(fp16_from_float(65520.0f), 0x7c00);  // the tie goes to the even neighbour, 2^16 = inf
  EXPECT_EQ(fp16_from_float(-65520.0f), 0xfc00);
  EXPECT_EQ(fp16_from_float(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(fp16_from_float(0x1p-25f), 0x0000);  // tie between 0 and 2^-24: even
  EXPECT_EQ(fp16_from_float(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(fp16_from_float(1.5f * 0x1p-24f), 0x0002);  // tie: 1 -> 2
  EXPECT_EQ(fp16_from_float(2.5f * 0x1p-24f), 0x0002);  // tie: stays 2
  EXPECT_EQ(fp16_from_float(1.0f + 0x1p-11f), 0x3c00);  // tie below: even (1.0)
  EXPECT_EQ(fp16_from_float(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(fp16_from_float(std::nextafter(0x1p-14f, 0.0f)), 0x0400);  // rounds up into the normals
  EXPECT_EQ(fp16_from_float(-0.0f), 0x8000);
}

#if defined(__F16C__)
// Every tie between neighbouring fp16 values, one fp32 ulp either side, and a
// million random bit patterns: the scalar conversion must equal vcvtps2ph.
TEST(Fp16, FromFloatMatchesF16c) {
  auto check = [](float x) {
    ASSERT_EQ(fp16_from_float(x), _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
        << x << " bits " << std::hex << std::bit_cast<uint32_t>(x);
  };
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const double a = fp16_to_float(static_cast<uint16_t>(h | sign));
      const double b = h + 1 < 0x7c00 ? fp16_to_float(static_cast<uint16_t>((h + 1) | sign)) : (sign ? -65536.0 : 65536.0);
      const auto mid = static_cast<float>((a + b) / 2);  // exact in fp32
      check(mid);
      check(std::nextafter(mid, 0.0f));
      check(std::nextafter(mid, sign ? -1e9f : 1e9f));
    }
  }
  const uint32_t seed = 17;
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  for (int i = 0; i < 1000000; ++i) {
    const float x = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (!std::isnan(x)) check(x);
  }
}
#endif

TEST(Fp16, ErrorWithinHalfUlp) {
  const uint32_t seed = 18;
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-30, 15);
  for (int i = 0; i < 200000; ++i) {
    const float x = std::ldexp(mantissa(rng), exponent(rng));
    const float y = fp16_to_float(fp16_from_float(x));
    ASSERT_LE(std::fabs(x - y), std::max(0x1p-11f * std::fabs(x), 0x1p-25f)) << x;
  }
}

// ---------------------------------------------------------------- layouts

TEST(RowLayout, StridesPerType) {
  struct Case {
    ElementType type;
    int cols;
    uint64_t stride;
  };
  for (const Case& c : {Case{ElementType::kFp32, 128, 512}, Case{ElementType::kFp16, 128, 256},
                        Case{ElementType::kInt8, 128, 136}, Case{ElementType::kInt4, 128, 68},
                        Case{ElementType::kFp32, 130, 576}, Case{ElementType::kFp16, 130, 260},
                        Case{ElementType::kInt8, 130, 140}, Case{ElementType::kInt4, 130, 72},
                        Case{ElementType::kFp16, 1, 4}, Case{ElementType::kInt8, 1, 12},
                        Case{ElementType::kInt4, 1, 8}, Case{ElementType::kInt4, 8, 8},
                        Case{ElementType::kInt4, 24, 16}, Case{ElementType::kInt4, 64, 36},
                        Case{ElementType::kInt8, 64, 72}, Case{ElementType::kFp16, 7, 16}}) {
    EXPECT_EQ(row_stride(c.type, c.cols), c.stride) << to_string(c.type) << " cols " << c.cols;
  }
  for (ElementType type : {ElementType::kFp32, ElementType::kFp16, ElementType::kInt8, ElementType::kInt4}) {
    EXPECT_TRUE(model::kStorageTypes.contains(type)) << to_string(type);
  }
  EXPECT_FALSE(kStorageTypes.contains(ElementType::kFp64));
  // The capacity goal: the 187,767,399 rows of terabyte-40m in int4 at dim 128.
  EXPECT_EQ(make_preset("terabyte-40m").total_rows() * row_stride(ElementType::kInt4, 128), 12768183132ull);
}

TEST(RowLayout, Int8BytesAsSpecified) {
  const float x[4] = {1.0f, 2.0f, 3.5f, -1.0f};
  uint8_t row[12];
  ASSERT_EQ(row_stride(ElementType::kInt8, 4), sizeof row);
  ASSERT_EQ(encode_rows(ElementType::kInt8, x, 1, 4, row).bad_rows, 0);
  const float scale = 4.5f / 255.0f;
  float stored[2];
  std::memcpy(stored, row + 4, sizeof stored);  // fp32 scale, fp32 bias right after the 4 codes
  EXPECT_EQ(stored[0], scale);
  EXPECT_EQ(stored[1], -1.0f);
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(row[c], static_cast<uint8_t>(std::nearbyint((x[c] + 1.0f) / scale))) << c;
  }
  EXPECT_EQ(row[2], 255);
  EXPECT_EQ(row[3], 0);
  EXPECT_EQ(row_scale(ElementType::kInt8, row, 4).scale, scale);
}

TEST(RowLayout, Int4BytesAsSpecified) {
  // min 0 and max 15 are fp16 values, so bias 0 and scale 1 exactly.
  const float x[3] = {0.0f, 15.0f, 7.0f};
  uint8_t row[8];
  std::memset(row, 0xee, sizeof row);
  ASSERT_EQ(row_stride(ElementType::kInt4, 3), sizeof row);
  ASSERT_EQ(encode_rows(ElementType::kInt4, x, 1, 3, row).bad_rows, 0);
  EXPECT_EQ(row[0], 0xf0);  // column 0 low nibble, column 1 high nibble
  EXPECT_EQ(row[1], 0x07);  // column 2 low nibble, the unused high nibble 0
  uint16_t scale_bias[2];
  std::memcpy(scale_bias, row + 2, sizeof scale_bias);  // fp16 scale, fp16 bias after ceil(3/2) code bytes
  EXPECT_EQ(scale_bias[0], 0x3c00);                   // 1.0
  EXPECT_EQ(scale_bias[1], 0x0000);                   // 0.0
  EXPECT_EQ(row[6], 0);                               // padding
  EXPECT_EQ(row[7], 0);
  float y[3];
  decode_row(ElementType::kInt4, row, 3, y);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(y[c], x[c]);
}

TEST(RowLayout, Fp16BytesAsSpecified) {
  const float x[3] = {1.0f, -2.0f, 0.5f};
  uint8_t row[8];
  std::memset(row, 0xee, sizeof row);
  ASSERT_EQ(row_stride(ElementType::kFp16, 3), sizeof row);
  ASSERT_EQ(encode_rows(ElementType::kFp16, x, 1, 3, row).bad_rows, 0);
  const uint8_t expect[8] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0, 0};
  EXPECT_EQ(std::memcmp(row, expect, sizeof row), 0);
}

// ---------------------------------------------------------------- round trip

enum class Values { kUniform, kTiny, kShifted, kConstant, kTwoValues, kWide };

std::string values_name(Values v) {
  switch (v) {
    case Values::kUniform: return "uniform";
    case Values::kTiny: return "tiny";
    case Values::kShifted: return "shifted";
    case Values::kConstant: return "constant";
    case Values::kTwoValues: return "two_values";
    case Values::kWide: return "wide";
  }
  return "?";
}

// rows x cols values of one kind.
std::vector<float> make_values(Values kind, int64_t rows, int cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(rows) * cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float row_offset = 50.0f * unit(rng);
    for (int c = 0; c < cols; ++c) {
      float& x = v[r * cols + c];
      switch (kind) {
        case Values::kUniform: x = unit(rng); break;
        case Values::kTiny: x = 1.58e-4f * unit(rng); break;               // +-sqrt(1/40M): terabyte's big tables
        case Values::kShifted: x = 300.0f + row_offset + unit(rng); break;  // |min| >> range: fp16 bias rounding
        case Values::kConstant: x = row_offset / 3.0f; break;
        case Values::kTwoValues: x = (c % 3 == 0) ? -0.75f : 0.3f; break;
        case Values::kWide: x = 1000.0f * unit(rng); break;
      }
    }
  }
  return v;
}

using RoundTripCase = std::tuple<ElementType, int, Values>;

class RowRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RowRoundTrip, FastEqualsRefAndErrorWithinBound) {
  const auto [type, cols, kind] = GetParam();
  const int64_t rows = 300;
  const uint32_t seed = 1000 + cols * 7 + static_cast<uint32_t>(kind);
  std::printf("%s cols %d values %s seed %u\n", to_string(type), cols, values_name(kind).c_str(), seed);
  const std::vector<float> x = make_values(kind, rows, cols, seed);
  const uint64_t stride = row_stride(type, cols);
  std::vector<uint8_t> fast(stride * rows, 0xaa), ref(stride * rows, 0x55);
  EncodeResult fast_result = encode_rows(type, x.data(), rows, cols, fast.data());
  EncodeResult ref_result = encode_rows_ref(type, x.data(), rows, cols, ref.data());
  ASSERT_EQ(fast_result.bad_rows, 0) << fast_result.reason;
  ASSERT_EQ(ref_result.bad_rows, 0) << ref_result.reason;
  ASSERT_EQ(fast, ref) << "the vectorised encoder must write the scalar encoder's bytes";

  const uint64_t used = type == ElementType::kFp16 ? 2ull * cols : scale_offset(type, cols) + (type == ElementType::kInt8 ? 8 : 4);
  std::vector<float> y(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = fast.data() + r * stride;
    for (uint64_t b = used; b < stride; ++b) ASSERT_EQ(row[b], 0) << "padding byte " << b << " of row " << r;
    if (type == ElementType::kInt4 && cols % 2 == 1) {
      ASSERT_EQ(row[cols / 2] >> 4, 0) << "unused nibble";
    }
    decode_row(type, row, cols, y.data());
    const float* xr = x.data() + r * cols;
    float min = xr[0], max = xr[0], abs_max = 0.0f;
    for (int c = 0; c < cols; ++c) {
      min = std::min(min, xr[c]);
      max = std::max(max, xr[c]);
      abs_max = std::max(abs_max, std::fabs(xr[c]));
    }
    if (type == ElementType::kFp16) {
      for (int c = 0; c < cols; ++c) {
        ASSERT_LE(std::fabs(xr[c] - y[c]), std::max(0x1p-11f * std::fabs(xr[c]), 0x1p-25f)) << "row " << r << " col " << c;
      }
      continue;
    }
    const RowScale p = row_scale(type, row, cols);
    const float levels = type == ElementType::kInt8 ? 255.0f : 15.0f;
    const float range = levels * p.scale;
    const float bound = p.scale / 2 + kU * (4 * range + abs_max);
    for (int c = 0; c < cols; ++c) {
      ASSERT_LE(std::fabs(xr[c] - y[c]), bound) << "row " << r << " col " << c << " scale " << p.scale;
    }
    if (type == ElementType::kInt8) {
      // Exactly the specified parameters: bias = min, scale = (max - min) / 255.
      ASSERT_EQ(p.bias, min + 0.0f);
      ASSERT_EQ(p.scale, (max - min) / 255.0f);
    } else {
      ASSERT_LE(p.bias, min);  // rounded down
      ASSERT_GE(15.0 * p.scale + p.bias, static_cast<double>(max));  // the codes reach max
      const double slack = std::max(0x1p-10 * std::fabs(min), 0x1p-24);
      ASSERT_LE(p.scale, ((static_cast<double>(max) - min) + slack) / 15.0 * (1 + 0x1p-10) + 0x1p-24) << "row " << r;
    }
    if (max > min) {
      // The extreme values use the extreme codes. int4: max gets 15 while the
      // rounded-up fp16 scale is within 2^-10 of the exact one (a normal fp16,
      // so 15 s <= max - bias + 15 * 2^-10 s < max - bias + s/2); its min may sit
      // above code 0 when |min| >> range (bias rounded down by up to 2^-10 |min|).
      const auto code = [&](int c) {
        return type == ElementType::kInt8 ? row[c] : (row[c / 2] >> (4 * (c & 1))) & 0xf;
      };
      const bool max_code_exact = type == ElementType::kInt8 || p.scale >= 0x1p-14f;
      for (int c = 0; c < cols; ++c) {
        if (xr[c] == max && max_code_exact) {
          ASSERT_EQ(code(c), static_cast<int>(levels))
              << "row " << r << " min " << min << " max " << max << " bias " << p.bias << " scale " << p.scale;
        }
        if (xr[c] == min && type == ElementType::kInt8) {
          ASSERT_EQ(code(c), 0) << "row " << r;
        }
      }
    } else if (type == ElementType::kInt8) {
      // scale 0: exact. (int4 cannot promise it: its bias is an fp16 value.)
      for (int c = 0; c < cols; ++c) ASSERT_EQ(y[c], xr[c]) << "a constant row decodes exactly";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, RowRoundTrip,
    ::testing::Combine(::testing::Values(ElementType::kFp16, ElementType::kInt8, ElementType::kInt4),
                       ::testing::Values(1, 2, 7, 8, 16, 24, 33, 128, 130),
                       ::testing::Values(Values::kUniform, Values::kTiny, Values::kShifted, Values::kConstant,
                                         Values::kTwoValues, Values::kWide)),
    [](const ::testing::TestParamInfo<RoundTripCase>& info) {
      return std::string(to_string(std::get<0>(info.param))) + "_cols" + std::to_string(std::get<1>(info.param)) + "_" +
             values_name(std::get<2>(info.param));
    });

TEST(RowEncode, Fp32RowsArePaddedCopies) {
  const std::vector<float> x = make_values(Values::kUniform, 3, 5, 3);
  std::vector<uint8_t> bytes(3 * row_stride(ElementType::kFp32, 5), 0xff);
  ASSERT_EQ(encode_rows(ElementType::kFp32, x.data(), 3, 5, bytes.data()).bad_rows, 0);
  std::vector<float> y(5);
  for (int r = 0; r < 3; ++r) {
    decode_row(ElementType::kFp32, bytes.data() + r * 64, 5, y.data());
    for (int c = 0; c < 5; ++c) EXPECT_EQ(y[c], x[r * 5 + c]);
    for (int b = 20; b < 64; ++b) EXPECT_EQ(bytes[r * 64 + b], 0);
  }
}

TEST(RowEncode, BadRowsReportedAndZeroed) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    ElementType type;
    float bad_value;   // put in column 2 of row 1
    float other;       // put in column 0 of row 1 (the rest of the row is 0)
    const char* reason;
  };
  for (const Case& c : {Case{ElementType::kFp16, nan, 0.0f, "fp16 range"},
                        Case{ElementType::kFp16, 70000.0f, 0.0f, "fp16 range"},
                        Case{ElementType::kInt8, inf, 0.0f, "NaN or an infinity"},
                        Case{ElementType::kInt8, -nan, 0.0f, "NaN or an infinity"},
                        Case{ElementType::kInt8, 3e38f, -3e38f, "overflows fp32"},
                        Case{ElementType::kInt4, -inf, 0.0f, "NaN or an infinity"},
                        Case{ElementType::kInt4, -70000.0f, 0.0f, "below the fp16 range"},
                        Case{ElementType::kInt4, 1e6f, 0.0f, "fp16 range (65504) of the int4 scale"}}) {
    for (int cols : {3, 40}) {
      SCOPED_TRACE(std::string(to_string(c.type)) + " cols " + std::to_string(cols) + " value " + std::to_string(c.bad_value));
      std::vector<float> x = make_values(Values::kUniform, 4, cols, 5);
      for (int r : {1, 3}) {  // rows 1 and 3: zeros, `other` in column 0, `bad_value` in column 2
        for (int col = 0; col < cols; ++col) x[r * cols + col] = 0.0f;
        x[r * cols + 2] = c.bad_value;
        x[r * cols + 0] = c.other;
      }
      const uint64_t stride = row_stride(c.type, cols);
      for (auto encode : {encode_rows, encode_rows_ref}) {
        std::vector<uint8_t> bytes(4 * stride, 0xff);
        EncodeResult result = encode(c.type, x.data(), 4, cols, bytes.data());
        EXPECT_EQ(result.bad_rows, 2);
        EXPECT_EQ(result.first_bad, 1);
        EXPECT_NE(result.reason.find(c.reason), std::string::npos) << result.reason;
        for (uint64_t b = 0; b < stride; ++b) ASSERT_EQ(bytes[stride + b], 0) << "bad row not zeroed";
        std::vector<uint8_t> good(stride);
        ASSERT_EQ(encode_rows_ref(c.type, x.data() + 2 * cols, 1, cols, good.data()).bad_rows, 0);
        EXPECT_EQ(std::memcmp(bytes.data() + 2 * stride, good.data(), stride), 0) << "the next row was not encoded";
      }
    }
  }
  // Values fp16 cannot hold are fine as int8 (its scale and bias are fp32).
  const float big[2] = {-70000.0f, 1e6f};
  uint8_t row[12];
  EXPECT_EQ(encode_rows(ElementType::kInt8, big, 1, 2, row).bad_rows, 0);
}

TEST(RowEncode, RejectsBadArguments) {
  float x = 1.0f;
  uint8_t row[16];
  EXPECT_THROW(encode_rows(ElementType::kInt8, &x, 1, 0, row), Error);
  EXPECT_THROW(encode_rows(static_cast<ElementType>(9), &x, 1, 1, row), Error);
  EXPECT_THROW(decode_row(static_cast<ElementType>(9), row, 1, &x), Error);
}

// ---------------------------------------------------------------- whole models

// Every stored row of a model, decoded, against the source's fp32 rows; and the
// stored bytes against encode_rows_ref of those rows.
void check_model_rows(const fs::path& dir, sharding::ModelSource& source) {
  Manifest m = load_manifest(dir);
  uint64_t rows_checked = 0;
  for (const ShardInfo& info : m.shards) {
    ShardFile file = ShardFile::open(dir / info.file);
    ASSERT_EQ(file.storage_type(), m.dtype);
    for (size_t s = 0; s < file.slices().size(); ++s) {
      const ShardSliceRecord& rec = file.slices()[s];
      const int cols = static_cast<int>(rec.col_end - rec.col_begin);
      const auto rows = static_cast<int64_t>(rec.row_end - rec.row_begin);
      ASSERT_EQ(rec.row_stride, row_stride(m.dtype, cols));
      std::vector<float> x(static_cast<size_t>(rows) * cols);
      source.read_rows(static_cast<int>(rec.table), static_cast<int64_t>(rec.row_begin), rows,
                       static_cast<int>(rec.col_begin), static_cast<int>(rec.col_end), x.data());
      std::vector<uint8_t> expect(rec.row_stride * rows);
      ASSERT_EQ(encode_rows_ref(m.dtype, x.data(), rows, cols, expect.data()).bad_rows, 0);
      ASSERT_EQ(std::memcmp(file.slice_rows(static_cast<int>(s)), expect.data(), expect.size()), 0)
          << info.file << " slice " << s;
      model::RowsView view{file.slice_rows(static_cast<int>(s)), rec.row_stride, rows, cols, m.dtype};
      std::vector<float> y(cols);
      for (int64_t r = 0; r < rows; ++r) {
        shard::decode_row_ref(view, r, y.data());
        const float* xr = x.data() + r * cols;
        float abs_max = 0.0f;
        for (int c = 0; c < cols; ++c) abs_max = std::max(abs_max, std::fabs(xr[c]));
        const RowScale p = row_scale(m.dtype, view.rows + r * view.stride, cols);
        const float levels = m.dtype == ElementType::kInt8 ? 255.0f : 15.0f;
        for (int c = 0; c < cols; ++c) {
          const float bound = m.dtype == ElementType::kFp16
                                  ? std::max(0x1p-11f * std::fabs(xr[c]), 0x1p-25f)
                                  : p.scale / 2 + kU * (4 * levels * p.scale + abs_max);
          ASSERT_LE(std::fabs(xr[c] - y[c]), bound) << "table " << rec.table << " row " << rec.row_begin + r;
        }
        ++rows_checked;
      }
    }
  }
  // Column plans store each row once per column block.
  EXPECT_GE(rows_checked, m.arch.total_rows());
}

using ModelCase = std::tuple<ElementType, std::string>;
class QuantizedModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(QuantizedModel, WritesVerifiesAndDecodesWithinBound) {
  const auto [type, plan] = GetParam();
  const uint64_t seed = 11;
  std::printf("%s plan %s seed %llu\n", to_string(type), plan.c_str(), static_cast<unsigned long long>(seed));
  TempDir dir;
  ModelArch arch = make_preset("small");
  auto source = sharding::make_synth_source(arch, seed);
  sharding::WriteOptions options;
  options.plan.shards = 3;
  options.plan.dtype = type;
  options.plan.kind = sharding::parse_plan_kind(plan);
  options.plan.column_splits = 2;
  options.progress = false;
  options.chunk_bytes = 4096;  // many chunks per slice
  Manifest written = sharding::write_model(*source, options, dir / "model");
  EXPECT_TRUE(dir.partial_names().empty());
  VerifyResult result = verify_model(dir / "model", false);
  EXPECT_EQ(result.files, 4);
  Manifest m = load_manifest(dir / "model");
  EXPECT_EQ(m.dtype, type);
  uint64_t embedding_bytes = 0;
  for (const ShardInfo& info : m.shards) {
    for (const Slice& slice : info.slices) embedding_bytes += slice.rows() * row_stride(type, slice.cols());
  }
  uint64_t manifest_bytes = 0;
  for (const ShardInfo& info : m.shards) manifest_bytes += info.embedding_bytes;
  EXPECT_EQ(manifest_bytes, embedding_bytes);
  if (plan != "column") {
    EXPECT_EQ(embedding_bytes, arch.total_rows() * row_stride(type, arch.dim));
  }
  check_model_rows(dir / "model", *source);
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizedModel,
                         ::testing::Combine(::testing::Values(ElementType::kFp16, ElementType::kInt8,
                                                              ElementType::kInt4),
                                            ::testing::Values("auto", "row", "column")),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_" + std::get<1>(info.param);
                         });

// A synthetic source with one poisoned element.
class PoisonedSource final : public sharding::ModelSource {
 public:
  PoisonedSource(std::unique_ptr<sharding::ModelSource> inner, int table, int64_t row, float value)
      : inner_(std::move(inner)), table_(table), row_(row), value_(value) {}
  std::string describe() const override { return "poisoned " + inner_->describe(); }
  const ModelArch& arch() const override { return inner_->arch(); }
  void read_rows(int table, int64_t row_begin, int64_t rows, int col_begin, int col_end, float* dst) override {
    inner_->read_rows(table, row_begin, rows, col_begin, col_end, dst);
    if (table == table_ && row_ >= row_begin && row_ < row_begin + rows) dst[(row_ - row_begin) * (col_end - col_begin)] = value_;
  }
  std::vector<float> read_dense(const std::string& name, const std::vector<int64_t>& shape) override {
    return inner_->read_dense(name, shape);
  }

 private:
  std::unique_ptr<sharding::ModelSource> inner_;
  int table_;
  int64_t row_;
  float value_;
};

TEST(QuantizedModelWrite, UnencodableRowNamedAndNothingLeft) {
  TempDir dir;
  struct Case {
    ElementType type;
    float value;
    std::vector<std::string> parts;
  };
  for (const Case& c : {Case{ElementType::kInt8, std::numeric_limits<float>::quiet_NaN(),
                             {"table 3 row 517", "int8", "NaN", "--dtype fp32"}},
                        Case{ElementType::kFp16, 1e5f, {"table 3 row 517", "fp16", "fp16 range", "--dtype int8 or fp32"}},
                        Case{ElementType::kInt4, -1e5f, {"table 3 row 517", "int4", "fp16 range", "--dtype int8 or fp32"}}}) {
    PoisonedSource source(sharding::make_synth_source(make_preset("small"), 3), 3, 517, c.value);
    sharding::WriteOptions options;
    options.plan.shards = 2;
    options.plan.dtype = c.type;
    options.progress = false;
    ASSERT_EQ(c.parts.size(), 4u);
    EXPECT_ERROR_WITH(sharding::write_model(source, options, dir / "model"), c.parts[0], c.parts[1], c.parts[2], c.parts[3]);
    EXPECT_FALSE(fs::exists(dir / "model"));
    EXPECT_TRUE(dir.partial_names().empty());
  }
}

}  // namespace
}  // namespace dlrm::model
