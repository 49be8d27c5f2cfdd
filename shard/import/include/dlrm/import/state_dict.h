// A model's weights as named tensors (a PyTorch state_dict, ONNX
// initializers, .npy files), the architecture inferred from their shapes, and
// the ModelSource that streams them into the shard writer.
//
// Each checkpoint format implements TensorStore: it lists the tensors with
// their shapes and element types and reads blocks converted to fp32 straight
// from the file, in bounded memory. The DLRM state_dict layout is
//   emb_l.K.weight [rows_K, dim]                    K = 0..T-1
//   bot_l.I.weight [out, in], bot_l.I.bias [out]    I = 0, 2, 4, ... (odd I: ReLU, no tensors)
//   top_l.I.weight [out, in], top_l.I.bias [out]
// and infer_state_dict_arch() derives ModelArch from it:
//   dim = emb_l.0.weight cols      table_rows[K] = rows_K (at most row_cap if > 0)
//   dense_features = bot_l.0 in    bottom_mlp = bot_l outs (the last == dim)
//   F = T + 1;  top_l.0 in == dim + F(F-1)/2 (dot), or dim + F(F+1)/2 (interaction_self)
//   top_mlp = top_l outs (the last == 1)
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/common/element_type.h"
#include "dlrm/model/manifest.h"
#include "dlrm/sharding/source.h"

namespace dlrm::import {

// Element types a weight tensor may have in a checkpoint (little-endian);
// tensors of other types are listed (TensorInfo) but never read.
inline constexpr ElementTypes kWeightTypes{ElementType::kFp32, ElementType::kFp16, ElementType::kBf16,
                                           ElementType::kFp64};

// dst[i] = float(src[i]) for `count` elements of `dtype` (one of kWeightTypes).
void convert_to_f32(ElementType dtype, const void* src, size_t count, float* dst);

struct TensorInfo {
  std::string name;            // state_dict key
  std::vector<int64_t> shape;  // as the model uses it (ONNX Gemm weights presented [out, in])
  ElementType dtype = ElementType::kFp32;
  std::string dtype_name;  // as the file names it ("float32", "torch.LongStorage", "INT64")
};

class TensorStore {
 public:
  virtual ~TensorStore() = default;
  // "pytorch zip checkpoint /abs/x.pt" (for the manifest's source line).
  virtual std::string describe() const = 0;
  // The file, for error messages.
  virtual const std::filesystem::path& path() const = 0;
  virtual const std::vector<TensorInfo>& tensors() const = 0;
  // For tensor `index` seen as a matrix (a 1-D tensor is one row):
  //   dst[r * (col_end - col_begin) + c] = T[row_begin + r][col_begin + c]  as fp32.
  // Bounded memory whatever `rows`; throws naming the file and tensor on a short read.
  virtual void read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end,
                          float* dst) = 0;
};

// Architecture of a DLRM state_dict (above). `where` names the source in
// errors ("import /x/y.pt"). row_cap > 0 caps every table's rows. Throws one
// error listing every problem: unexpected keys, gaps in the numbering,
// missing weights or biases, non-float tensors, inconsistent shapes.
model::ModelArch infer_state_dict_arch(const std::vector<TensorInfo>& tensors, int64_t row_cap, const std::string& where);

// A ModelSource over a TensorStore (architecture inferred as above): read_rows
// reads table rows through read_block; read_dense returns a whole dense tensor.
std::unique_ptr<sharding::ModelSource> make_state_dict_source(std::unique_ptr<TensorStore> store, int64_t row_cap);

}  // namespace dlrm::import
