// dlrm-shard: plans, writes, inspects and verifies sharded DLRM models.
//
//   dlrm-shard synth --preset terabyte-40m [--row-cap N] --shards N [--dtype fp32|fp16|int8|int4] [--seed S]
//                    [--table-dtype T=TYPE]... [--plan auto|table|row|column] [--column-splits K]
//                    [--max-shard-bytes B] [--force] [--dry-run] --out DIR
//   dlrm-shard import --from PATH [--hotness dlrm-v2|LIST] --shards N [same options] --out DIR
//   dlrm-shard inspect DIR [--json]
//   dlrm-shard verify DIR
//   dlrm-shard calibrate --model DIR --data SAMPLES
//   dlrm-shard tune-precision --model FP32DIR --data LABELLED [--auc-budget B] [--objective bytes|speed] --out DIR
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <set>

#include "dlrm/reference/calibrate.h"
#include "dlrm/common/error.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/common/format.h"
#include "dlrm/common/json.h"
#include "dlrm/common/log.h"
#include "dlrm/common/progress.h"
#include "dlrm/import/import.h"
#include "dlrm/model/dense_file.h"
#include "dlrm/model/manifest.h"
#include "dlrm/model/verify.h"
#include "dlrm/sharding/model_writer.h"
#include "dlrm/sharding/plan.h"
#include "dlrm/sharding/source.h"
#include "dlrm_shard_tune.h"


namespace fs = std::filesystem;
using namespace dlrm;
using namespace dlrm::model;
using namespace dlrm::sharding;
using namespace dlrm::import;

