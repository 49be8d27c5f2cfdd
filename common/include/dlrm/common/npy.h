// NumPy .npy files (format versions 1.0, 2.0 and 3.0), read in a streaming way.
//
// read_npy_header() validates the magic, the header dictionary, C order and
// that the file holds exactly prod(shape) * itemsize bytes of data; every
// failure names the file and what is wrong.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace dlrm {

struct NpyHeader {
  std::filesystem::path path;
  std::string descr;           // as written, e.g. "<f4"
  char kind = 0;               // 'f', 'i', 'u', 'b'
  int item_bytes = 0;          // 1, 2, 4, 8
  bool fortran_order = false;  // always false after validation
  std::vector<int64_t> shape;
  uint64_t data_offset = 0;  // bytes from file start to the first element
  int64_t count() const;     // number of elements
  std::string shape_str() const;  // "(1000, 128)"
};

// Parses and validates; throws dlrm::Error naming the file on any problem.
NpyHeader read_npy_header(const std::filesystem::path& path);
// Parses a header held in memory (for .npz members); `data_bytes` is what follows it.
NpyHeader parse_npy_header(const std::string& bytes, const std::filesystem::path& name,
                           uint64_t data_bytes);

// The header bytes (magic .. padding, 64-byte aligned) for a C-order array.
std::string npy_header_bytes(const std::string& descr, const std::vector<int64_t>& shape);

// Whole-array helpers for small arrays (predictions, labels). The reader
// accepts little-endian f4 only for floats and i4/i8 for ints, and converts.
std::vector<float> read_npy_f32(const std::filesystem::path& path, std::vector<int64_t>* shape = nullptr);
// Written atomically (staged then renamed).
void write_npy_f32(const std::filesystem::path& path, const float* src,
                   const std::vector<int64_t>& shape);

}  // namespace dlrm
