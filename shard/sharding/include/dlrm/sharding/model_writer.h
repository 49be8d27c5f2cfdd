// Writes a sharded model directory from a ModelSource: plans, streams every
// shard file (bounded buffers: peak memory independent of model size), writes
// dense.bin and manifest.json, all under a staged directory renamed at the end.
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

model::Manifest write_model(ModelSource& source, const WriteOptions& options, const std::filesystem::path& out);

}  // namespace dlrm::sharding
