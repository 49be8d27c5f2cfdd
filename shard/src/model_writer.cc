#include "dlrm/shard/model_writer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "dlrm/common/checksum.h"
#include "dlrm/common/error.h"
#include "dlrm/common/progress.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/shard/dense_file.h"
#include "dlrm/shard/quantize.h"
#include "dlrm/shard/shard_file.h"


namespace fs = std::filesystem;

namespace dlrm::shard {

namespace {

std::string shard_file_name(int shard) { return fmt::format("shard-{:03d}.bin", shard); }

// Streams the rows of one slice from the source into the shard file, encoded
// as `dtype` rows of `stride` bytes (zero padded), `chunk_rows` rows per step.
void write_slice(ModelSource& source, const Slice& slice, StorageType dtype, uint64_t stride, int64_t chunk_rows,
                 std::vector<float>& values, std::vector<uint8_t>& encoded, ShardFileWriter& writer,
                 Progress& progress) {
  const int cols = slice.cols();
  const uint64_t value_bytes = static_cast<uint64_t>(cols) * sizeof(float);
  const bool packed = value_bytes == stride;  // rows need no padding: read straight into the output buffer
  for (int64_t row = slice.row_begin; row < slice.row_end; row += chunk_rows) {
    int64_t rows = std::min(chunk_rows, slice.row_end - row);
    if (dtype != StorageType::kFp32) {  // row-wise encoding (quantize.h)
      source.read_rows(slice.table, row, rows, slice.col_begin, slice.col_end, values.data());
      EncodeResult result = encode_rows(dtype, values.data(), rows, cols, encoded.data());
      DLRM_CHECK(result.bad_rows == 0,
                 "table {} row {} (columns [{}, {})) cannot be stored as {}: {} ({} such rows in [{}, {})); "
                 "use --dtype {}",
                 slice.table, row + result.first_bad, slice.col_begin, slice.col_end, to_string(dtype), result.reason,
                 result.bad_rows, row, row + rows,
                 result.reason.find("fp16") != std::string::npos ? "int8 or fp32" : "fp32");
    } else if (packed) {
      source.read_rows(slice.table, row, rows, slice.col_begin, slice.col_end,
                       reinterpret_cast<float*>(encoded.data()));
    } else {
      source.read_rows(slice.table, row, rows, slice.col_begin, slice.col_end, values.data());
      for (int64_t r = 0; r < rows; ++r) {
        uint8_t* dst = encoded.data() + r * stride;
        std::memcpy(dst, values.data() + r * cols, value_bytes);
        std::memset(dst + value_bytes, 0, stride - value_bytes);
      }
    }
    writer.append_rows(encoded.data(), rows);
    progress.add(static_cast<uint64_t>(rows) * stride);
  }
}

uint64_t dense_bytes_estimate(const ModelArch& arch) {
  uint64_t count = 0;
  for (const auto& spec : dense_tensor_specs(arch)) {
    uint64_t n = 1;
    for (int64_t d : spec.shape) n *= static_cast<uint64_t>(d);
    count += n;
  }
  return count * sizeof(float);
}

}  // namespace

Manifest write_model(ModelSource& source, const WriteOptions& options, const fs::path& out) {
  const ModelArch& arch = source.arch();
  arch.validate();
  const StorageType dtype = options.plan.dtype;
  DLRM_CHECK(storage_supported(dtype), "write_model: unknown storage type {} (an internal error)",
             static_cast<uint32_t>(dtype));

  Manifest manifest;
  manifest.producer = std::string("dlrm-shard ") + DLRM_VERSION;
  manifest.source = source.describe();
  manifest.arch = arch;
  manifest.dtype = dtype;
  manifest.plan = to_string(options.plan.kind);
  manifest.shards = make_plan(arch, options.plan);
  check_plan(arch, manifest.shards);

  uint64_t embedding_bytes = 0;
  for (const auto& info : manifest.shards) embedding_bytes += info.embedding_bytes;
  spdlog::info("plan {}: {} shards, {} of {} embeddings, largest/mean shard {:.3f}", manifest.plan,
               manifest.num_shards(), format_bytes(embedding_bytes), to_string(dtype),
               plan_imbalance(manifest.shards));

  StagedDir dir(out, options.overwrite);
  Progress progress("writing shards", embedding_bytes + dense_bytes_estimate(arch), "B", options.progress);

  // One pair of bounded buffers for the whole model: at most chunk_bytes of
  // rows (fp32 as read, or encoded) are in memory at any time, whatever the model size.
  const uint64_t max_stride = row_stride(dtype, arch.dim);
  const uint64_t max_row_bytes = std::max<uint64_t>(max_stride, static_cast<uint64_t>(arch.dim) * sizeof(float));
  const int64_t chunk_rows = std::max<int64_t>(1, static_cast<int64_t>(options.chunk_bytes / max_row_bytes));
  std::vector<float> values(static_cast<size_t>(chunk_rows) * arch.dim);
  std::vector<uint8_t> encoded(static_cast<size_t>(chunk_rows) * max_stride);

  for (ShardInfo& info : manifest.shards) {
    info.file = shard_file_name(info.shard);
    ShardFileWriter writer(dir.staging_path() / info.file, dtype, arch.dim, info);
    for (size_t s = 0; s < info.slices.size(); ++s) {
      write_slice(source, info.slices[s], dtype, writer.row_stride(static_cast<int>(s)), chunk_rows, values, encoded,
                  writer, progress);
    }
    info.checksum = checksum_hex(writer.finish());
    info.file_bytes = writer.file_bytes();
  }

  std::vector<DenseTensor> tensors;
  for (const auto& spec : dense_tensor_specs(arch)) {
    tensors.push_back({spec.name, spec.shape, source.read_dense(spec.name, spec.shape)});
    progress.add(tensors.back().values.size() * sizeof(float));
  }
  DenseFileInfo dense = write_dense_file(dir.staging_path() / manifest.dense_file, tensors);
  manifest.dense_bytes = dense.file_bytes;
  manifest.dense_checksum = checksum_hex(dense.data_checksum);

  save_manifest(manifest, dir.staging_path());
  check_interrupted();
  dir.commit();
  progress.finish();
  return manifest;
}

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

}  // namespace dlrm::shard
