#include "dlrm/precision/tune.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/json.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/common/stats.h"
#include "dlrm/datasets/open.h"
#include "dlrm/reference/reference_model.h"
#include "dlrm/sharding/model_writer.h"
#include "dlrm/sharding/source.h"

namespace fs = std::filesystem;

namespace dlrm::precision {

namespace {

// The storage type most tables use (the manifest's default "dtype").
ElementType most_common(const std::vector<ElementType>& tables) {
  std::map<ElementType, int> count;
  for (ElementType type : tables) ++count[type];
  return std::max_element(count.begin(), count.end(), [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

// The fp32 model re-written with the chosen table types: same shards, plan
// kind and column splits, so every table is cut (and encoded) as evaluated.
void write_tuned_model(const fs::path& fp32_model, const model::Manifest& manifest, const PrecisionConfig& config,
                       const fs::path& dir) {
  sharding::WriteOptions options;
  options.plan.kind = sharding::parse_plan_kind(manifest.plan);
  options.plan.shards = manifest.num_shards();
  options.plan.dtype = most_common(config.tables);
  options.plan.table_dtypes = config.tables;
  if (options.plan.kind == sharding::PlanKind::kColumn) {
    options.plan.column_splits = manifest.arch.dim / manifest.shards.front().slices.front().cols();
  }
  options.progress = false;
  auto source = sharding::open_model_dir_source(fp32_model, /*verify=*/false);
  sharding::write_model_into(*source, options, dir);
}

// AUC of the model written in `dir`, read back from its files as dlrm-reference reads it.
double written_auc(const fs::path& dir, const EvaluatorOptions& options, int64_t n, bool int8_mlp) {
  auto model = reference::ReferenceModel::load(dir, reference::Kernels::kFast, /*verify=*/true,
                                               int8_mlp ? ElementType::kInt8 : ElementType::kFp32);
  const model::ModelArch& arch = model.manifest().arch;
  const datasets::SampleData held =
      datasets::open_samples(options.data, datasets::DataShape{arch.dense_features, arch.num_tables(), arch.hotness},
                             0, n);
  std::vector<float> predictions(static_cast<size_t>(n));
  std::vector<int32_t> labels(static_cast<size_t>(n));
  model.predict(held.data(), 0, n, predictions.data(), options.fold_indices);
  for (int64_t i = 0; i < n; ++i) labels[i] = held.data().label(i);
  return roc_auc(predictions.data(), labels.data(), n);
}

void write_trials_csv(const std::vector<Trial>& trials, const fs::path& path) {
  std::string text = "trial,stage,change,tables,mlp,embedding_bytes,auc,relative_loss,within_budget,accepted\n";
  for (const Trial& t : trials) {
    text += fmt::format("{},{},{},{},{},{},{:.9f},{:.6e},{},{}\n", t.index, csv_field(t.stage), csv_field(t.change),
                        csv_field(describe_tables(t.config.tables)), csv_field(describe_mlp(t.config.int8_mlp)),
                        t.embedding_bytes, t.auc, t.loss, t.within_budget ? 1 : 0, t.accepted ? 1 : 0);
  }
  write_text_file(path, text);
}

void write_config(JsonWriter& w, const PrecisionConfig& config) {
  std::vector<std::string> tables;
  for (ElementType type : config.tables) tables.push_back(to_string(type));
  w.field("table_dtypes", tables);
  w.field("mlp", config.int8_mlp ? "int8" : "fp32");
  if (config.int8_mlp) {
    w.begin_object("fp32_layers");
    w.field("bottom", config.int8_mlp->bottom);
    w.field("top", config.int8_mlp->top);
    w.field("cross", config.int8_mlp->cross);
    w.end_object();
  }
}

void write_tried_json(const TuneReport& r, const TuneOptions& options, const fs::path& path) {
  JsonWriter w({.indent = 2, .inline_vectors = true});
  w.begin_object();
  w.field("model", options.evaluator.model.string());
  w.field("data", options.evaluator.data.string());
  w.field("samples", r.samples);
  w.field("auc_budget", options.search.budget);
  w.field("objective", to_string(options.search.objective));
  w.field("calibration", r.calibration_source);
  w.field("fp32_auc", r.fp32_auc);
  w.begin_object("result");
  write_config(w, r.search.config);
  w.field("auc", r.written_auc);
  w.field("relative_loss", r.written_loss);
  w.field("fp32_bytes", r.fp32_bytes);
  w.field("uniform_int8_bytes", r.int8_bytes);
  w.field("embedding_bytes", r.tuned_bytes);
  std::vector<int> needed;
  for (const auto& [t, loss] : r.search.fp32_needed) needed.push_back(t);
  w.field("tables_kept_fp32", needed);
  w.field("truncated", r.search.truncated);
  w.end_object();
  w.begin_array("trials");
  for (const Trial& t : r.search.trials) {
    w.begin_object();
    w.field("trial", t.index);
    w.field("stage", t.stage);
    w.field("change", t.change);
    write_config(w, t.config);
    w.field("embedding_bytes", t.embedding_bytes);
    w.field("auc", t.auc);
    w.field("relative_loss", t.loss);
    w.field("within_budget", t.within_budget);
    w.field("accepted", t.accepted);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  write_text_file(path, w.str());
}

// Nothing lowered at all: the budget is met by no precision but fp32.
void check_something_lowered(const SearchResult& s, const TuneOptions& options) {
  const bool lowered = s.config.int8_mlp.has_value() ||
                       std::any_of(s.config.tables.begin(), s.config.tables.end(),
                                   [](ElementType t) { return t != ElementType::kFp32; });
  if (lowered) return;
  std::vector<std::pair<int, double>> closest = s.fp32_needed;
  std::sort(closest.begin(), closest.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  std::string list;
  for (size_t k = 0; k < closest.size() && k < 5; ++k) {
    list += fmt::format("{}t{} {:.2e}", k ? ", " : "", closest[k].first, closest[k].second);
  }
  const std::string within =
      s.truncated ? fmt::format(" within the {} evaluations of --max-evaluations", options.search.max_evaluations) : "";
  DLRM_FAIL("no precision mix meets --auc-budget {}{}: no table lowered to fp16, int8 or int4 and no int8 MLP layer "
            "stays within it (smallest table losses: {}); the model would stay fp32, so nothing was written to {}; "
            "raise --auc-budget{}",
            options.search.budget, within, list.empty() ? "none measured" : list, options.out.string(),
            s.truncated ? " or --max-evaluations" : " or give more samples");
}

}  // namespace

TuneReport tune_precision(const TuneOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  sharding::check_output_dir(options.out, options.force);
  PrecisionEvaluator evaluator(options.evaluator);
  TuneReport r;
  r.samples = evaluator.samples();
  r.fp32_auc = evaluator.fp32_auc();
  r.calibration_source = evaluator.calibration_source();
  const int tables = evaluator.manifest().arch.num_tables();
  r.fp32_bytes = evaluator.embedding_bytes(std::vector<ElementType>(tables, ElementType::kFp32));
  r.int8_bytes = evaluator.embedding_bytes(std::vector<ElementType>(tables, ElementType::kInt8));
  spdlog::info("tune-precision: {} samples of {}, fp32 AUC {:.6f}, budget {} (relative), objective {}", r.samples,
               options.evaluator.data.string(), r.fp32_auc, options.search.budget,
               to_string(options.search.objective));
  r.search = search_precision(evaluator, options.search);
  check_something_lowered(r.search, options);
  r.tuned_bytes = evaluator.embedding_bytes(r.search.config.tables);

  StagedDir out(options.out, options.force);
  write_tuned_model(options.evaluator.model, evaluator.manifest(), r.search.config, out.staging_path());
  if (r.search.config.int8_mlp) {
    dense::ModelCalibration calibration = evaluator.calibration();
    calibration.fp32_layers = r.search.config.int8_mlp;
    dense::save_calibration(calibration, dense::calibration_path(out.staging_path()));
  }
  r.written_auc = written_auc(out.staging_path(), options.evaluator, r.samples, r.search.config.int8_mlp.has_value());
  r.written_loss = 1.0 - r.written_auc / r.fp32_auc;
  DLRM_CHECK(r.written_loss <= options.search.budget,
             "the written model loses {:.3e} of the AUC, over the budget {} the search measured it within ({:.3e}); "
             "nothing was written to {}",
             r.written_loss, options.search.budget, r.search.loss, options.out.string());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_trials_csv(r.search.trials, out.staging_path() / "tried.csv");
  write_tried_json(r, options, out.staging_path() / "tried.json");
  check_interrupted();
  out.commit();
  return r;
}

std::string trials_table(const std::vector<Trial>& trials) {
  std::string out = fmt::format("{:>5}  {:<20}  {:<26}  {:>12}  {:>9}  {:>10}  {}\n", "trial", "stage", "change",
                                "emb. bytes", "AUC", "loss", "");
  for (const Trial& t : trials) {
    out += fmt::format("{:>5}  {:<20}  {:<26}  {:>12}  {:.6f}  {:>+10.2e}  {}\n", t.index, t.stage, t.change,
                       format_bytes(static_cast<double>(t.embedding_bytes)), t.auc, t.loss,
                       t.accepted ? "accepted" : (t.within_budget ? "" : "over budget"));
  }
  return out;
}

std::string report_summary(const TuneReport& r, const TuneOptions& options) {
  std::string out;
  out += fmt::format("tables     {}\n", describe_tables(r.search.config.tables));
  out += fmt::format("mlp        {}{}\n", describe_mlp(r.search.config.int8_mlp),
                     r.search.config.int8_mlp ? " (serve with --mlp int8)" : "");
  out += fmt::format("bytes      {} of embeddings: {:.3f} of fp32 ({}), {:.3f} of uniform int8 ({})\n",
                     format_bytes(static_cast<double>(r.tuned_bytes)),
                     static_cast<double>(r.tuned_bytes) / static_cast<double>(r.fp32_bytes),
                     format_bytes(static_cast<double>(r.fp32_bytes)),
                     static_cast<double>(r.tuned_bytes) / static_cast<double>(r.int8_bytes),
                     format_bytes(static_cast<double>(r.int8_bytes)));
  out += fmt::format("accuracy   AUC {:.6f} vs fp32 {:.6f} on {} samples: relative loss {:.3e} (budget {})\n",
                     r.written_auc, r.fp32_auc, r.samples, r.written_loss, options.search.budget);
  if (!r.search.fp32_needed.empty()) {
    std::string list;
    for (const auto& [t, loss] : r.search.fp32_needed) list += fmt::format("{}t{} ({:.2e})", list.empty() ? "" : ", ", t, loss);
    out += fmt::format("kept fp32  tables that lose more than the budget alone in every lower type (smallest loss): "
                       "{}\n", list);
  }
  if (r.search.truncated) out += "note       the search stopped at --max-evaluations; more would try further\n";
  out += fmt::format("search     {} evaluations in {:.1f} s; wrote {} (tried.csv, tried.json)\n",
                     r.search.trials.size(), r.seconds, options.out.string());
  return out;
}

}  // namespace dlrm::precision