namespace {

template <class T>
std::string join(const std::vector<T>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + fmt::format("{}", items[i]);
  return out;
}

// "t5" (whole table), "t9[0,250000)" (row range), "t3[0,1000)c[0,64)" (column
// block); a mixed model adds the table's storage type ("t5:int4").
std::string slice_label(const Slice& slice, const Manifest& m) {
  const ModelArch& arch = m.arch;
  bool all_rows = slice.row_begin == 0 && slice.row_end == arch.table_rows[slice.table];
  bool all_cols = slice.col_begin == 0 && slice.col_end == arch.dim;
  std::string s = fmt::format("t{}", slice.table);
  if (!all_rows || !all_cols) s += fmt::format("[{},{})", slice.row_begin, slice.row_end);
  if (!all_cols) s += fmt::format("c[{},{})", slice.col_begin, slice.col_end);
  if (m.mixed()) s += std::string(":") + to_string(m.table_dtype(slice.table));
  return s;
}

int num_tables_of(const ShardInfo& info) {
  std::set<int> tables;
  for (const auto& s : info.slices) tables.insert(s.table);
  return static_cast<int>(tables.size());
}

uint64_t rows_of(const ShardInfo& info) {
  uint64_t rows = 0;
  for (const auto& s : info.slices) rows += static_cast<uint64_t>(s.rows());
  return rows;
}

// How rows of `type` are stored (row_codec.h), for the summary.
const char* dtype_description(ElementType type) {
  switch (type) {
    case ElementType::kFp32: return "fp32 rows";
    case ElementType::kFp16: return "fp16 rows";
    case ElementType::kInt8: return "row-wise 8-bit codes + fp32 scale/bias";
    case ElementType::kInt4: return "row-wise 4-bit codes + fp16 scale/bias";
    default: break;
  }
  return "unknown";
}

std::string mlp_str(int in, const std::vector<int>& widths) {
  return fmt::format("{}-{}", in, join(widths, "-"));
}

void print_summary(const Manifest& m, const fs::path& dir) {
  const ModelArch& a = m.arch;
  std::printf("model     %s\n", dir.string().c_str());
  std::printf("producer  %s\n", m.producer.c_str());
  std::printf("source    %s\n", m.source.c_str());
  std::printf("arch      %d dense features, dim %d, %d tables of %s rows, interaction %s%s\n", a.dense_features, a.dim,
              a.num_tables(), group_digits(a.total_rows()).c_str(), a.interaction.c_str(),
              a.interaction_self ? " (with self terms)" : "");
  std::printf("mlp       bottom %s, top %s\n", mlp_str(a.dense_features, a.bottom_mlp).c_str(),
              mlp_str(a.top_input_width(), a.top_mlp).c_str());
  if (a.dcn()) {
    std::printf("cross     %d layers of rank %d on %d inputs (%d features x dim %d)\n", a.cross_layers, a.cross_rank,
                a.cross_width(), a.num_features(), a.dim);
  }
  if (!a.hotness.empty()) {
    std::printf("hotness   %s lookups per pair (%s)\n", group_digits(static_cast<uint64_t>(a.lookups_per_pair())).c_str(),
                join(a.hotness, ",").c_str());
  }
  if (m.mixed()) {
    std::printf("storage   %s per table, plan %s, %d shards, largest/mean shard %.3f\n", m.storage_summary().c_str(),
                m.plan.c_str(), m.num_shards(), plan_imbalance(m.shards));
    std::vector<std::string> types;
    for (int t = 0; t < a.num_tables(); ++t) types.push_back(fmt::format("t{} {}", t, to_string(m.table_dtype(t))));
    std::printf("tables    %s\n", join(types, ", ").c_str());
  } else {
    std::printf("storage   %s (%s, %s B per row of dim %d), plan %s, %d shards, largest/mean shard %.3f\n",
                to_string(m.dtype), dtype_description(m.dtype), group_digits(row_stride(m.dtype, a.dim)).c_str(),
                a.dim, m.plan.c_str(), m.num_shards(), plan_imbalance(m.shards));
  }
  std::printf("dense     %s, %s\n\n", m.dense_file.c_str(), dlrm::format_bytes(static_cast<double>(m.dense_bytes)).c_str());

  std::vector<std::vector<std::string>> rows = {{"shard", "file", "bytes", "rows", "tables", "row ranges"}};
  uint64_t total_bytes = 0, total_rows = 0;
  for (const auto& info : m.shards) {
    std::vector<std::string> labels;
    for (const auto& s : info.slices) labels.push_back(slice_label(s, m));
    rows.push_back({std::to_string(info.shard), info.file, dlrm::format_bytes(static_cast<double>(info.embedding_bytes)),
                    group_digits(rows_of(info)), std::to_string(num_tables_of(info)), join(labels, " ")});
    total_bytes += info.embedding_bytes;
    total_rows += rows_of(info);
  }
  rows.push_back({"total", "", dlrm::format_bytes(static_cast<double>(total_bytes)), group_digits(total_rows),
                  std::to_string(a.num_tables()), ""});
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      bool right = c == 2 || c == 3 || c == 4;  // numbers right-aligned
      bool last = c + 1 == r.size();
      line += right ? fmt::format("{:>{}}", r[c], width[c]) : fmt::format("{:<{}}", r[c], last ? 0 : width[c]);
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

void print_json(const Manifest& m, const fs::path& dir) {
  const ModelArch& a = m.arch;
  JsonWriter w({.indent = 2, .inline_vectors = true});
  w.begin_object();
  w.field("dir", dir.string());
  w.field("format_version", m.format_version);
  w.field("producer", m.producer);
  w.field("source", m.source);
  w.field("dtype", to_string(m.dtype));
  w.field("row_bytes", row_stride(m.dtype, a.dim));
  w.field("mixed", m.mixed());
  std::vector<std::string> table_dtypes;
  for (int t = 0; t < a.num_tables(); ++t) table_dtypes.push_back(to_string(m.table_dtype(t)));
  w.field("table_dtypes", table_dtypes);
  w.field("plan", m.plan);
  w.field("num_shards", m.num_shards());
  w.field_fixed("imbalance", plan_imbalance(m.shards), 6);
  w.begin_object("arch");
  w.field("dense_features", a.dense_features);
  w.field("dim", a.dim);
  w.field("bottom_mlp", a.bottom_mlp);
  w.field("top_mlp", a.top_mlp);
  w.field("top_input_width", a.top_input_width());
  w.field("interaction", a.interaction);
  w.field("interaction_self", a.interaction_self);
  if (a.dcn()) {
    w.field("cross_layers", a.cross_layers);
    w.field("cross_rank", a.cross_rank);
    w.field("cross_width", a.cross_width());
  }
  w.field("lookups_per_pair", a.lookups_per_pair());
  if (!a.hotness.empty()) w.field("hotness", a.hotness);
  w.field("num_tables", a.num_tables());
  w.field("total_rows", a.total_rows());
  w.field("table_rows", a.table_rows);
  w.end_object();
  w.begin_object("dense");
  w.field("file", m.dense_file);
  w.field("bytes", m.dense_bytes);
  w.field("checksum", m.dense_checksum);
  w.end_object();
  w.begin_array("shards");
  for (const ShardInfo& info : m.shards) {
    w.begin_object();
    w.field("shard", info.shard);
    w.field("file", info.file);
    w.field("file_bytes", info.file_bytes);
    w.field("embedding_bytes", info.embedding_bytes);
    w.field("rows", rows_of(info));
    w.field("tables", num_tables_of(info));
    w.field("checksum", info.checksum);
    w.begin_array("slices");
    for (const Slice& s : info.slices) {
      w.begin_object();
      w.field("table", s.table);
      w.field("row_begin", s.row_begin);
      w.field("row_end", s.row_end);
      w.field("col_begin", s.col_begin);
      w.field("col_end", s.col_end);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  std::fputs(w.str().c_str(), stdout);
}

// Forwards to another source, naming it as the user asked for it.
class NamedSource final : public ModelSource {
 public:
  NamedSource(std::unique_ptr<ModelSource> source, std::string description)
      : source_(std::move(source)), description_(std::move(description)) {}
  std::string describe() const override { return description_; }
  const ModelArch& arch() const override { return source_->arch(); }
  void read_rows(int table, int64_t row_begin, int64_t rows, int col_begin, int col_end, float* dst) override {
    source_->read_rows(table, row_begin, rows, col_begin, col_end, dst);
  }
  std::vector<float> read_dense(const std::string& name, const std::vector<int64_t>& shape) override {
    return source_->read_dense(name, shape);
  }

 private:
  std::unique_ptr<ModelSource> source_;
  std::string description_;
};

// Options shared by synth and import.
struct WriteArgs {
  int shards = 0;
  std::string dtype = "fp32";
  std::vector<std::string> table_dtype;
  int64_t row_cap = 0;
  std::string plan = "auto";
  int column_splits = 2;
  std::string max_shard_bytes;
  bool force = false;
  bool no_progress = false;
  bool dry_run = false;
  bool plan_only = false;
  std::string out;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--shards", shards, "number of shard files (shard ranks)")->required();
    cmd->add_option("--dtype", dtype,
                    "row storage: fp32, fp16, int8 (row-wise 8-bit codes + fp32 scale/bias) or int4 (row-wise "
                    "4-bit codes + fp16 scale/bias)")
        ->capture_default_str();
    cmd->add_option("--table-dtype", table_dtype,
                    "T=TYPE: store table T as TYPE instead of --dtype (repeat for more tables: one model may mix "
                    "fp32, fp16, int8 and int4 tables)");
    cmd->add_option("--row-cap", row_cap, "keep at most N rows of every table (0: all)")->capture_default_str();
    cmd->add_option("--plan", plan, "auto, table, row or column")->capture_default_str();
    cmd->add_option("--column-splits", column_splits, "column blocks per table for --plan column (must divide dim)")
        ->capture_default_str();
    cmd->add_option("--max-shard-bytes", max_shard_bytes,
                    "fail unless every shard fits this size (e.g. 4G = 4 GiB, 4GB = 4e9 bytes)");
    cmd->add_flag("--force", force, "replace --out if it is an existing model directory");
    cmd->add_flag("--no-progress", no_progress, "no progress bar");
    cmd->add_flag("--dry-run", dry_run, "print the plan, write nothing");
    cmd->add_flag("--plan-only", plan_only,
                  "write only manifest.json (no shard files): enough for dlrm-launch --dry-run of a model too big "
                  "to write here");
    cmd->add_option("--out", out, "model directory to write")->required();
  }

  // --table-dtype T=TYPE... as one storage type per table (empty: none given).
  std::vector<ElementType> table_dtypes(const ModelArch& arch, ElementType fallback) const {
    if (table_dtype.empty()) return {};
    std::vector<ElementType> types(static_cast<size_t>(arch.num_tables()), fallback);
    for (const std::string& item : table_dtype) {
      const size_t eq = item.find('=');
      int table = -1;
      try {
        size_t used = 0;
        table = eq == std::string::npos ? -1 : std::stoi(item.substr(0, eq), &used);
        if (used != eq) table = -1;
      } catch (const std::exception&) {
        table = -1;
      }
      DLRM_CHECK(table >= 0, "--table-dtype '{}': expected T=TYPE, a table number and a storage type (3=int4)", item);
      DLRM_CHECK(table < arch.num_tables(), "--table-dtype '{}': the model has tables 0..{}", item,
                 arch.num_tables() - 1);
      try {
        types[static_cast<size_t>(table)] = parse_storage_type(item.substr(eq + 1));
      } catch (const dlrm::Error& e) {
        DLRM_FAIL("--table-dtype '{}' (table {}): {}", item, table, e.what());
      }
    }
    return types;
  }

  // Everything about the request that can be checked before any work starts.
  WriteOptions options() const {
    WriteOptions options;
    try {
      options.plan.dtype = parse_storage_type(dtype);
    } catch (const dlrm::Error& e) {
      DLRM_FAIL("--dtype: {}", e.what());  // names the valid choices
    }
    options.plan.kind = parse_plan_kind(plan);
    options.plan.shards = shards;
    DLRM_CHECK(shards >= 1, "--shards must be at least 1, got {}", shards);
    options.plan.column_splits = column_splits;
    if (!max_shard_bytes.empty()) options.plan.max_shard_bytes = dlrm::parse_byte_size(max_shard_bytes, "--max-shard-bytes");
    DLRM_CHECK(row_cap >= 0, "--row-cap must be >= 0 (0 keeps every row), got {}", row_cap);
    options.overwrite = force;
    options.progress = !no_progress;
    if (!dry_run) check_output_dir(out, force);
    return options;
  }
};

// The manifest write() would produce, without file sizes and checksums.
Manifest planned_manifest(ModelSource& source, const WriteOptions& options, const char* producer_note) {
  Manifest manifest;
  manifest.producer = std::string("dlrm-shard " DLRM_VERSION " (") + producer_note + ")";
  manifest.source = source.describe();
  manifest.arch = source.arch();
  manifest.dtype = options.plan.dtype;
  manifest.table_dtypes = normalize_table_dtypes(options.plan.table_dtypes, options.plan.dtype);
  manifest.plan = to_string(options.plan.kind);
  manifest.shards = make_plan(manifest.arch, options.plan);
  for (auto& info : manifest.shards) info.file = fmt::format("shard-{:03d}.bin", info.shard);
  for (const auto& spec : dense_tensor_specs(manifest.arch)) {
    uint64_t count = 1;
    for (int64_t d : spec.shape) count *= static_cast<uint64_t>(d);
    manifest.dense_bytes += count * sizeof(float);
  }
  return manifest;
}

// Plans and prints what write() would write, touching no file.
int dry_run(ModelSource& source, const WriteOptions& options, const std::string& out) {
  Manifest manifest = planned_manifest(source, options, "dry run");
  print_summary(manifest, out);
  std::printf("\ndry run: nothing written to %s\n", out.c_str());
  return 0;
}

// Writes the plan alone: a model directory dlrm-launch can lay out, that
// dlrm-cluster and dlrm-shard verify refuse (its shard files are missing).
int write_plan_only(ModelSource& source, const WriteOptions& options, const std::string& out) {
  Manifest manifest = planned_manifest(source, options, "plan only: no shard files");
  dlrm::StagedDir dir(out, options.overwrite);
  save_manifest(manifest, dir.staging_path());
  dir.commit();
  print_summary(manifest, out);
  std::printf("\nplan only: wrote %s/%s, no shard files\n", out.c_str(), kManifestName);
  return 0;
}

int write(ModelSource& source, const WriteOptions& options, const WriteArgs& args) {
  const std::string& out = args.out;
  if (args.dry_run) return dry_run(source, options, out);
  if (args.plan_only) return write_plan_only(source, options, out);
  auto start = std::chrono::steady_clock::now();
  Manifest manifest = write_model(source, options, out);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t bytes = manifest.dense_bytes;
  for (const auto& info : manifest.shards) bytes += info.file_bytes;
  print_summary(manifest, out);
  std::printf("\nwrote %s: %d shard files and %s, %s in %.1f s\n", out.c_str(), manifest.num_shards(),
              manifest.dense_file.c_str(), dlrm::format_bytes(static_cast<double>(bytes)).c_str(), secs);
  return 0;
}

// dlrm-shard synth: a preset's architecture with synthetic weights.
struct SynthCommand {
  WriteArgs write_args;
  std::string preset;
  uint64_t seed = 1;

  CLI::App* add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand("synth", "write a model with deterministic synthetic weights");
    cmd->add_option("--preset", preset,
                    "architecture: terabyte-40m (MLPerf DLRM), dlrm-v2 (MLPerf DLRM-v2: DCNv2 cross network, "
                    "multi-hot), or their small versions small and small-v2")
        ->required();
    cmd->add_option("--seed", seed, "generator seed")->capture_default_str();
    write_args.add_to(cmd);
    return cmd;
  }
  int run() const {
    WriteOptions options = write_args.options();
    ModelArch arch = make_preset(preset, write_args.row_cap);
    options.plan.table_dtypes = write_args.table_dtypes(arch, options.plan.dtype);
    std::string description = fmt::format("synth preset={}{} seed={}", preset,
                                          write_args.row_cap > 0 ? fmt::format(" row_cap={}", write_args.row_cap) : "",
                                          seed);
    NamedSource source(make_synth_source(arch, seed), description);
    return write(source, options, write_args);
  }
};

// dlrm-shard import: a trained model's weights (open_import_source).
struct ImportCommand {
  WriteArgs write_args;
  std::string from;
  std::string hotness;

  CLI::App* add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "import", "shard a trained model: a PyTorch state_dict (.pt, .pth), an ONNX model (.onnx) or a directory of "
                  "KEY.npy files; DLRM (emb_l/bot_l/top_l) or DLRM-v2's DLRM_DCN (TorchRec or Intel key names)");
    cmd->add_option("--from", from, "checkpoint to import")->required();
    cmd->add_option("--hotness", hotness,
                    "lookups per pair of each table, recorded in the manifest (a checkpoint does not say): dlrm-v2 "
                    "(DLRM-v2's multi-hot counts, 26 tables) or a comma list, one per table (default: one each)");
    write_args.add_to(cmd);
    return cmd;
  }
  int run() const {
    WriteOptions options = write_args.options();
    auto source = open_import_source(from, write_args.row_cap, hotness);
    options.plan.table_dtypes = write_args.table_dtypes(source->arch(), options.plan.dtype);
    return write(*source, options, write_args);
  }
};

