// dense.bin: the MLP weights of a model, fp32, by state_dict name.
//
// Layout (little-endian):
//   [0, 64)    DenseFileHeader
//   [64, ...)  DenseTensorRecord x num_tensors
//   [header_bytes, ...) data: each tensor's values, row-major fp32, 64-byte aligned
// data_checksum is XXH3-64 over the data section; header_checksum over
// [0, header_bytes) with that field zeroed. A model's tensors are those of
// dense_tensor_specs, in that order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dlrm/model/manifest.h"

namespace dlrm::model {

inline constexpr char kDenseMagic[8] = {'D', 'L', 'R', 'M', 'D', 'E', 'N', 'S'};
inline constexpr uint32_t kDenseFormatVersion = 1;

struct DenseFileHeader {
  char magic[8];
  uint32_t version;
  uint32_t num_tensors;
  uint32_t header_bytes;
  uint32_t reserved0;
  uint64_t data_bytes;
  uint64_t data_checksum;
  uint64_t header_checksum;
  uint64_t reserved[2];
};
static_assert(sizeof(DenseFileHeader) == 64);

struct DenseTensorRecord {
  char name[64];  // NUL-terminated state_dict key
  uint32_t ndim;
  uint32_t reserved;
  int64_t shape[4];
  uint64_t data_offset;  // from the start of the data section
  uint64_t count;        // elements (fp32)
};
static_assert(sizeof(DenseTensorRecord) == 120);

struct DenseTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

struct DenseFileInfo {
  uint64_t file_bytes = 0;
  uint64_t data_checksum = 0;
};

// Written staged, renamed when complete.
DenseFileInfo write_dense_file(const std::filesystem::path& path, const std::vector<DenseTensor>& tensors);
// Validates magic, version, sizes and both checksums; throws naming the file.
// `info` (when given) receives the file's size and its header's data checksum.
std::vector<DenseTensor> read_dense_file(const std::filesystem::path& path, DenseFileInfo* info = nullptr);

// The state_dict names of the dense tensors of `arch`, in order, with shapes:
// for each layer i of the bottom MLP, then of the top MLP (nn.Sequential of
// Linear and ReLU: the Linear layers at even indices),
//   bot_l.{2i}.weight [out, in], bot_l.{2i}.bias [out]   (in: dense_features, then the previous out)
//   top_l.{2i}.weight [out, in], top_l.{2i}.bias [out]   (in: arch.top_input_width(), then the previous out)
// and for a "dcn" model, between the two, for each cross layer l (X = cross_width(), R = cross_rank):
//   cross.{l}.V [R, X], cross.{l}.W [X, R], cross.{l}.bias [X]
//   (x_{l+1} = x0 * (W (V x_l) + bias) + x_l; TorchRec's V_kernels, W_kernels, bias)
struct DenseTensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};
std::vector<DenseTensorSpec> dense_tensor_specs(const ModelArch& arch);

}  // namespace dlrm::model
