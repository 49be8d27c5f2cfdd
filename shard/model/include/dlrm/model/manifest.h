// A model directory: the architecture (ModelArch, presets), the plan of
// slices per shard, and manifest.json, which describes the other files.
//
// A model directory holds:
//   manifest.json      this Manifest (save_manifest / load_manifest)
//   dense.bin          the MLP weights (dlrm/model/dense_file.h)
//   shard-NNN.bin      one file per shard rank (dlrm/model/shard_file.h), rows
//                      stored as dtype (dlrm/model/row_codec.h)
//   calibration.json   optional: activation ranges for int8 MLPs (dlrm/dense/calibration.h)
//
// manifest.json (format_version 1; every field required, others ignored):
//   {"dlrm_model": {"format_version": 1, "producer": "dlrm-shard 0.1.0", "source": "...",
//     "arch": {"dense_features": 13, "dim": 128, "bottom_mlp": [512, 256, 128],
//              "top_mlp": [1024, 1024, 512, 256, 1], "interaction": "dot"|"dcn",
//              "interaction_self": false, "table_rows": [rows of each table],
//              "cross_layers": 3, "cross_rank": 512,     (dcn only; optional for dot)
//              "hotness": [lookups per pair of each table]},  (optional: all 1)
//     "dtype": "fp32"|"fp16"|"int8"|"int4", "plan": "auto"|"table"|"row"|"column",
//     "table_dtypes": ["int4", "fp32", ...],   (optional: one storage type per
//                      table; absent, every table is stored as "dtype". Written
//                      only when some table differs from "dtype")
//     "dense_file": "dense.bin", "dense_bytes": N, "dense_checksum": "16 hex digits",
//     "shards": [{"shard": s, "file": "shard-000.bin", "file_bytes": N, "embedding_bytes": N,
//                 "checksum": "16 hex digits",
//                 "slices": [{"table", "row_begin", "row_end", "col_begin", "col_end"}, ...]}, ...]}}
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dlrm/model/row_codec.h"

namespace dlrm::model {

struct ModelArch {
  int dense_features = 13;
  int dim = 128;                    // embedding dim = bottom MLP output width
  std::vector<int> bottom_mlp;      // output width of each bottom layer (last == dim)
  std::vector<int> top_mlp;         // output width of each top layer (last == 1)
  // "dot": DLRM's pairwise dot products (dense/interaction.h).
  // "dcn": DLRM-v2's low-rank DCNv2 cross network (dense/cross_net.h) on
  //        x0 = concat(bottom output, pooled rows of tables 0..T-1).
  std::string interaction = "dot";
  bool interaction_self = false;    // dot: keep the diagonal of Z = T T^T
  int cross_layers = 0;             // dcn: cross layers (DLRM-v2: 3)
  int cross_rank = 0;               // dcn: rank of each layer's W V factorisation (DLRM-v2: 512)
  std::vector<int64_t> table_rows;  // rows of each embedding table
  // Lookups per pair in each table, as the model's data has them (DLRM-v2's
  // multi-hot: 3, 2, 1, ..., 214 in all); empty means one each. Used for
  // synthetic data and for planning (index bytes, pooling work); a batch's
  // bags may have other lengths.
  std::vector<int> hotness;

  int num_tables() const { return static_cast<int>(table_rows.size()); }
  // Features entering the interaction: the bottom MLP output plus one per table.
  int num_features() const { return num_tables() + 1; }
  bool dcn() const { return interaction == "dcn"; }
  // dcn: width of x0 and of every cross layer's output, F * dim.
  int cross_width() const { return num_features() * dim; }
  // Width of the top MLP input: dot: dim + F(F-1)/2 (+ F with self terms);
  // dcn: cross_width().
  int top_input_width() const;
  // Lookups per pair in table t (hotness[t], or 1), and in all tables.
  int table_hotness(int t) const { return hotness.empty() ? 1 : hotness[static_cast<size_t>(t)]; }
  int64_t lookups_per_pair() const;
  // Multiply-adds of the bottom MLP, the cross network (dcn: W and V of each
  // layer) and the top MLP for one pair; biases and the dot interaction left
  // out (dense::mlp_macs, dense::cross_net_macs).
  int64_t dense_macs_per_pair() const;
  uint64_t total_rows() const;
  // Throws dlrm::Error naming the inconsistent field.
  void validate() const;
};

// Built-in presets. "terabyte-40m": MLPerf DLRM (Criteo Terabyte, rows capped at 40M).
// "small": 26 tables of at most 1000 rows, dim 16, small MLPs (quick start, tests).
// "dlrm-v2": MLPerf's DLRM-v2 (TorchRec DLRM_DCN on multi-hot Criteo 1TB:
// 204,184,588 rows, 214 lookups per pair, a 3-layer rank-512 cross network).
// "small-v2": the same shape of model, small (tables of at most 1000 rows,
// dim 16, 2 cross layers of rank 8, the same hotness).
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
  uint64_t embedding_bytes = 0;  // sum over slices of rows() * row_stride(dtype, cols())
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
  // How rows are stored (row_codec.h): table t as table_dtypes[t], or every
  // table as dtype when table_dtypes is empty (one model may mix storage types).
  ElementType dtype = ElementType::kFp32;
  std::vector<ElementType> table_dtypes;
  std::string plan;         // "auto", "table", "row", "column"
  std::vector<ShardInfo> shards;
  std::string dense_file = "dense.bin";
  uint64_t dense_bytes = 0;
  std::string dense_checksum;

  int num_shards() const { return static_cast<int>(shards.size()); }
  ElementType table_dtype(int table) const {
    return table_dtypes.empty() ? dtype : table_dtypes[static_cast<size_t>(table)];
  }
  // True when the tables are not all stored alike.
  bool mixed() const;
  // True when every table is stored in fp32.
  bool all_fp32() const;
  // "int8" for a uniform model; "mixed (3 fp32, 23 int4)" otherwise (types in
  // kStorageTypes order).
  std::string storage_summary() const;
};

// Per-table storage types as table_dtypes keeps them: empty when every entry
// equals `dtype` (a uniform model), else one per table.
std::vector<ElementType> normalize_table_dtypes(const std::vector<ElementType>& table_dtypes, ElementType dtype);

inline constexpr const char* kManifestName = "manifest.json";

// Writes dir/manifest.json atomically (staged, then renamed).
void save_manifest(const Manifest& manifest, const std::filesystem::path& dir);
// Reads dir/manifest.json, then checks it: arch.validate(), shards numbered
// 0..n-1, check_plan. Throws naming the file (and the field) when the
// directory or file is missing, the JSON is malformed or lacks a field, its
// format_version is not kFormatVersion ("re-shard the model"), a table's
// storage type is unknown or table_dtypes does not list one per table (naming
// the table), or a check fails.
Manifest load_manifest(const std::filesystem::path& dir);

// Throws unless every cell of every table is covered exactly once and every
// slice lies inside its table.
void check_plan(const ModelArch& arch, const std::vector<ShardInfo>& shards);

}  // namespace dlrm::model
