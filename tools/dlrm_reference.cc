// dlrm-reference: a whole model's predictions in one process, the oracle the
// cluster is checked against.
//
//   dlrm-reference --model DIR --data FILE --out REF.npy [--kernels ref|fast]
//                  [--mlp fp32|int8] [--fold-indices] [--limit N] [--no-verify]
//
// Writes float32 predictions [N] (after the sigmoid) as .npy, staged and
// renamed when complete; logs samples/s and the AUC when labels hold both classes.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/open.h"
#include "dlrm/common/stats.h"
#include "dlrm/reference/reference_model.h"
#include "dlrm/common/error.h"
#include "dlrm/common/log.h"
#include "dlrm/common/npy.h"
#include "dlrm/common/progress.h"

namespace fs = std::filesystem;
using namespace dlrm;
using namespace dlrm::datasets;
using namespace dlrm::reference;

namespace {

constexpr int64_t kStepSamples = 8192;  // samples per predict() call between progress updates

struct Args {
  fs::path model;
  fs::path data;
  fs::path out;
  std::string kernels = "ref";
  std::string mlp = "fp32";
  bool fold_indices = false;
  int64_t limit = 0;
  bool verify = true;
};

void run(const Args& args) {
  std::error_code ec;
  DLRM_CHECK(!fs::is_directory(args.out, ec), "--out {} is a directory; give a .npy file name", args.out.string());
  // The predictions are written at the end; find a bad --out before the run.
  const fs::path out_dir = args.out.has_parent_path() ? args.out.parent_path() : fs::path(".");
  DLRM_CHECK(fs::is_directory(out_dir, ec) && ::access(out_dir.c_str(), W_OK) == 0,
             "cannot write --out {}: directory {} does not exist or is not writable", args.out.string(),
             out_dir.string());
  const ElementType mlp = args.mlp == "int8" ? ElementType::kInt8 : ElementType::kFp32;
  // int8 MLPs run on oneDNN (as dlrm-cluster --mlp int8 serves them).
  const Kernels kernels = args.kernels == "fast" || mlp == ElementType::kInt8 ? Kernels::kFast : Kernels::kRef;

  ReferenceModel model = ReferenceModel::load(args.model, kernels, args.verify, mlp);
  const model::ModelArch& arch = model.manifest().arch;
  const DataShape shape{arch.dense_features, arch.num_tables(), arch.hotness};
  int64_t n = count_samples(args.data, shape);
  if (args.limit > 0 && args.limit < n) {
    n = args.limit;
  } else if (args.limit > n) {
    spdlog::info("--limit {} is more than the {} samples in {}; predicting all of them", args.limit, n,
                 args.data.string());
  }
  // Only the samples predicted are read (mapped, or read from an .npz).
  const SampleData held = open_samples(args.data, shape, 0, n);
  const Dataset& data = held.data();
  spdlog::info("predicting {} samples of {} with model {} ({} tables, {} shards, {} tables, {} kernels, {} MLPs{})", n,
               args.data.string(), args.model.string(), arch.num_tables(), model.manifest().num_shards(),
               model.manifest().storage_summary(), kernels == Kernels::kFast ? "fast" : "ref", args.mlp,
               args.fold_indices ? ", indices folded modulo table rows" : "");

  std::vector<float> predictions(static_cast<size_t>(n));
  Progress progress("predict", static_cast<uint64_t>(n), "samples");
  const auto start = std::chrono::steady_clock::now();
  for (int64_t begin = 0; begin < n; begin += kStepSamples) {
    const int64_t count = std::min(kStepSamples, n - begin);
    data.prefetch(begin + count, kStepSamples);
    model.predict(data, begin, count, predictions.data() + begin, args.fold_indices);
    progress.add(static_cast<uint64_t>(count));
  }
  progress.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[i] = data.label(i);
  const double auc = roc_auc(predictions.data(), labels.data(), n);

  write_npy_f32(args.out, predictions.data(), {n});
  spdlog::info("wrote {}: {} predictions in {:.2f}s ({:.0f} samples/s)", args.out.string(), n, secs,
               n / std::max(secs, 1e-9));
  if (std::isnan(auc)) {
    spdlog::info("AUC not computed: the labels of these samples are all of one class");
  } else {
    spdlog::info("AUC {:.6f}", auc);
  }
}

}  // namespace

int main(int argc, char** argv) {
  init_logging("dlrm-reference");
  install_interrupt_handler();
  CLI::App app{"dlrm-reference: single-process reference predictions of a dlrm-cluster model"};
  Args args;
  bool no_verify = false;
  app.add_option("--model", args.model, "model directory (dlrm-shard output)")->required();
  app.add_option("--data", args.data,
                 "samples: MLPerf binary layout (dlrm-data), an .npz of accuracy data, or dlrm-v2 multi-hot data (a "
                 "directory or day_N prefix)")
      ->required();
  app.add_option("--out", args.out, "output predictions, float32 .npy [N]")->required();
  app.add_option("--kernels", args.kernels, "ref: plain scalar kernels; fast: oneDNN MLPs and fast interaction")
      ->check(CLI::IsMember({"ref", "fast"}))
      ->capture_default_str();
  app.add_option("--mlp", args.mlp,
                 "MLP precision: fp32, or int8 as dlrm-cluster --mlp int8 serves it (calibration.json of the model; "
                 "implies --kernels fast)")
      ->check(CLI::IsMember({"fp32", "int8"}))
      ->capture_default_str();
  app.add_flag("--fold-indices", args.fold_indices, "map indices outside a table to index mod rows");
  app.add_option("--limit", args.limit, "predict only the first N samples");
  app.add_flag("--no-verify", no_verify, "skip recomputing the shard files' checksums");
  try {
    app.parse(argc, argv);
    args.verify = !no_verify;
    DLRM_CHECK(app.count("--limit") == 0 || args.limit > 0, "--limit must be positive, got {}", args.limit);
    run(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    return report_fatal(e);
  }
  return 0;
}
