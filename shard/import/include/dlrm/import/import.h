// Opening a checkpoint for `dlrm-shard import` as a ModelSource the shard
// writer streams from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/sharding/source.h"

namespace dlrm::import {

// Picks the importer by the kind of path:
//   a directory      .npy files named by state_dict key ("emb_l.0.weight.npy",
//                    "bot_l.0.weight.npy", ...): little-endian float16/32/64,
//                    C order; other files are ignored
//   *.pt, *.pth      open_torch_source (torch_checkpoint.h)
//   *.onnx           open_onnx_source (onnx_model.h)
//   anything else    Error naming the kinds accepted; a missing path is an Error too
// The architecture is inferred from the shapes (infer_state_dict_layout, which
// lists every problem in one error; DLRM, TorchRec DLRM_DCN and Intel's
// namings, see state_dict.h). row_cap > 0 keeps only the first row_cap rows of
// each table. `hotness` (parse_hotness) sets arch().hotness, which no
// checkpoint records; "" leaves it empty (one lookup per table).
std::unique_ptr<sharding::ModelSource> open_import_source(const std::filesystem::path& from, int64_t row_cap,
                                                          const std::string& hotness = "");

// Lookups per pair of each of `num_tables` tables from dlrm-shard import's
// --hotness: "" -> {} (one each); "dlrm-v2" -> DLRM-v2's 26 values (3, 2, 1,
// ..., 214 in all; needs 26 tables); "3,2,1,..." -> one value in 1..65536 per
// table. Throws naming the problem and what to give.
std::vector<int> parse_hotness(const std::string& spec, int num_tables);

// `source` with arch().hotness = hotness (checked by ModelArch::validate) and
// " hotness=<spec>" appended to describe(); everything else forwarded.
std::unique_ptr<sharding::ModelSource> with_hotness(std::unique_ptr<sharding::ModelSource> source,
                                                    std::vector<int> hotness, const std::string& spec);

}  // namespace dlrm::import
