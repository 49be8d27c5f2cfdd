// Checks a whole model directory against its manifest.
#pragma once

#include <cstdint>
#include <filesystem>

namespace dlrm::model {

struct VerifyResult {
  uint64_t bytes_checked = 0;  // file bytes read: every shard file and dense.bin
  int files = 0;
};

// verify_model(dir):
//   manifest = load_manifest(dir)
//   for each shard s: dir/manifest.shards[s].file exists; ShardFile::open checks
//     its header; check_against_manifest(file, manifest, s); its data is re-read
//     (plain reads through a 16 MiB buffer, not mapped) and must hash to the
//     header's data_checksum
//   dense.bin: read_dense_file checks both checksums; its size, tensor names
//     and shapes (dense_tensor_specs) and data checksum must match the manifest
// Throws dlrm::Error naming the first bad file and what to do. `progress`
// shows a progress bar over the bytes read.
VerifyResult verify_model(const std::filesystem::path& dir, bool progress = true);

}  // namespace dlrm::model
