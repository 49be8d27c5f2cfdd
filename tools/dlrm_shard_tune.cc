#include "dlrm_shard_tune.h"

#include <cstdio>

#include "dlrm/common/error.h"

CLI::App* TunePrecisionCommand::add_to(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "tune-precision",
      "choose a storage type per table (fp32, fp16, int8, int4) and int8 MLP layers with per-layer fp32 fallback so "
      "that the AUC loss against the fp32 model on labelled data stays within a budget; writes the mixed model");
  cmd->add_option("--model", options.evaluator.model, "the fp32 model directory")->required();
  cmd->add_option("--data", options.evaluator.data,
                  "labelled samples, both classes (MLPerf binary layout, .npz accuracy data, or dlrm-v2 multi-hot "
                  "files)")
      ->required();
  cmd->add_option("--auc-budget", options.search.budget,
                  "largest relative AUC loss against fp32, 1 - AUC / AUC_fp32 (0.001: MLPerf's 99.9% target)")
      ->capture_default_str();
  cmd->add_option("--objective", objective,
                  "bytes: tables first (the budget goes to smaller tables); speed: int8 MLP layers first")
      ->check(CLI::IsMember({"bytes", "speed"}))
      ->capture_default_str();
  cmd->add_option("--samples", options.evaluator.samples, "evaluate on the first N samples (0: all)")
      ->capture_default_str();
  cmd->add_option("--calibration-samples", options.evaluator.calibration_samples,
                  "int8 ranges from the first N samples when the model has no calibration.json")
      ->capture_default_str();
  cmd->add_option("--max-evaluations", options.search.max_evaluations, "stop the search after N evaluations")
      ->capture_default_str();
  cmd->add_flag("--fold-indices", options.evaluator.fold_indices, "map out-of-range indices modulo the table size");
  cmd->add_flag("--force", options.force, "replace --out if it is an existing model directory");
  cmd->add_option("--out", options.out, "the mixed model directory to write")->required();
  return cmd;
}

int TunePrecisionCommand::run() {
  options.search.objective = dlrm::precision::parse_objective(objective);
  DLRM_CHECK(options.evaluator.samples >= 0, "--samples must be >= 0 (0: all), got {}", options.evaluator.samples);
  const dlrm::precision::TuneReport report = dlrm::precision::tune_precision(options);
  std::printf("%s\n%s", dlrm::precision::trials_table(report.search.trials).c_str(),
              dlrm::precision::report_summary(report, options).c_str());
  return 0;
}
