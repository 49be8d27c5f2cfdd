// Where a model's weights come from: a synthetic generator here, or an
// imported checkpoint (dlrm/import/import.h). The shard writer pulls table
// rows in chunks of at most WriteOptions::chunk_bytes, so a source must serve
// any block of rows without holding a whole table in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/model/manifest.h"

namespace dlrm::sharding {

class ModelSource {
 public:
  virtual ~ModelSource() = default;
  // One line for the manifest's `source` field.
  virtual std::string describe() const = 0;
  // The architecture found in (or given to) the source.
  virtual const model::ModelArch& arch() const = 0;
  // dst[r * (col_end - col_begin) + c] = table[row_begin + r][col_begin + c], fp32.
  virtual void read_rows(int table, int64_t row_begin, int64_t rows, int col_begin, int col_end,
                         float* dst) = 0;
  // A dense tensor by state_dict name ("bot_l.0.weight" [out, in], "bot_l.0.bias" [out]).
  virtual std::vector<float> read_dense(const std::string& name, const std::vector<int64_t>& shape) = 0;
};

// Deterministic synthetic weights: element (t, r, c) depends only on
// (seed, t, r, c), so the bytes do not depend on the shard count. Tables are
// uniform in +-sqrt(1/rows) and Linear layers follow the DLRM reference init
// (normal, std sqrt(2/(in+out)) for weights, sqrt(1/out) for biases).
std::unique_ptr<ModelSource> make_synth_source(const model::ModelArch& arch, uint64_t seed);

// The weights of a model directory written by dlrm-shard (re-sharding it, or
// storing its tables in other types): rows decoded from its shard files
// (decode_row of each slice's storage type; exact for fp32 models), dense
// tensors from dense.bin. Files are checked against the manifest (and their
// checksums when verify) at open; throws naming the file.
std::unique_ptr<ModelSource> open_model_dir_source(const std::filesystem::path& dir, bool verify = true);

}  // namespace dlrm::sharding
