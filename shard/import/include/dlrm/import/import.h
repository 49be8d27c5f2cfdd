// Opening a checkpoint for `dlrm-shard import` as a ModelSource the shard
// writer streams from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "dlrm/sharding/source.h"

namespace dlrm::import {

// Picks the importer by the kind of path:
//   a directory      .npy files named by state_dict key ("emb_l.0.weight.npy",
//                    "bot_l.0.weight.npy", ...): little-endian float16/32/64,
//                    C order; other files are ignored
//   *.pt, *.pth      open_torch_source (torch_checkpoint.h)
//   *.onnx           open_onnx_source (onnx_model.h)
//   anything else    Error naming the kinds accepted; a missing path is an Error too
// The architecture is inferred from the shapes (infer_state_dict_arch, which
// lists every problem in one error). row_cap > 0 keeps only the first row_cap
// rows of each table.
std::unique_ptr<sharding::ModelSource> open_import_source(const std::filesystem::path& from, int64_t row_cap);

}  // namespace dlrm::import