// dlrm-shard inspect: a model's summary table or JSON.
struct InspectCommand {
  std::string dir;
  bool json = false;

  CLI::App* add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand("inspect", "print a model's plan and architecture");
    cmd->add_option("dir", dir, "model directory")->required();
    cmd->add_flag("--json", json, "machine-readable output");
    return cmd;
  }
  int run() const {
    Manifest manifest = load_manifest(dir);
    if (json) {
      print_json(manifest, dir);
    } else {
      print_summary(manifest, dir);
    }
    return 0;
  }
};

// dlrm-shard verify: every file's size, header and checksum.
struct VerifyCommand {
  std::string dir;
  bool no_progress = false;

  CLI::App* add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand("verify", "check every file of a model (sizes, headers, checksums)");
    cmd->add_option("dir", dir, "model directory")->required();
    cmd->add_flag("--no-progress", no_progress, "no progress bar");
    return cmd;
  }
  int run() const {
    auto start = std::chrono::steady_clock::now();
    VerifyResult result = verify_model(dir, !no_progress);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("OK %s: %d files, %s checked in %.1f s (%s/s)\n", dir.c_str(), result.files,
                dlrm::format_bytes(static_cast<double>(result.bytes_checked)).c_str(), secs,
                dlrm::format_bytes(secs > 0 ? result.bytes_checked / secs : 0.0).c_str());
    return 0;
  }
};

