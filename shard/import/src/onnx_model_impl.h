// OnnxModel's state (private to dlrm_import).
//
//   onnx_wire.h/.cc  the protobuf wire level: Wire, scan_tensor()
//   onnx_model.cc    ModelProto -> GraphProto -> nodes and initializers -> Tensor
//   onnx_read.cc     read_block(): elements of a tensor as fp32
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/import/onnx_model.h"
#include "onnx_wire.h"

namespace dlrm::import {

struct OnnxModel::Impl {
  // One weight (an initializer named like a state_dict key).
  struct Tensor {
    TensorInfo info;
    std::vector<int64_t> stored;  // dims as stored
    bool transposed = false;
    ElementType dtype = ElementType::kFp32;
    // Bytes in `file` at `spans` (concatenated), or decoded values in `memory`.
    std::shared_ptr<DataFile> file;
    std::vector<Span> spans;
    std::vector<float> memory;
    bool in_memory = false;
    std::string where;  // "initializer 'x' (external file y)"
  };

  std::filesystem::path path;
  std::shared_ptr<DataFile> model;
  std::vector<Tensor> tensors;
  std::vector<TensorInfo> infos;
  std::vector<std::string> ignored;
  std::map<std::string, std::shared_ptr<DataFile>> external_files;
  std::map<std::string, bool> weight_transposed;  // from Gemm / MatMul nodes
  std::vector<uint8_t> buffer;     // raw bytes of a non-fp32 read
  std::vector<float> rows_buffer;  // the rows of a column slice
  size_t external_count = 0;

  // --- scanning (onnx_model.cc) -----------------------------------------------
  // The ModelProto's graph: every node and initializer.
  void scan();
  void scan_graph(uint64_t begin, uint64_t end);
  // A Gemm / MatMul node records whether its weight is stored [in, out].
  void scan_node(const std::string& bytes, uint64_t offset);
  // Keeps an initializer named like a state_dict key (others go to `ignored`).
  void add_tensor(RawTensor raw);
  // Where tensor `t`'s `numel` elements are: spans of the .onnx or an
  // external file, or values decoded into memory.
  void locate_data(RawTensor& raw, Tensor& t, uint64_t numel, const std::string& where);
  void locate_external(const RawTensor& raw, Tensor& t, uint64_t need, const std::string& where);
  // int32_data of an fp16 / bf16 tensor, one value per varint, into fp32 memory.
  void decode_half_ints(RawTensor& raw, Tensor& t, uint64_t numel, const std::string& where);
  // Presented shapes (transposed Gemm / MatMul weights); no weight is an error.
  void finish();

  // --- reading (onnx_read.cc) -------------------------------------------------
  // Elements [first, first + count) of tensor `t` as stored, converted to fp32.
  void read_elements(const Tensor& t, uint64_t first, uint64_t count, float* dst);
  void read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end, float* dst);
  // Rows [row_begin, +rows) of a weight stored [in, out], columns [col_begin, +cols).
  void read_transposed(const Tensor& t, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t cols,
                       float* dst);
  // Columns [col_begin, +cols) of rows [row_begin, +rows), a bounded run of rows at a time.
  void read_column_slice(const Tensor& t, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t cols,
                         float* dst);
};

}  // namespace dlrm::import
