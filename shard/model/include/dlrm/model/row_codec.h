// Stored embedding rows: the storage types, the byte layout of one stored row
// of each (the row-layout table: the contract for shard files, the
// embedding-bag kernels and every byte count of a plan), and the encoders and
// decoders between fp32 rows and stored rows.
//
// One stored row of `cols` values takes row_stride(type, cols) bytes, of which
// the first row_bytes(type, cols) hold the row and the rest are zero padding:
//
//   type  row_bytes: the row                                     row_stride                      dim 128
//   fp32  cols x fp32                                            round_up(4 cols, 64)                512
//   fp16  cols x IEEE binary16                                   round_up(2 cols, 4)                 256
//   int8  cols x uint8 code | fp32 scale | fp32 bias             round_up(cols + 8, 4)               136
//   int4  ceil(cols / 2) bytes of 4-bit codes | fp16 scale |     round_up(ceil(cols / 2) + 4, 4)      68
//         fp16 bias
//
// int4 codes: column 2i is the low nibble of code byte i, column 2i+1 the high
// nibble; with odd cols the last high nibble is 0. A column slice of a table
// (column plans) is stored as rows of its own, each with its own scale and bias.
//
// Decoding column c:  fp32, fp16: the stored value;  int8, int4: fmaf(code[c], scale, bias)
// (one rounding; the _ref kernels and the vector kernels compute exactly this).
//
// Encoding one row x[0..cols):
//   fp16: round to nearest even
//   int8: bias = min(x), scale = (max(x) - min(x)) / 255 in fp32
//   int4: bias = min(x) rounded down to fp16; scale = (max(x) - bias) / 15 rounded to fp16,
//         raised by fp16 steps until bias + 15 * scale >= max(x)
//   code[c] = clamp(round_half_even((x[c] - bias) / scale), 0, 2^b - 1)   (b = 8 or 4)
//   scale == 0 (a constant row): every code is 0 and the row decodes to bias.
// Error bounds (u = 2^-24, R = (2^b - 1) * scale, A = max|x|; derived in docs/quantization.md):
//   int8, int4: |x - decode(encode(x))| <= scale / 2 + u * (4 * R + A)
//   fp16:       |x - decode(encode(x))| <= max(2^-11 |x|, 2^-25); exact for values fp16 holds
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dlrm/common/element_type.h"
#include "dlrm/common/half.h"

namespace dlrm::model {

// The storage types of embedding rows (the table above).
inline constexpr ElementTypes kStorageTypes{ElementType::kFp32, ElementType::kFp16, ElementType::kInt8,
                                            ElementType::kInt4};

// Accepts "fp32", "fp16", "int8", "int4"; throws naming the valid choices.
ElementType parse_storage_type(const std::string& name);
// A storage type's code in shard file headers (fp32 0, fp16 1, int8 2, int4
// 3), and the type of a code (nullopt for a code that is none of them).
uint32_t storage_code(ElementType type);
std::optional<ElementType> storage_type_of_code(uint32_t code);
// The table above: bytes of a stored row of `cols` values without and with padding.
uint64_t row_bytes(ElementType type, int cols);
uint64_t row_stride(ElementType type, int cols);

// IEEE binary16 <-> binary32: fp16_to_float and fp16_from_float (dlrm/common/half.h).

// The stored rows of one slice, as the embedding-bag kernels read them.
struct RowsView {
  const uint8_t* rows = nullptr;
  uint64_t stride = 0;  // bytes per row
  int64_t num_rows = 0;
  int cols = 0;
  ElementType type = ElementType::kFp32;
};

// Largest finite fp16 value.
inline constexpr float kFp16Max = 65504.0f;

struct EncodeResult {
  int64_t bad_rows = 0;    // rows that cannot be stored in the type (written as zeros)
  int64_t first_bad = -1;  // index of the first of them, -1 if none
  std::string reason;      // why the first one failed, for the caller's error message
};

// Encodes `rows` fp32 rows (row r is src[r * cols .. r * cols + cols)) into
// `rows` stored rows of row_stride(type, cols) bytes at dst.
// A row is bad when it holds a NaN or infinity, or (fp16, int4) a value or
// scale outside the fp16 range, or (int8) max - min overflows fp32.
// encode_rows is vectorised; encode_rows_ref is its plain scalar twin and
// writes the same bytes.
EncodeResult encode_rows(ElementType type, const float* src, int64_t rows, int cols, uint8_t* dst);
EncodeResult encode_rows_ref(ElementType type, const float* src, int64_t rows, int cols, uint8_t* dst);

// Decodes one stored row (row_stride(type, cols) bytes at src) to cols fp32 values. Plain.
void decode_row(ElementType type, const uint8_t* src, int cols, float* dst);

// Scale and bias of a stored int8 or int4 row (as fp32); {0, 0} for fp32 and fp16.
struct RowScale {
  float scale = 0.0f;
  float bias = 0.0f;
};
RowScale row_scale(ElementType type, const uint8_t* src, int cols);

// Byte offset of the scale within a stored int8/int4 row (bias follows it).
inline uint64_t scale_offset(ElementType type, int cols) {
  return type == ElementType::kInt4 ? (static_cast<uint64_t>(cols) + 1) / 2 : static_cast<uint64_t>(cols);
}

}  // namespace dlrm::model
