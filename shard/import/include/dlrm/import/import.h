// Opening a checkpoint for `dlrm-shard import`: the format is chosen by the
// path (a .pt/.pth file, an .onnx file, or a directory of .npy files) and the
// result is a ModelSource the shard writer streams from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "dlrm/sharding/source.h"

namespace dlrm::import {

// Opens `from` by its kind: a directory of .npy files named by state_dict key
// ("emb_l.0.weight.npy", "bot_l.0.weight.npy", ...). The architecture is
// inferred from the shapes and checked for consistency; errors list what was
// expected. row_cap > 0 keeps only the first row_cap rows of each table.
std::unique_ptr<sharding::ModelSource> open_import_source(const std::filesystem::path& from, int64_t row_cap);

}  // namespace dlrm::import
