// A whole model in one process: the single-process reference the cluster is
// tested against, and the fast evaluator dlrm-data uses to plant labels.
//
// Rows are assembled per table from whichever slices of which shard files hold
// them (independent of the plan), bags summed in index order with
// decode_row_ref (sum pooling: 0 + row(i_0) + row(i_1) + ... in bag order),
// then bottom MLP, the interaction (dot, or for a dcn model the cross network
// on x0 = [bottom output, pooled rows]), top MLP and sigmoid:
//   Kernels::kRef  every stage with the plain _ref kernels
//   Kernels::kFast oneDNN MLPs and the fast interaction (same maths); with
//                  int8 MLPs (dense::DenseMlps, calibration.json) as dlrm-cluster
//                  --mlp int8 serves them
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "dlrm/datasets/dataset.h"
#include "dlrm/common/element_type.h"
#include "dlrm/dense/cross_net.h"
#include "dlrm/dense/mlp.h"
#include "dlrm/dense/model_mlps.h"
#include "dlrm/model/manifest.h"

namespace dlrm::reference {

enum class Kernels { kRef, kFast };

class ReferenceModel {
 public:
  // Loads manifest, dense.bin and maps every shard file (verify: checksums).
  // mlp kInt8 (kFast only) reads <dir>/calibration.json.
  static ReferenceModel load(const std::filesystem::path& dir, Kernels kernels, bool verify = true,
                             ElementType mlp = ElementType::kFp32);
  ReferenceModel(ReferenceModel&&) noexcept;
  ReferenceModel& operator=(ReferenceModel&&) noexcept;
  ~ReferenceModel();

  const model::Manifest& manifest() const;
  // Predictions (after sigmoid) for samples [begin, begin + n) into dst[n].
  // Indices outside a table throw (naming sample and table) unless
  // fold_indices, which maps them to index mod rows as the reference
  // preprocessing does. Works in chunks of 256 samples with buffers owned by
  // the model (memory independent of n); one call at a time per model.
  void predict(const datasets::Dataset& data, int64_t begin, int64_t n, float* dst, bool fold_indices = false);

  // The inputs of the dense stages, chunk by chunk; the top MLP itself is not
  // run. For calibrating int8 MLPs (and cross network) on fp32 activations.
  struct ChunkInputs {
    int64_t offset = 0;                 // of the chunk's first sample in [0, n)
    int batch = 0;                      // samples in the chunk
    const float* bottom_in = nullptr;   // [batch, F]: the transformed dense features
    const float* cross_in = nullptr;    // dcn: [batch, cross_width] (x0); null for dot
    const float* top_in = nullptr;      // [batch, top_input_width]: the interaction output
  };
  using ChunkSink = std::function<void(const ChunkInputs&)>;
  void features(const datasets::Dataset& data, int64_t begin, int64_t n, bool fold_indices, const ChunkSink& sink);

  // kFast: serve the dense stages (MLPs, cross network) with `mlps` from now
  // on, e.g. int8 ones with other fp32 layers (precision tuning).
  void use_mlps(dense::DenseMlps mlps);
  // Serve table `table` from `blocks` from now on instead of the shard files:
  // each block holds every row of the table for columns [col_begin,
  // col_begin + rows.cols); together they tile [0, dim). The caller keeps the
  // rows alive while the model uses them. Throws unless they fit the table.
  struct ColumnBlock {
    int col_begin = 0;
    model::RowsView rows;
  };
  void replace_table(int table, const std::vector<ColumnBlock>& blocks);

  // The model's MLP layers (loaded and checksummed with the model).
  const std::vector<dense::Layer>& bottom_layers() const;
  const std::vector<dense::Layer>& top_layers() const;
  // dcn models: the cross network's layers (empty for dot).
  const std::vector<dense::CrossLayer>& cross_layers() const;

 private:
  ReferenceModel();
  // features(), and the top MLP into the model's top_out when `top`.
  void run(const datasets::Dataset& data, int64_t begin, int64_t n, bool fold_indices, bool top, const ChunkSink& sink);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dlrm::reference
