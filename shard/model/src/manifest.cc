#include "dlrm/model/manifest.h"

#include <algorithm>
#include <fstream>
#include <numeric>

#include "dlrm/common/error.h"
#include "dlrm/common/json.h"
#include "dlrm/common/staged_output.h"

namespace fs = std::filesystem;

namespace dlrm::model {

int ModelArch::top_input_width() const {
  if (dcn()) return cross_width();
  int f = num_features();
  return dim + (interaction_self ? f * (f + 1) / 2 : f * (f - 1) / 2);
}

uint64_t ModelArch::total_rows() const {
  return std::accumulate(table_rows.begin(), table_rows.end(), uint64_t{0});
}

int64_t ModelArch::lookups_per_pair() const {
  int64_t n = 0;
  for (int t = 0; t < num_tables(); ++t) n += table_hotness(t);
  return n;
}

int64_t ModelArch::dense_macs_per_pair() const {
  int64_t macs = 0;
  auto chain = [&macs](int64_t in, const std::vector<int>& widths) {
    for (int out : widths) {
      macs += in * out;
      in = out;
    }
  };
  chain(dense_features, bottom_mlp);
  chain(top_input_width(), top_mlp);
  if (dcn()) macs += int64_t{2} * cross_layers * cross_rank * cross_width();
  return macs;
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
  DLRM_CHECK(interaction == "dot" || interaction == "dcn",
             "model: interaction '{}' is not supported; use 'dot' (DLRM) or 'dcn' (DLRM-v2's cross network)",
             interaction);
  if (dcn()) {
    DLRM_CHECK(!interaction_self, "model: interaction_self applies to 'dot' only, but the interaction is 'dcn'");
    DLRM_CHECK(cross_layers > 0 && cross_layers <= 64, "model: cross_layers is {}; a 'dcn' model needs 1..64",
               cross_layers);
    DLRM_CHECK(cross_rank > 0 && cross_rank <= cross_width(),
               "model: cross_rank is {}; a 'dcn' model needs 1..{} (the cross width, {} features x dim {})",
               cross_rank, cross_width(), num_features(), dim);
  } else {
    DLRM_CHECK(cross_layers == 0 && cross_rank == 0,
               "model: cross_layers {} and cross_rank {} apply to 'dcn' only, but the interaction is 'dot'",
               cross_layers, cross_rank);
  }
  DLRM_CHECK(hotness.empty() || hotness.size() == table_rows.size(),
             "model: hotness lists {} tables but the model has {}", hotness.size(), table_rows.size());
  for (size_t t = 0; t < hotness.size(); ++t) {
    DLRM_CHECK(hotness[t] > 0 && hotness[t] <= 65536, "model: hotness of table {} is {}; it must be 1..65536", t,
               hotness[t]);
  }
}

namespace {
// MLPerf DLRM, Criteo Terabyte, rows capped at 40M (DESIGN.md).
const std::vector<int64_t> kTerabyteRows = {
    39884406, 39043, 17289, 7420,  20263,    3,        7120,     1543,   63,
    38532951, 2953546, 403346, 10,  2208,     11938,    155,      4,      976,
    14,       39979771, 25641295, 39664984, 585935, 12972, 108, 36};
// MLPerf DLRM-v2 (multi-hot Criteo 1TB; DESIGN.md): rows and lookups per pair.
const std::vector<int64_t> kDlrmV2Rows = {
    40000000, 39060, 17295, 7424, 20265, 3,       7122,     1543,     63,     40000000, 3067956, 405282, 10,
    2209,     11938, 155,   4,    976,   14,      40000000, 40000000, 40000000, 590152, 12973,   108,    36};
const std::vector<int> kDlrmV2Hotness = {3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1,
                                         6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1};
}  // namespace

std::vector<std::string> preset_names() { return {"terabyte-40m", "small", "dlrm-v2", "small-v2"}; }

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
  } else if (name == "dlrm-v2") {
    arch.dense_features = 13;
    arch.dim = 128;
    arch.bottom_mlp = {512, 256, 128};
    arch.top_mlp = {1024, 1024, 512, 256, 1};
    arch.interaction = "dcn";
    arch.cross_layers = 3;
    arch.cross_rank = 512;
    arch.table_rows = kDlrmV2Rows;
    arch.hotness = kDlrmV2Hotness;
  } else if (name == "small-v2") {
    arch.dense_features = 13;
    arch.dim = 16;
    arch.bottom_mlp = {64, 16};
    arch.top_mlp = {64, 32, 1};
    arch.interaction = "dcn";
    arch.cross_layers = 2;
    arch.cross_rank = 8;
    arch.table_rows = kDlrmV2Rows;
    for (auto& rows : arch.table_rows) rows = std::min<int64_t>(rows, 1000);
    arch.hotness = kDlrmV2Hotness;
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

bool Manifest::mixed() const {
  for (int t = 1; t < arch.num_tables(); ++t) {
    if (table_dtype(t) != table_dtype(0)) return true;
  }
  return false;
}

bool Manifest::all_fp32() const {
  for (int t = 0; t < arch.num_tables(); ++t) {
    if (table_dtype(t) != ElementType::kFp32) return false;
  }
  return true;
}

std::string Manifest::storage_summary() const {
  if (!mixed()) return to_string(table_dtype(0));
  std::string out;
  for (ElementType type : {ElementType::kFp32, ElementType::kFp16, ElementType::kInt8, ElementType::kInt4}) {
    int n = 0;
    for (int t = 0; t < arch.num_tables(); ++t) n += table_dtype(t) == type ? 1 : 0;
    if (n > 0) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, to_string(type));
  }
  return "mixed (" + out + ")";
}