// dlrm-shard calibrate: the MLPs' activation ranges for int8 serving.
struct CalibrateCommand {
  dlrm::reference::CalibrateOptions options;
  std::string method = "mse";  // best AUC in tests/cluster_mpi/quantized.sh (0.05% loss vs 0.11% for max)

  CLI::App* add_to(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "calibrate", "record the MLPs' activation ranges on sample data for int8 serving (writes calibration.json)");
    cmd->add_option("--model", options.model, "model directory")->required();
    cmd->add_option("--data", options.data, "calibration samples (MLPerf binary layout, .npz accuracy data, or dlrm-v2 multi-hot files)")->required();
    cmd->add_option("--samples", options.samples, "use the first N samples")->capture_default_str();
    cmd->add_option("--method", method, "clip at the max |x|, a percentile of |x|, or least squared error")
        ->check(CLI::IsMember({"max", "percentile", "mse"}))
        ->capture_default_str();
    cmd->add_flag("--fold-indices", options.fold_indices, "map out-of-range indices modulo the table size");
    return cmd;
  }
  int run() {
    options.calibrator.method = method == "max"          ? dlrm::dense::RangeMethod::kMax
                                : method == "percentile" ? dlrm::dense::RangeMethod::kPercentile
                                                         : dlrm::dense::RangeMethod::kMse;
    dlrm::reference::calibrate_model(options);
    return 0;
  }
};

}  // namespace

