// Writes a sharded model directory from a ModelSource: plans, streams every
// shard file (bounded buffers: peak memory independent of model size), writes
// dense.bin and manifest.json, all under a staged directory renamed at the end.
#pragma once

#include <filesystem>

#include "dlrm/shard/model.h"
#include "dlrm/shard/plan.h"
#include "dlrm/shard/source.h"

namespace dlrm::shard {

struct WriteOptions {
  PlanOptions plan;
  bool overwrite = false;
  bool progress = true;
  uint64_t chunk_bytes = 16u << 20;  // rows read from the source per step
};

Manifest write_model(ModelSource& source, const WriteOptions& options, const std::filesystem::path& out);

struct VerifyResult {
  uint64_t bytes_checked = 0;
  int files = 0;
};
// Re-reads every file of the model directory, checks sizes, headers, slices
// against the manifest and every checksum. Throws naming the first bad file.
VerifyResult verify_model(const std::filesystem::path& dir, bool progress = true);

}  // namespace dlrm::shard
