// Writes a sharded model directory from a ModelSource.
//
//   shards = make_plan(source.arch(), options.plan)
//   for each shard: shard-NNN.bin <- its slices, read_rows in chunks of at
//                   most chunk_bytes, encoded as options.plan.dtype
//   dense.bin <- read_dense of every dense tensor; manifest.json last
// Everything is written under a staging directory renamed to `out` at the
// end, so an error or Ctrl-C leaves no partial model. Peak memory is
// independent of the model's size.
#pragma once

#include <filesystem>

#include "dlrm/model/manifest.h"
#include "dlrm/sharding/plan.h"
#include "dlrm/sharding/source.h"

namespace dlrm::sharding {

struct WriteOptions {
  PlanOptions plan;
  bool overwrite = false;
  bool progress = true;
  uint64_t chunk_bytes = 16u << 20;  // rows read from the source per step
};

// Returns the manifest written. Throws on a plan that cannot be made (see
// make_plan), an existing `out` without `overwrite`, and any source or write
// error (naming the file).
model::Manifest write_model(ModelSource& source, const WriteOptions& options, const std::filesystem::path& out);
// Throws unless `out` can take a new model: it does not exist, or `overwrite`
// and it is a model directory (holds manifest.json); --force replaces a model,
// never another directory named by mistake.
void check_output_dir(const std::filesystem::path& out, bool overwrite);
// The same files written straight into `dir`, an existing directory the caller
// stages (its own StagedDir, with more files of its own beside the model).
model::Manifest write_model_into(ModelSource& source, const WriteOptions& options, const std::filesystem::path& dir);

}  // namespace dlrm::sharding