int main(int argc, char** argv) {
  dlrm::init_logging("dlrm-shard");
  dlrm::install_interrupt_handler();

  CLI::App app{"dlrm-shard: plan, write, inspect, verify, calibrate and tune sharded DLRM models"};
  app.set_version_flag("--version", "dlrm-shard " DLRM_VERSION);
  app.require_subcommand(1);
  SynthCommand synth;
  ImportCommand import;
  InspectCommand inspect;
  VerifyCommand verify;
  CalibrateCommand calibrate;
  TunePrecisionCommand tune;
  CLI::App* synth_cmd = synth.add_to(app);
  CLI::App* import_cmd = import.add_to(app);
  CLI::App* inspect_cmd = inspect.add_to(app);
  CLI::App* verify_cmd = verify.add_to(app);
  CLI::App* calibrate_cmd = calibrate.add_to(app);
  CLI::App* tune_cmd = tune.add_to(app);

  try {
    app.parse(argc, argv);
    if (*calibrate_cmd) return calibrate.run();
    if (*tune_cmd) return tune.run();
    if (*synth_cmd) return synth.run();
    if (*import_cmd) return import.run();
    if (*inspect_cmd) return inspect.run();
    if (*verify_cmd) return verify.run();
    return 0;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    return dlrm::report_fatal(e);
  }
}
