// The model description (architecture) and the sharded-model manifest.
//
// A model directory holds:
//   manifest.json      this Manifest as JSON (save_manifest), versioned
//   dense.bin          the MLP weights (dlrm/dense/dense_weights.h)
//   shard-NNN.bin      one file per shard rank (dlrm/shard/shard_file.h)
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dlrm::model {

// How embedding rows are stored. Row stride (bytes per stored row) per type
// (byte layouts in dlrm/shard/quantize.h):
//   fp32: round_up(4 * cols, 64)                 (64-byte aligned rows)
//   fp16: round_up(2 * cols, 4)
//   int8: round_up(cols + 8, 4)                  (codes, fp32 scale, fp32 bias)
//   int4: round_up(ceil(cols / 2) + 4, 4)        (codes, fp16 scale, fp16 bias)
enum class StorageType : uint32_t { kFp32 = 0, kFp16 = 1, kInt8 = 2, kInt4 = 3 };

std::string to_string(StorageType type);
// Accepts "fp32", "fp16", "int8", "int4"; throws naming the valid choices.
StorageType parse_storage_type(const std::string& name);
// Bytes of a stored row of `cols` values before padding, and with it (the stride above).
uint64_t row_bytes(StorageType type, int cols);
uint64_t row_stride(StorageType type, int cols);
// Whether this build can write and serve `type` (every StorageType above).
bool storage_supported(StorageType type);

struct ModelArch {
  int dense_features = 13;
  int dim = 128;                    // embedding dim = bottom MLP output width
  std::vector<int> bottom_mlp;      // output width of each bottom layer (last == dim)
  std::vector<int> top_mlp;         // output width of each top layer (last == 1)
  std::string interaction = "dot";  // only "dot"
  bool interaction_self = false;    // keep the diagonal of Z = T T^T
  std::vector<int64_t> table_rows;  // rows of each embedding table

  int num_tables() const { return static_cast<int>(table_rows.size()); }
  // Features entering the interaction: the bottom MLP output plus one per table.
  int num_features() const { return num_tables() + 1; }
  // Width of the top MLP input: dim + F(F-1)/2 (+ F with self terms).
  int top_input_width() const;
  uint64_t total_rows() const;
  // Throws dlrm::Error naming the inconsistent field.
  void validate() const;
};

// Built-in presets. "terabyte-40m": MLPerf DLRM (Criteo Terabyte, rows capped at 40M).
// "small": 26 tables of at most 1000 rows, dim 16, small MLPs (quick start, tests).
// row_cap > 0 caps every table at row_cap rows.
ModelArch make_preset(const std::string& name, int64_t row_cap = 0);
std::vector<std::string> preset_names();

// A rectangle of one table held by one shard: rows [row_begin, row_end) and
// columns [col_begin, col_end) of table `table`.
struct Slice {
  int table = 0;
  int64_t row_begin = 0;
  int64_t row_end = 0;
  int col_begin = 0;
  int col_end = 0;
  int64_t rows() const { return row_end - row_begin; }
  int cols() const { return col_end - col_begin; }
};

struct ShardInfo {
  int shard = 0;
  std::vector<Slice> slices;     // in file order
  uint64_t embedding_bytes = 0;  // sum of rows * row_stride over slices
  std::string file;              // relative to the model directory, "shard-000.bin"
  uint64_t file_bytes = 0;
  std::string checksum;          // XXH3-64 of the data section, 16 hex digits
};

struct Manifest {
  static constexpr int kFormatVersion = 1;
  int format_version = kFormatVersion;
  std::string producer;     // "dlrm-shard 0.1.0"
  std::string source;       // "synth preset=terabyte-40m seed=1" or "import PATH"
  ModelArch arch;
  StorageType dtype = StorageType::kFp32;
  std::string plan;         // "auto", "table", "row", "column"
  std::vector<ShardInfo> shards;
  std::string dense_file = "dense.bin";
  uint64_t dense_bytes = 0;
  std::string dense_checksum;

  int num_shards() const { return static_cast<int>(shards.size()); }
};

inline constexpr const char* kManifestName = "manifest.json";

// Written atomically into `dir` (staged, then renamed).
void save_manifest(const Manifest& manifest, const std::filesystem::path& dir);
// Throws naming the file and field on a missing/unparsable manifest, another
// format_version ("written by a newer/older dlrm-shard; re-shard the model"), or
// an inconsistent plan.
Manifest load_manifest(const std::filesystem::path& dir);

// Throws unless every cell of every table is covered exactly once and every
// slice lies inside its table.
void check_plan(const ModelArch& arch, const std::vector<ShardInfo>& shards);

}  // namespace dlrm::model
