#include "dlrm/model/manifest.h"

#include <cereal/archives/json.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <sstream>

#include "dlrm/common/error.h"
#include "dlrm/common/staged_output.h"

namespace fs = std::filesystem;

namespace dlrm::model {

std::string to_string(StorageType type) {
  switch (type) {
    case StorageType::kFp32: return "fp32";
    case StorageType::kFp16: return "fp16";
    case StorageType::kInt8: return "int8";
    case StorageType::kInt4: return "int4";
  }
  return fmt::format("unknown({})", static_cast<uint32_t>(type));
}

StorageType parse_storage_type(const std::string& name) {
  if (name == "fp32") return StorageType::kFp32;
  if (name == "fp16") return StorageType::kFp16;
  if (name == "int8") return StorageType::kInt8;
  if (name == "int4") return StorageType::kInt4;
  DLRM_FAIL("unknown storage type '{}'; choose fp32, fp16, int8 or int4", name);
}

uint64_t row_bytes(StorageType type, int cols) {
  const auto n = static_cast<uint64_t>(cols);
  switch (type) {
    case StorageType::kFp32: return 4 * n;
    // Reduced precision rows are packed densely (layouts in quantize.h).
    case StorageType::kFp16: return 2 * n;
    // Row-wise quantized: codes, then fp32 scale and bias.
    case StorageType::kInt8: return n + 8;
    // Row-wise quantized: 4-bit codes, then fp16 scale and bias.
    case StorageType::kInt4: return (n + 1) / 2 + 4;
  }
  DLRM_ASSERT(false);
  return 0;
}

uint64_t row_stride(StorageType type, int cols) {
  // fp32 rows are 64-byte aligned, the others 4-byte aligned.
  const uint64_t align = type == StorageType::kFp32 ? 64 : 4;
  return (row_bytes(type, cols) + align - 1) / align * align;
}

bool storage_supported(StorageType type) {
  switch (type) {
    case StorageType::kFp32:
    case StorageType::kFp16:
    case StorageType::kInt8:
    case StorageType::kInt4: return true;
  }
  return false;
}

int ModelArch::top_input_width() const {
  int f = num_features();
  return dim + (interaction_self ? f * (f + 1) / 2 : f * (f - 1) / 2);
}

uint64_t ModelArch::total_rows() const {
  return std::accumulate(table_rows.begin(), table_rows.end(), uint64_t{0});
}

void ModelArch::validate() const {
  DLRM_CHECK(dense_features > 0, "model: dense_features must be positive, got {}", dense_features);
  DLRM_CHECK(dim > 0, "model: embedding dim must be positive, got {}", dim);
  DLRM_CHECK(!table_rows.empty(), "model: there are no embedding tables");
  for (size_t t = 0; t < table_rows.size(); ++t) {
    DLRM_CHECK(table_rows[t] > 0, "model: table {} has {} rows; every table needs at least one", t,
               table_rows[t]);
    DLRM_CHECK(table_rows[t] <= INT32_MAX, "model: table {} has {} rows; at most {} are supported", t,
               table_rows[t], INT32_MAX);
  }
  DLRM_CHECK(!bottom_mlp.empty(), "model: the bottom MLP has no layers");
  DLRM_CHECK(bottom_mlp.back() == dim,
             "model: the bottom MLP ends with width {} but the embedding dim is {}; they must match",
             bottom_mlp.back(), dim);
  DLRM_CHECK(!top_mlp.empty() && top_mlp.back() == 1, "model: the top MLP must end with width 1");
  for (int w : bottom_mlp) DLRM_CHECK(w > 0, "model: bottom MLP width {} is not positive", w);
  for (int w : top_mlp) DLRM_CHECK(w > 0, "model: top MLP width {} is not positive", w);
  DLRM_CHECK(interaction == "dot", "model: interaction '{}' is not supported; only 'dot'", interaction);
}

template <class Archive>
void ModelArch::serialize(Archive& ar) {
  ar(cereal::make_nvp("dense_features", dense_features), cereal::make_nvp("dim", dim),
     cereal::make_nvp("bottom_mlp", bottom_mlp), cereal::make_nvp("top_mlp", top_mlp),
     cereal::make_nvp("interaction", interaction), cereal::make_nvp("interaction_self", interaction_self),
     cereal::make_nvp("table_rows", table_rows));
}

template <class Archive>
void Slice::serialize(Archive& ar) {
  ar(cereal::make_nvp("table", table), cereal::make_nvp("row_begin", row_begin),
     cereal::make_nvp("row_end", row_end), cereal::make_nvp("col_begin", col_begin),
     cereal::make_nvp("col_end", col_end));
}

template <class Archive>
void ShardInfo::serialize(Archive& ar) {
  ar(cereal::make_nvp("shard", shard), cereal::make_nvp("file", file),
     cereal::make_nvp("file_bytes", file_bytes), cereal::make_nvp("embedding_bytes", embedding_bytes),
     cereal::make_nvp("checksum", checksum), cereal::make_nvp("slices", slices));
}

template <class Archive>
void Manifest::serialize(Archive& ar) {
  std::string dtype_name = to_string(dtype);
  ar(cereal::make_nvp("format_version", format_version));
  DLRM_CHECK(format_version == kFormatVersion,
             "manifest format_version is {} but this dlrm-cluster reads version {}; re-shard the model "
             "with this version of dlrm-shard",
             format_version, kFormatVersion);
  ar(cereal::make_nvp("producer", producer), cereal::make_nvp("source", source),
     cereal::make_nvp("arch", arch), cereal::make_nvp("dtype", dtype_name), cereal::make_nvp("plan", plan),
     cereal::make_nvp("dense_file", dense_file), cereal::make_nvp("dense_bytes", dense_bytes),
     cereal::make_nvp("dense_checksum", dense_checksum), cereal::make_nvp("shards", shards));
  dtype = parse_storage_type(dtype_name);
}

namespace {
// MLPerf DLRM, Criteo Terabyte, rows capped at 40M (DESIGN.md).
const std::vector<int64_t> kTerabyteRows = {
    39884406, 39043, 17289, 7420,  20263,    3,        7120,     1543,   63,
    38532951, 2953546, 403346, 10,  2208,     11938,    155,      4,      976,
    14,       39979771, 25641295, 39664984, 585935, 12972, 108, 36};
}  // namespace

std::vector<std::string> preset_names() { return {"terabyte-40m", "small"}; }

ModelArch make_preset(const std::string& name, int64_t row_cap) {
  DLRM_CHECK(row_cap >= 0, "--row-cap must be >= 0 (0 keeps every row), got {}", row_cap);
  ModelArch arch;
  if (name == "terabyte-40m") {
    arch.dense_features = 13;
    arch.dim = 128;
    arch.bottom_mlp = {512, 256, 128};
    arch.top_mlp = {1024, 1024, 512, 256, 1};
    arch.table_rows = kTerabyteRows;
  } else if (name == "small") {
    // Same shape of problem (13 dense, 26 tables of skewed sizes), small enough for tests.
    arch.dense_features = 13;
    arch.dim = 16;
    arch.bottom_mlp = {64, 16};
    arch.top_mlp = {64, 32, 1};
    arch.table_rows = kTerabyteRows;
    for (auto& rows : arch.table_rows) rows = std::min<int64_t>(rows, 1000);
  } else {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    DLRM_FAIL("unknown preset '{}'; choose one of: {}", name, names);
  }
  if (row_cap > 0) {
    for (auto& rows : arch.table_rows) rows = std::min(rows, row_cap);
  }
  arch.validate();
  return arch;
}

void save_manifest(const Manifest& manifest, const fs::path& dir) {
  std::ostringstream os;
  {
    cereal::JSONOutputArchive ar(os);
    ar(cereal::make_nvp("dlrm_model", const_cast<Manifest&>(manifest)));
  }
  os << "\n";
  std::string text = os.str();
  StagedFile out(dir / kManifestName);
  out.write(text.data(), text.size());
  out.commit();
}

Manifest load_manifest(const fs::path& dir) {
  fs::path path = dir / kManifestName;
  std::error_code ec;
  DLRM_CHECK(fs::is_directory(dir, ec), "model directory {} does not exist; create it with dlrm-shard",
             dir.string());
  std::ifstream in(path);
  DLRM_CHECK(in.good(), "{} is missing or unreadable; is {} a model directory written by dlrm-shard?",
             path.string(), dir.string());
  Manifest manifest;
  try {
    cereal::JSONInputArchive ar(in);
    ar(cereal::make_nvp("dlrm_model", manifest));
  } catch (const Error& e) {
    DLRM_FAIL("{}: {}", path.string(), e.what());
  } catch (const std::exception& e) {
    DLRM_FAIL("{} is not a valid manifest ({}); re-create the model with dlrm-shard", path.string(),
              e.what());
  }
  try {
    manifest.arch.validate();
    DLRM_CHECK(manifest.num_shards() > 0, "it lists no shards");
    for (int s = 0; s < manifest.num_shards(); ++s) {
      DLRM_CHECK(manifest.shards[s].shard == s, "shard entry {} is numbered {}", s, manifest.shards[s].shard);
    }
    check_plan(manifest.arch, manifest.shards);
  } catch (const Error& e) {
    DLRM_FAIL("{}: {}", path.string(), e.what());
  }
  return manifest;
}

void check_plan(const ModelArch& arch, const std::vector<ShardInfo>& shards) {
  DLRM_CHECK(!shards.empty(), "the plan has no shards");
  std::vector<std::vector<std::pair<Slice, int>>> by_table(arch.num_tables());
  for (int s = 0; s < static_cast<int>(shards.size()); ++s) {
    DLRM_CHECK(shards[s].shard == s, "shard entry {} is numbered {}", s, shards[s].shard);
    DLRM_CHECK(!shards[s].slices.empty(), "shard {} holds no rows; every shard needs at least one slice", s);
    for (const Slice& slice : shards[s].slices) {
      DLRM_CHECK(slice.table >= 0 && slice.table < arch.num_tables(),
                 "shard {} holds table {} but the model has tables 0..{}", s, slice.table, arch.num_tables() - 1);
      int64_t rows = arch.table_rows[slice.table];
      DLRM_CHECK(slice.row_begin >= 0 && slice.row_begin < slice.row_end && slice.row_end <= rows,
                 "shard {} holds rows [{}, {}) of table {}, which has rows [0, {})", s, slice.row_begin,
                 slice.row_end, slice.table, rows);
      DLRM_CHECK(slice.col_begin >= 0 && slice.col_begin < slice.col_end && slice.col_end <= arch.dim,
                 "shard {} holds columns [{}, {}) of table {}, which has columns [0, {})", s, slice.col_begin,
                 slice.col_end, slice.table, arch.dim);
      by_table[slice.table].push_back({slice, s});
    }
  }
  // Per table, cut the columns at every slice edge; in each column strip the
  // row ranges of the slices spanning it must tile [0, rows) exactly.
  for (int t = 0; t < arch.num_tables(); ++t) {
    auto& pieces = by_table[t];
    std::vector<int> edges = {0, arch.dim};
    for (const auto& [slice, s] : pieces) {
      edges.push_back(slice.col_begin);
      edges.push_back(slice.col_end);
    }
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    std::sort(pieces.begin(), pieces.end(),
              [](const auto& a, const auto& b) { return a.first.row_begin < b.first.row_begin; });
    for (size_t e = 0; e + 1 < edges.size(); ++e) {
      int c0 = edges[e], c1 = edges[e + 1];
      int64_t covered = 0;
      int prev_shard = -1;
      for (const auto& [slice, s] : pieces) {
        if (slice.col_begin > c0 || slice.col_end < c1) continue;
        DLRM_CHECK(slice.row_begin <= covered, "rows [{}, {}) columns [{}, {}) of table {} are held by no shard",
                   covered, slice.row_begin, c0, c1, t);
        DLRM_CHECK(slice.row_begin >= covered,
                   "rows [{}, {}) columns [{}, {}) of table {} are held twice (by shards {} and {})",
                   slice.row_begin, std::min(covered, slice.row_end), c0, c1, t, prev_shard, s);
        covered = slice.row_end;
        prev_shard = s;
      }
      DLRM_CHECK(covered == arch.table_rows[t], "rows [{}, {}) columns [{}, {}) of table {} are held by no shard",
                 covered, arch.table_rows[t], c0, c1, t);
    }
  }
}

}  // namespace dlrm::model
