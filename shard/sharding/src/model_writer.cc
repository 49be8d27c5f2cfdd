#include "dlrm/sharding/model_writer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "dlrm/common/checksum.h"
#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/progress.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/model/dense_file.h"
#include "dlrm/model/row_codec.h"
#include "dlrm/model/shard_file.h"


namespace fs = std::filesystem;

namespace dlrm::sharding {

namespace {

std::string shard_file_name(int shard) { return fmt::format("shard-{:03d}.bin", shard); }

// Streams the rows of one slice from the source into the shard file, encoded
// as `dtype` rows of `stride` bytes (zero padded), `chunk_rows` rows per step.
void write_slice(ModelSource& source, const model::Slice& slice, ElementType dtype, uint64_t stride, int64_t chunk_rows,
                 std::vector<float>& values, std::vector<uint8_t>& encoded, model::ShardFileWriter& writer,
                 Progress& progress) {
  const int cols = slice.cols();
  const uint64_t value_bytes = static_cast<uint64_t>(cols) * sizeof(float);
  const bool packed = value_bytes == stride;  // rows need no padding: read straight into the output buffer
  for (int64_t row = slice.row_begin; row < slice.row_end; row += chunk_rows) {
    int64_t rows = std::min(chunk_rows, slice.row_end - row);
    if (dtype != ElementType::kFp32) {  // row-wise encoding (row_codec.h)
      source.read_rows(slice.table, row, rows, slice.col_begin, slice.col_end, values.data());
      model::EncodeResult result = model::encode_rows(dtype, values.data(), rows, cols, encoded.data());
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

uint64_t dense_bytes_estimate(const model::ModelArch& arch) {
  uint64_t count = 0;
  for (const auto& spec : model::dense_tensor_specs(arch)) {
    uint64_t n = 1;
    for (int64_t d : spec.shape) n *= static_cast<uint64_t>(d);
    count += n;
  }
  return count * sizeof(float);
}

}  // namespace

model::Manifest write_model_into(ModelSource& source, const WriteOptions& options, const fs::path& dir) {
  const model::ModelArch& arch = source.arch();
  arch.validate();
  const ElementType dtype = options.plan.dtype;
  DLRM_CHECK(model::kStorageTypes.contains(dtype), "write_model: {} is not a storage type (an internal error)",
             to_string(dtype));
  DLRM_CHECK(options.plan.table_dtypes.empty() || options.plan.table_dtypes.size() == arch.table_rows.size(),
             "{} table storage types given for a model of {} tables", options.plan.table_dtypes.size(),
             arch.num_tables());

  model::Manifest manifest;
  manifest.producer = std::string("dlrm-shard ") + DLRM_VERSION;
  manifest.source = source.describe();
  manifest.arch = arch;
  manifest.dtype = dtype;
  manifest.table_dtypes = model::normalize_table_dtypes(options.plan.table_dtypes, dtype);
  manifest.plan = to_string(options.plan.kind);
  manifest.shards = make_plan(arch, options.plan);
  model::check_plan(arch, manifest.shards);

  uint64_t embedding_bytes = 0;
  for (const auto& info : manifest.shards) embedding_bytes += info.embedding_bytes;
  spdlog::info("plan {}: {} shards, {} of {} embeddings, largest/mean shard {:.3f}", manifest.plan,
               manifest.num_shards(), format_bytes(embedding_bytes), manifest.storage_summary(),
               plan_imbalance(manifest.shards));

  Progress progress("writing shards", embedding_bytes + dense_bytes_estimate(arch), "B", options.progress);

  // One pair of bounded buffers for the whole model: at most chunk_bytes of
  // rows (fp32 as read, or encoded) are in memory at any time, whatever the model size.
  uint64_t max_stride = 0;
  for (int t = 0; t < arch.num_tables(); ++t) {
    max_stride = std::max(max_stride, model::row_stride(manifest.table_dtype(t), arch.dim));
  }
  const uint64_t max_row_bytes = std::max<uint64_t>(max_stride, static_cast<uint64_t>(arch.dim) * sizeof(float));
  const int64_t chunk_rows = std::max<int64_t>(1, static_cast<int64_t>(options.chunk_bytes / max_row_bytes));
  std::vector<float> values(static_cast<size_t>(chunk_rows) * arch.dim);
  std::vector<uint8_t> encoded(static_cast<size_t>(chunk_rows) * max_stride);

  for (model::ShardInfo& info : manifest.shards) {
    info.file = shard_file_name(info.shard);
    std::vector<ElementType> slice_types;
    for (const model::Slice& slice : info.slices) slice_types.push_back(manifest.table_dtype(slice.table));
    model::ShardFileWriter writer(dir / info.file, slice_types, arch.dim, info);
    for (size_t s = 0; s < info.slices.size(); ++s) {
      write_slice(source, info.slices[s], slice_types[s], writer.row_stride(static_cast<int>(s)), chunk_rows, values,
                  encoded, writer, progress);
    }
    info.checksum = checksum_hex(writer.finish());
    info.file_bytes = writer.file_bytes();
  }

  std::vector<model::DenseTensor> tensors;
  for (const auto& spec : model::dense_tensor_specs(arch)) {
    tensors.push_back({spec.name, spec.shape, source.read_dense(spec.name, spec.shape)});
    progress.add(tensors.back().values.size() * sizeof(float));
  }
  model::DenseFileInfo dense = model::write_dense_file(dir / manifest.dense_file, tensors);
  manifest.dense_bytes = dense.file_bytes;
  manifest.dense_checksum = checksum_hex(dense.data_checksum);

  model::save_manifest(manifest, dir);
  check_interrupted();
  progress.finish();
  return manifest;
}

void check_output_dir(const fs::path& out, bool overwrite) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  DLRM_CHECK(overwrite, "output {} already exists; remove it, choose another --out, or pass --force to replace it",
             out.string());
  DLRM_CHECK(fs::is_regular_file(out / model::kManifestName, ec),
             "--force replaces only a model directory, and {} has no {}; remove it yourself if it should go",
             out.string(), model::kManifestName);
}

model::Manifest write_model(ModelSource& source, const WriteOptions& options, const fs::path& out) {
  source.arch().validate();
  StagedDir dir(out, options.overwrite);
  model::Manifest manifest = write_model_into(source, options, dir.staging_path());
  dir.commit();
  return manifest;
}

}  // namespace dlrm::sharding
