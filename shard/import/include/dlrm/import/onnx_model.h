// ONNX models (.onnx) as a source of DLRM weights.
//
// The weights are the graph's initializers named like state_dict keys
// (emb_l.K.weight, bot_l.I.weight / bias, top_l.I.weight / bias, as
// torch.onnx.export names parameters); other initializers (graph constants)
// are ignored. A tensor's bytes are one of
//   raw_data                 inline, little-endian
//   float_data / double_data inline typed fields (packed or not)
//   int32_data               inline fp16 / bf16 values (one per varint), decoded into memory
//   external data            data_location EXTERNAL with 'location' (a file
//                            next to the .onnx; absolute paths and '..' are
//                            refused), 'offset' (default 0), 'length' (default:
//                            the tensor's size)
// Element types FLOAT, FLOAT16, BFLOAT16 and DOUBLE are converted to fp32.
// Reads stream from the file in bounded memory, inline tensors included.
//
// Layout: a weight used as input 1 of a Gemm with transB = 0, or of a MatMul,
// is stored [in, out] and presented [out, in] like a state_dict:
//   T[r][c] = stored[c][r]
// A weight used both ways is an error.
//
// Refused, naming the file and initializer: malformed protobuf, segmented
// tensors, sizes that disagree with the dims, missing or short external files,
// a model without any state_dict-named initializer.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/sharding/source.h"
#include "dlrm/import/state_dict.h"

namespace dlrm::import {

class OnnxModel final : public TensorStore {
 public:
  // Scans the model and checks every weight's bytes exist (external files
  // present and long enough); reads no tensor data. Throws naming the file
  // and initializer on any problem.
  static std::unique_ptr<OnnxModel> open(const std::filesystem::path& path);
  ~OnnxModel() override;

  std::string describe() const override;
  const std::filesystem::path& path() const override;
  const std::vector<TensorInfo>& tensors() const override;
  void read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end,
                  float* dst) override;
  // Initializers that are not state_dict keys (graph constants), ignored.
  const std::vector<std::string>& ignored_initializers() const;
  // Whether tensor `index` is stored [in, out] and presented transposed.
  bool transposed(size_t index) const;

  struct Impl;

 private:
  explicit OnnxModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A ModelSource over OnnxModel::open(path) (hook for open_import_source).
std::unique_ptr<sharding::ModelSource> open_onnx_source(const std::filesystem::path& path, int64_t row_cap);

}  // namespace dlrm::import
