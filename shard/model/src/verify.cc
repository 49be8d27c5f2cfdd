#include "dlrm/model/verify.h"

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "dlrm/common/checksum.h"
#include "dlrm/common/error.h"
#include "dlrm/common/progress.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/model/dense_file.h"
#include "dlrm/model/manifest.h"
#include "dlrm/model/shard_file.h"

namespace fs = std::filesystem;

namespace dlrm::model {

VerifyResult verify_model(const fs::path& dir, bool progress_enabled) {
  Manifest manifest = load_manifest(dir);
  VerifyResult result;
  uint64_t total = manifest.dense_bytes;
  for (const auto& info : manifest.shards) total += info.file_bytes;
  Progress progress("verifying", total, "B", progress_enabled);

  constexpr size_t kBufferBytes = 16u << 20;
  std::vector<uint8_t> buffer(kBufferBytes);
  for (int s = 0; s < manifest.num_shards(); ++s) {
    const ShardInfo& info = manifest.shards[s];
    fs::path path = dir / info.file;
    std::error_code ec;
    DLRM_CHECK(fs::is_regular_file(path, ec), "shard file {} listed in {} is missing; re-create the model",
               path.string(), (dir / kManifestName).string());
    ShardFile file = ShardFile::open(path);  // header, sizes, header checksum
    check_against_manifest(file, manifest, s);
    // Recompute the data checksum with plain reads through a bounded buffer
    // (no mapping: the check must not make the whole file resident).
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
    DLRM_CHECK(in != nullptr, "cannot open {}: {}", path.string(), std::strerror(errno));
    ::posix_fadvise(::fileno(in.get()), 0, 0, POSIX_FADV_SEQUENTIAL);
    Checksum sum;
    const uint64_t begin = file.header().header_bytes;
    for (uint64_t done = 0; done < file.data_bytes();) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), file.data_bytes() - done));
      read_exact(in.get(), path, buffer.data(), n, begin + done, "the shard data");
      sum.update(buffer.data(), n);
      done += n;
      progress.add(n);
    }
    progress.add(begin);
    DLRM_CHECK(sum.digest() == file.header().data_checksum,
               "shard file {} is corrupted: its data hashes to {} but the header says {}; re-create the model with "
               "dlrm-shard",
               path.string(), checksum_hex(sum.digest()), checksum_hex(file.header().data_checksum));
    result.bytes_checked += info.file_bytes;
    ++result.files;
  }

  fs::path dense_path = dir / manifest.dense_file;
  std::error_code ec;
  DLRM_CHECK(fs::is_regular_file(dense_path, ec), "dense weights {} listed in {} are missing; re-create the model",
             dense_path.string(), (dir / kManifestName).string());
  DenseFileInfo dense;
  std::vector<DenseTensor> tensors = read_dense_file(dense_path, &dense);  // both checksums
  const uint64_t dense_bytes = dense.file_bytes;
  DLRM_CHECK(dense_bytes == manifest.dense_bytes, "dense weights {} are {} bytes but the manifest says {}",
             dense_path.string(), dense_bytes, manifest.dense_bytes);
  auto specs = dense_tensor_specs(manifest.arch);
  DLRM_CHECK(tensors.size() == specs.size(), "dense weights {} hold {} tensors but the model needs {}",
             dense_path.string(), tensors.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    DLRM_CHECK(tensors[i].name == specs[i].name && tensors[i].shape == specs[i].shape,
               "dense weights {}: tensor {} is '{}' but the model's architecture needs '{}' there", dense_path.string(),
               i, tensors[i].name, specs[i].name);
  }
  // read_dense_file checked the data against its header; the header must match the manifest.
  DLRM_CHECK(checksum_hex(dense.data_checksum) == manifest.dense_checksum,
             "dense weights {} have data checksum {} but the manifest says {}; the model directory is inconsistent, "
             "re-create it with dlrm-shard",
             dense_path.string(), checksum_hex(dense.data_checksum), manifest.dense_checksum);
  progress.add(dense_bytes);
  progress.finish();
  result.bytes_checked += dense_bytes;
  ++result.files;
  return result;
}

}  // namespace dlrm::model
