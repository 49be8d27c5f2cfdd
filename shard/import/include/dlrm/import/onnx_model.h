// ONNX models (.onnx) as a source of DLRM weights.
//
// The weights are the graph's initializers, named by state_dict key
// (torch.onnx.export keeps parameter names: emb_l.0.weight, bot_l.0.weight,
// ...); initializers with other names (graph constants) are ignored. A
// tensor's bytes are one of
//   raw_data                 inline, little-endian
//   float_data / double_data inline typed fields (packed)
//   int32_data               inline fp16 / bf16 values (one per varint), decoded into memory
//   external data            data_location EXTERNAL with 'location' (a file
//                            next to the .onnx; absolute paths and '..' are
//                            refused), 'offset' (default 0), 'length' (default:
//                            the tensor's size)
// Element types FLOAT, FLOAT16, BFLOAT16 and DOUBLE are converted to fp32.
//
// The .onnx file is scanned at the protobuf wire level, so inline tensors are
// located by file offset and streamed like external ones: memory stays
// bounded whatever the model size (protobuf itself would need the whole
// message in memory, up to its 2 GB limit). Nodes are parsed with libonnx
// (onnx::NodeProto) to find Gemm layers whose weight is stored [in, out]
// (transB = 0) or MatMul weights (always [in, out]); those are presented as
// [out, in] like a state_dict.
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
