// Row encodings of the storage types: fp32 rows in, stored rows out, and back.
//
// One stored row of `cols` values takes row_stride(type, cols) bytes (model.h);
// all padding bytes are zero. Bytes per row at the reference dim 128 in brackets.
//
//   fp32  cols x fp32, padded to a multiple of 64 bytes                   [512]
//   fp16  cols x IEEE binary16, padded to a multiple of 4 bytes           [256]
//         Dense, not 64-byte aligned: capacity matters more than
//         alignment (dim 128 and 64-column slices stay aligned anyway).
//   int8  cols x uint8 code, fp32 scale, fp32 bias, padded to 4 bytes     [136]
//         (FBGEMM "fused 8-bit row-wise": scale and bias follow the codes)
//   int4  ceil(cols / 2) bytes of 4-bit codes, fp16 scale, fp16 bias,
//         padded to 4 bytes                                               [68]
//         Column 2i is the low nibble of code byte i, column 2i+1 the high
//         nibble; with odd cols the last high nibble is 0.
//
// Value of column c of a quantized row:  fmaf(code[c], scale, bias)
// (one rounding; the _ref kernels and the AVX-512 kernels both compute exactly this).
//
// Quantization of one row x[0..cols) to b bits (int8: b = 8, int4: b = 4):
//   int8: bias = min(x), scale = (max(x) - min(x)) / (2^b - 1) in fp32.
//   int4: bias = min(x) rounded down to fp16, scale = (max(x) - bias) / 15
//         rounded up to fp16, so [bias, bias + 15 * scale] still covers the
//         row and the codes are computed from the values decode will use.
//   code[c] = clamp(round_half_even((x[c] - bias) / scale), 0, 2^b - 1)
//   scale == 0 (a constant row): every code is 0 and the row decodes to bias.
// Error bound of a row (u = 2^-24, R = 15 * scale or 255 * scale, A = max|x|):
//   |x - decode(encode(x))| <= scale / 2 + u * (4 * R + A)   (derivation in quantize.cc)
// fp16 rounds to nearest even: |x - decode(encode(x))| <= max(2^-11 |x|, 2^-25),
// exact for every value fp16 represents.
//
// Column slices (column plans) are separate stored rows, so each slice of a
// row gets its own scale and bias.
#pragma once

#include <cstdint>
#include <string>

#include "dlrm/common/half.h"
#include "dlrm/model/manifest.h"

namespace dlrm::model {

// IEEE binary16 <-> binary32: fp16_to_float and fp16_from_float (dlrm/common/half.h).

// The stored rows of one slice, as the embedding-bag kernels read them.
struct RowsView {
  const uint8_t* rows = nullptr;
  uint64_t stride = 0;  // bytes per row
  int64_t num_rows = 0;
  int cols = 0;
  model::StorageType type = model::StorageType::kFp32;
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
EncodeResult encode_rows(StorageType type, const float* src, int64_t rows, int cols, uint8_t* dst);
EncodeResult encode_rows_ref(StorageType type, const float* src, int64_t rows, int cols, uint8_t* dst);

// Decodes one stored row (row_stride(type, cols) bytes at src) to cols fp32 values. Plain.
void decode_row(StorageType type, const uint8_t* src, int cols, float* dst);

// Scale and bias of a stored int8 or int4 row (as fp32); {0, 0} for fp32 and fp16.
struct RowScale {
  float scale = 0.0f;
  float bias = 0.0f;
};
RowScale row_scale(StorageType type, const uint8_t* src, int cols);

// Byte offset of the scale within a stored int8/int4 row (bias follows it).
inline uint64_t scale_offset(StorageType type, int cols) {
  return type == StorageType::kInt4 ? (static_cast<uint64_t>(cols) + 1) / 2 : static_cast<uint64_t>(cols);
}

}  // namespace dlrm::model
