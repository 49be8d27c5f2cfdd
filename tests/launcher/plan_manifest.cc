// dlrm-plan-manifest: writes only manifest.json of a planned model (no shard
// files), so dlrm-launch --dry-run can lay out models too big to write here.
//   dlrm-plan-manifest --preset terabyte-40m --shards 4 [--plan auto] [--row-cap N] --out DIR
// (A test and documentation helper; `dlrm-shard synth --plan-only` would be its home.)
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "dlrm/common/error.h"
#include "dlrm/common/log.h"
#include "dlrm/common/progress.h"
#include "dlrm/shard/model.h"
#include "dlrm/shard/plan.h"

using namespace dlrm::shard;

int main(int argc, char** argv) {
  dlrm::init_logging("dlrm-plan-manifest");
  std::string preset, plan = "auto", dtype = "fp32", out;
  int shards = 0;
  int64_t row_cap = 0;
  CLI::App app{"write manifest.json of a planned model without its shard files (for dlrm-launch --dry-run)"};
  app.add_option("--preset", preset, "terabyte-40m or small")->required();
  app.add_option("--shards", shards, "shard count")->required();
  app.add_option("--plan", plan, "auto, table, row or column")->capture_default_str();
  app.add_option("--dtype", dtype, "row storage type")->capture_default_str();
  app.add_option("--row-cap", row_cap, "cap every table at N rows (0: none)")->capture_default_str();
  app.add_option("--out", out, "directory to write manifest.json into")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    Manifest manifest;
    manifest.producer = "dlrm-plan-manifest (plan only: no shard files)";
    manifest.source = "synth preset=" + preset + " (plan only)";
    manifest.arch = make_preset(preset, row_cap);
    manifest.dtype = parse_storage_type(dtype);
    manifest.plan = plan;
    PlanOptions options;
    options.kind = parse_plan_kind(plan);
    options.shards = shards;
    options.dtype = manifest.dtype;
    manifest.shards = make_plan(manifest.arch, options);
    for (auto& info : manifest.shards) info.file = fmt::format("shard-{:03d}.bin", info.shard);
    // fp32 MLP weights and biases: what dense.bin holds (its small header aside).
    uint64_t params = 0;
    int in = manifest.arch.dense_features;
    for (int width : manifest.arch.bottom_mlp) params += static_cast<uint64_t>(in + 1) * width, in = width;
    in = manifest.arch.top_input_width();
    for (int width : manifest.arch.top_mlp) params += static_cast<uint64_t>(in + 1) * width, in = width;
    manifest.dense_bytes = params * 4;
    std::filesystem::create_directories(out);
    save_manifest(manifest, out);
    uint64_t total = 0;
    for (const auto& info : manifest.shards) total += info.embedding_bytes;
    std::printf("wrote %s/manifest.json: %s, %d shards, %s of %s embeddings (plan only, no shard files)\n",
                out.c_str(), preset.c_str(), manifest.num_shards(), dlrm::format_bytes(total).c_str(), dtype.c_str());
  } catch (const std::exception& e) {
    return dlrm::report_fatal(e);
  }
  return 0;
}
