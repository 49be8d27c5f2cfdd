// Checks a whole model directory: every file's size, header, slices against
// the manifest and every checksum, reading through a bounded buffer.
#pragma once

#include <cstdint>
#include <filesystem>

namespace dlrm::model {

struct VerifyResult {
  uint64_t bytes_checked = 0;
  int files = 0;
};
// Re-reads every file of the model directory, checks sizes, headers, slices
// against the manifest and every checksum. Throws naming the first bad file.
VerifyResult verify_model(const std::filesystem::path& dir, bool progress = true);

}  // namespace dlrm::model