std::vector<ElementType> normalize_table_dtypes(const std::vector<ElementType>& table_dtypes, ElementType dtype) {
  for (ElementType type : table_dtypes) {
    if (type != dtype) return table_dtypes;
  }
  return {};
}

namespace {

void write_arch(JsonWriter& w, const ModelArch& arch) {
  w.begin_object("arch");
  w.field("dense_features", arch.dense_features);
  w.field("dim", arch.dim);
  w.field("bottom_mlp", arch.bottom_mlp);
  w.field("top_mlp", arch.top_mlp);
  w.field("interaction", arch.interaction);
  w.field("interaction_self", arch.interaction_self);
  if (arch.dcn()) {
    w.field("cross_layers", arch.cross_layers);
    w.field("cross_rank", arch.cross_rank);
  }
  w.field("table_rows", arch.table_rows);
  if (!arch.hotness.empty()) w.field("hotness", arch.hotness);
  w.end_object();
}

void write_shard(JsonWriter& w, const ShardInfo& info) {
  w.begin_object();
  w.field("shard", info.shard);
  w.field("file", info.file);
  w.field("file_bytes", info.file_bytes);
  w.field("embedding_bytes", info.embedding_bytes);
  w.field("checksum", info.checksum);
  w.begin_array("slices");
  for (const Slice& slice : info.slices) {
    w.begin_object();
    w.field("table", slice.table);
    w.field("row_begin", slice.row_begin);
    w.field("row_end", slice.row_end);
    w.field("col_begin", slice.col_begin);
    w.field("col_end", slice.col_end);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

ModelArch read_arch(const JsonValue& v) {
  ModelArch arch;
  arch.dense_features = v["dense_features"].get<int>();
  arch.dim = v["dim"].get<int>();
  arch.bottom_mlp = v["bottom_mlp"].get<std::vector<int>>();
  arch.top_mlp = v["top_mlp"].get<std::vector<int>>();
  arch.interaction = v["interaction"].get<std::string>();
  arch.interaction_self = v["interaction_self"].get<bool>();
  if (arch.dcn() || v.has("cross_layers")) arch.cross_layers = v["cross_layers"].get<int>();
  if (arch.dcn() || v.has("cross_rank")) arch.cross_rank = v["cross_rank"].get<int>();
  arch.table_rows = v["table_rows"].get<std::vector<int64_t>>();
  if (v.has("hotness")) arch.hotness = v["hotness"].get<std::vector<int>>();
  return arch;
}

ShardInfo read_shard(const JsonValue& v) {
  ShardInfo info;
  info.shard = v["shard"].get<int>();
  info.file = v["file"].get<std::string>();
  info.file_bytes = v["file_bytes"].get<uint64_t>();
  info.embedding_bytes = v["embedding_bytes"].get<uint64_t>();
  info.checksum = v["checksum"].get<std::string>();
  for (const JsonValue& s : v["slices"].items()) {
    Slice slice;
    slice.table = s["table"].get<int>();
    slice.row_begin = s["row_begin"].get<int64_t>();
    slice.row_end = s["row_end"].get<int64_t>();
    slice.col_begin = s["col_begin"].get<int>();
    slice.col_end = s["col_end"].get<int>();
    info.slices.push_back(slice);
  }
  return info;
}

// The "dlrm_model" object; the version is read (and checked) before anything else.
Manifest read_manifest(const JsonValue& v, const fs::path& path) {
  Manifest manifest;
  manifest.format_version = v["format_version"].get<int>();
  DLRM_CHECK(manifest.format_version == Manifest::kFormatVersion,
             "{}: manifest format_version is {} but this dlrm-cluster reads version {}; re-shard the model "
             "with this version of dlrm-shard",
             path.string(), manifest.format_version, Manifest::kFormatVersion);
  manifest.producer = v["producer"].get<std::string>();
  manifest.source = v["source"].get<std::string>();
  manifest.arch = read_arch(v["arch"]);
  try {
    manifest.dtype = parse_storage_type(v["dtype"].get<std::string>());
  } catch (const Error& e) {
    v["dtype"].fail(e.what());
  }
  if (v.has("table_dtypes")) {
    const JsonValue& list = v["table_dtypes"];
    const std::vector<JsonValue> items = list.items();
    DLRM_CHECK(items.size() == manifest.arch.table_rows.size(),
               "{}: table_dtypes lists {} storage types but the model has {} tables; give one per table", path.string(),
               items.size(), manifest.arch.table_rows.size());
    for (size_t t = 0; t < items.size(); ++t) {
      try {
        manifest.table_dtypes.push_back(parse_storage_type(items[t].get<std::string>()));
      } catch (const Error& e) {
        items[t].fail(fmt::format("table {}: {}", t, e.what()));
      }
    }
    manifest.table_dtypes = normalize_table_dtypes(manifest.table_dtypes, manifest.dtype);
  }
  manifest.plan = v["plan"].get<std::string>();
  manifest.dense_file = v["dense_file"].get<std::string>();
  manifest.dense_bytes = v["dense_bytes"].get<uint64_t>();
  manifest.dense_checksum = v["dense_checksum"].get<std::string>();
  for (const JsonValue& shard : v["shards"].items()) manifest.shards.push_back(read_shard(shard));
  return manifest;
}

}  // namespace

void save_manifest(const Manifest& manifest, const fs::path& dir) {
  JsonWriter w;
  w.begin_object();
  w.begin_object("dlrm_model");
  w.field("format_version", manifest.format_version);
  w.field("producer", manifest.producer);
  w.field("source", manifest.source);
  write_arch(w, manifest.arch);
  w.field("dtype", to_string(manifest.dtype));
  const std::vector<ElementType> table_dtypes = normalize_table_dtypes(manifest.table_dtypes, manifest.dtype);
  if (!table_dtypes.empty()) {
    DLRM_CHECK(table_dtypes.size() == manifest.arch.table_rows.size(),
               "save_manifest: {} table storage types for {} tables (an internal error)", table_dtypes.size(),
               manifest.arch.table_rows.size());
    std::vector<std::string> names;
    for (ElementType type : table_dtypes) names.push_back(to_string(type));
    w.field("table_dtypes", names);
  }
  w.field("plan", manifest.plan);
  w.field("dense_file", manifest.dense_file);
  w.field("dense_bytes", manifest.dense_bytes);
  w.field("dense_checksum", manifest.dense_checksum);
  w.begin_array("shards");
  for (const ShardInfo& info : manifest.shards) write_shard(w, info);
  w.end_array();
  w.end_object();
  w.end_object();
  std::string text = w.str();
  StagedFile out(dir / kManifestName);
  out.write(text.data(), text.size());
  out.commit();
}

Manifest load_manifest(const fs::path& dir) {
  fs::path path = dir / kManifestName;
  std::error_code ec;
  DLRM_CHECK(fs::is_directory(dir, ec), "model directory {} does not exist; create it with dlrm-shard",
             dir.string());
  DLRM_CHECK(std::ifstream(path).good(),
             "{} is missing or unreadable; is {} a model directory written by dlrm-shard?", path.string(),
             dir.string());
  JsonDocument doc = JsonDocument::read_file(path, {"manifest", "re-create the model with dlrm-shard"});
  Manifest manifest = read_manifest(doc.root()["dlrm_model"], path);
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
