// The AUC of one precision configuration of an fp32 model on labelled data,
// in one process (reference::ReferenceModel, fast kernels):
//
//   config = a storage type per table + int8 MLPs (or none) with their fp32 layers
//   evaluate(config):
//     for each table t: rows = decode(encode(fp32 rows of t, config.tables[t]))
//                       (encoded per column block of the model's plan, exactly
//                        as dlrm-shard writes them: row_codec.h)
//     MLPs: dense::DenseMlps at fp32, or int8 with the calibration and
//           config.fp32_layers (the layers dlrm-cluster --mlp int8 serves in fp32)
//     return roc_auc(predictions of samples [0, n), their labels)
// and the relative loss against the fp32 model's AUC on the same samples,
// 1 - auc / fp32_auc (what dlrm-cluster --auc-budget bounds).
// Encoded tables are built once per (table, type) and kept (memory: up to
// about twice the fp32 embedding bytes); one evaluation at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "dlrm/common/element_type.h"
#include "dlrm/dense/calibration.h"
#include "dlrm/model/manifest.h"

namespace dlrm::precision {

struct PrecisionConfig {
  std::vector<ElementType> tables;            // one storage type per table
  std::optional<dense::Fp32Layers> int8_mlp;  // unset: fp32 MLPs; set: int8 with these fp32 layers
};

struct EvaluatorOptions {
  std::filesystem::path model;  // an fp32 model directory
  std::filesystem::path data;   // labelled samples (any --data form)
  int64_t samples = 0;          // the first N samples (0: all)
  int64_t calibration_samples = 8192;  // used when the model has no calibration.json
  bool fold_indices = false;
};

class PrecisionEvaluator {
 public:
  // Throws naming the file: a model whose tables are not all fp32, data
  // without both label classes among the samples used, too few samples to
  // calibrate the MLPs.
  explicit PrecisionEvaluator(const EvaluatorOptions& options);
  ~PrecisionEvaluator();

  const model::Manifest& manifest() const;
  int64_t samples() const;
  double fp32_auc() const;
  // Where the int8 ranges came from: "calibration.json of the model" or "N samples of DATA".
  const std::string& calibration_source() const;
  const dense::ModelCalibration& calibration() const;
  // Whether every row of table t can be stored as `type` (fp16 holds |x| <= 65504).
  bool storable(int table, ElementType type);
  // AUC of `config` (throws for a table type that is not storable).
  double auc(const PrecisionConfig& config);
  double loss(double auc) const { return 1.0 - auc / fp32_auc(); }
  int evaluations() const;
  // Embedding bytes of the model with these table types (rows x row_stride per table).
  uint64_t embedding_bytes(const std::vector<ElementType>& tables) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dlrm::precision
