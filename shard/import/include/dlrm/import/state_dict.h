// A model's weights as named tensors (a PyTorch state_dict, ONNX
// initializers, .npy files), the architecture inferred from their shapes, and
// the ModelSource that streams them into the shard writer.
//
// Each checkpoint format implements TensorStore: it lists the tensors with
// their shapes and element types and reads blocks converted to fp32 straight
// from the file, in bounded memory. Three key namings are read (one per file;
// a mix is refused), all mapped to the internal names of dense_tensor_specs
// (dlrm/model/dense_file.h):
//   DLRM reference (interaction "dot", or "dcn" with cross.* keys)
//     emb_l.K.weight [rows_K, dim]                    K = 0..T-1
//     bot_l.I.weight [out, in], bot_l.I.bias [out]    I = 0, 2, 4, ... (odd I: ReLU, no tensors)
//     top_l.I.weight [out, in], top_l.I.bias [out]
//     cross.l.V [R, X], cross.l.W [X, R], cross.l.bias [X]   (dcn only)
//   TorchRec DLRM_DCN (DLRM-v2; interaction "dcn")     -> internal name
//     sparse_arch.embedding_bag_collection.embedding_bags.t_cat_K.weight  -> emb_l.K.weight
//     dense_arch.model._mlp.I._linear.{weight,bias}    I = 0, 1, 2, ...  -> bot_l.{2I}.*
//     inter_arch.crossnet.V_kernels.l [R, X]           -> cross.l.V
//     inter_arch.crossnet.W_kernels.l [X, R]           -> cross.l.W
//     inter_arch.crossnet.bias.l [X]                   -> cross.l.bias
//     over_arch.model.0._mlp.I._linear.{weight,bias}   I = 0..n-1        -> top_l.{2I}.*
//     over_arch.model.1.{weight,bias} (the final Linear to 1)            -> top_l.{2n}.*
//   Intel's converted DLRM_DCN (dlrm-multihot-pytorch.pt: TorchRec's tensors
//   renamed, not transposed; nn.Linear(X, R).weight is [R, X] like V_kernels)
//     sparse_arch.embedding_bag_collection.embedding_bags.K.weight        -> emb_l.K.weight
//     dense_arch.model._mlp.I.{weight,bias}            I = 0, 2, 4, ...  -> bot_l.I.*
//     inter_arch.crossnet.MLPs.Vl.weight               -> cross.l.V
//     inter_arch.crossnet.MLPs.Wl.weight, MLPs.Wl.bias -> cross.l.W, cross.l.bias
//     over_arch.model._mlp.I.{weight,bias}             I = 0, 2, 4, ...  -> top_l.I.*
// A "model." prefix on every key (TorchRec's DLRMTrain wrapper) is dropped.
// infer_state_dict_layout() derives ModelArch:
//   dim = columns of table 0      table_rows[K] = rows_K (at most row_cap if > 0)
//   dense_features = bottom layer 0 in    bottom_mlp = bottom outs (the last == dim)
//   F = T + 1;  dot: top layer 0 in == dim + F(F-1)/2, or dim + F(F+1)/2 (interaction_self)
//   dcn: X = F * dim; cross_layers L = layers 0..L-1; cross_rank R = rows of V_0;
//        V_l [R, X], W_l [X, R], bias_l [X] (x_{l+1} = x0 * (W_l (V_l x_l) + bias_l) + x_l);
//        top layer 0 in == X
//   top_mlp = top outs (the last == 1)
// hotness is left empty (one lookup per table): a state_dict does not say it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
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

enum class StateDictNaming { kDlrm, kTorchRec, kIntel };

struct StateDictLayout {
  model::ModelArch arch;
  StateDictNaming naming = StateDictNaming::kDlrm;
  bool model_prefix = false;  // every key started with "model." (DLRMTrain)
  // Internal name ("emb_l.K.weight" and the names of dense_tensor_specs(arch))
  // -> index into the tensors; every tensor has one.
  std::map<std::string, size_t> internal;
};

// Naming and architecture of a state_dict (above). `where` names the source
// in errors ("import /x/y.pt"). row_cap > 0 caps every table's rows. Throws
// one error naming the keys at fault and what to do: keys of two namings (or
// "model." on some keys only), unexpected keys, gaps in the numbering, missing
// weights, biases or cross factors, non-float tensors, inconsistent shapes (a
// cross net whose width is not (T + 1) * dim, a V or W stored transposed).
StateDictLayout infer_state_dict_layout(const std::vector<TensorInfo>& tensors, int64_t row_cap,
                                        const std::string& where);
// infer_state_dict_layout(...).arch
model::ModelArch infer_state_dict_arch(const std::vector<TensorInfo>& tensors, int64_t row_cap, const std::string& where);

// Whether `key` is named like a DLRM_DCN parameter of TorchRec or of Intel's
// conversion (sparse_arch., dense_arch., inter_arch., over_arch., optionally
// after "model." or "module.").
bool dlrm_dcn_key(const std::string& key);

// A ModelSource over a TensorStore (architecture inferred as above): read_rows
// reads table rows through read_block; read_dense returns a whole dense tensor.
std::unique_ptr<sharding::ModelSource> make_state_dict_source(std::unique_ptr<TensorStore> store, int64_t row_cap);

}  // namespace dlrm::import
