#include "dlrm/precision/evaluator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "dlrm/common/error.h"
#include "dlrm/common/stats.h"
#include "dlrm/datasets/open.h"
#include "dlrm/dense/model_mlps.h"
#include "dlrm/model/row_codec.h"
#include "dlrm/reference/calibrate.h"
#include "dlrm/reference/reference_model.h"
#include "dlrm/sharding/source.h"

namespace fs = std::filesystem;

namespace dlrm::precision {

namespace {

// One table stored as one type: a block of encoded rows per column range.
struct EncodedTable {
  bool storable = true;
  std::vector<std::vector<uint8_t>> blocks;
  std::vector<reference::ReferenceModel::ColumnBlock> views;
};

// The column ranges the model's plan cuts table t into (one for row and table plans).
std::vector<std::pair<int, int>> column_blocks(const model::Manifest& manifest, int table) {
  std::set<int> edges = {0, manifest.arch.dim};
  for (const model::ShardInfo& info : manifest.shards) {
    for (const model::Slice& slice : info.slices) {
      if (slice.table != table) continue;
      edges.insert(slice.col_begin);
      edges.insert(slice.col_end);
    }
  }
  std::vector<std::pair<int, int>> blocks;
  for (auto it = edges.begin(); std::next(it) != edges.end(); ++it) blocks.push_back({*it, *std::next(it)});
  return blocks;
}

}  // namespace

struct PrecisionEvaluator::Impl {
  EvaluatorOptions options;
  std::optional<reference::ReferenceModel> model;
  std::unique_ptr<sharding::ModelSource> source;  // fp32 rows of the model
  std::optional<datasets::SampleData> held;
  std::vector<int32_t> labels;
  std::vector<float> predictions;
  double fp32_auc = 0.0;
  dense::ModelCalibration calibration;
  std::string calibration_source;
  std::map<std::pair<int, ElementType>, EncodedTable> encoded;
  std::vector<std::vector<std::pair<int, int>>> blocks;  // per table
  std::optional<dense::Fp32Layers> mlps_in_use;           // what the model's MLPs are now
  bool int8_in_use = false;
  int evaluations = 0;

  const datasets::Dataset& data() const { return held->data(); }
  EncodedTable& table(int t, ElementType type);
  void use_mlps(const std::optional<dense::Fp32Layers>& int8);
  double run();
};

EncodedTable& PrecisionEvaluator::Impl::table(int t, ElementType type) {
  auto it = encoded.find({t, type});
  if (it != encoded.end()) return it->second;
  EncodedTable& e = encoded[{t, type}];
  const int64_t rows = model->manifest().arch.table_rows[t];
  std::vector<float> values;
  for (const auto& [c0, c1] : blocks[t]) {
    const int cols = c1 - c0;
    values.resize(static_cast<size_t>(rows) * cols);
    source->read_rows(t, 0, rows, c0, c1, values.data());
    const uint64_t stride = model::row_stride(type, cols);
    std::vector<uint8_t> bytes(stride * static_cast<uint64_t>(rows), 0);
    if (model::encode_rows(type, values.data(), rows, cols, bytes.data()).bad_rows > 0) {
      e.storable = false;
      e.blocks.clear();
      e.views.clear();
      return e;
    }
    e.blocks.push_back(std::move(bytes));
    e.views.push_back({c0, model::RowsView{e.blocks.back().data(), stride, rows, cols, type}});
  }
  return e;
}

void PrecisionEvaluator::Impl::use_mlps(const std::optional<dense::Fp32Layers>& int8) {
  const bool want_int8 = int8.has_value();
  if (want_int8 == int8_in_use && (!want_int8 || (mlps_in_use->bottom == int8->bottom &&
                                                  mlps_in_use->top == int8->top && mlps_in_use->cross == int8->cross))) {
    return;
  }
  dense::DenseLayers layers{model->bottom_layers(), model->top_layers(), model->cross_layers()};
  dense::ModelCalibration with_layers = calibration;
  with_layers.fp32_layers = int8;
  model->use_mlps(dense::DenseMlps(std::move(layers), want_int8 ? ElementType::kInt8 : ElementType::kFp32,
                                   &with_layers, calibration_source));
  int8_in_use = want_int8;
  mlps_in_use = int8;
}

double PrecisionEvaluator::Impl::run() {
  const int64_t n = static_cast<int64_t>(labels.size());
  model->predict(data(), 0, n, predictions.data(), options.fold_indices);
  ++evaluations;
  return roc_auc(predictions.data(), labels.data(), n);
}

PrecisionEvaluator::PrecisionEvaluator(const EvaluatorOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = options;
  m.model.emplace(reference::ReferenceModel::load(options.model, reference::Kernels::kFast, /*verify=*/true));
  const model::Manifest& manifest = m.model->manifest();
  DLRM_CHECK(manifest.all_fp32(),
             "model {} stores its tables as {}; tune-precision starts from the fp32 model (the losses are measured "
             "against it): give the fp32 model directory",
             options.model.string(), manifest.storage_summary());
  m.source = sharding::open_model_dir_source(options.model, /*verify=*/false);  // checked just above
  for (int t = 0; t < manifest.arch.num_tables(); ++t) m.blocks.push_back(column_blocks(manifest, t));

  const model::ModelArch& arch = manifest.arch;
  const datasets::DataShape shape{arch.dense_features, arch.num_tables(), arch.hotness};
  const int64_t total = datasets::count_samples(options.data, shape);
  const int64_t n = options.samples > 0 ? std::min(options.samples, total) : total;
  DLRM_CHECK(n > 0, "data {} holds no samples", options.data.string());
  m.held.emplace(datasets::open_samples(options.data, shape, 0, n));
  m.labels.resize(static_cast<size_t>(n));
  int64_t positives = 0;
  for (int64_t i = 0; i < n; ++i) {
    m.labels[i] = m.data().label(i);
    positives += m.labels[i] != 0 ? 1 : 0;
  }
  DLRM_CHECK(positives > 0 && positives < n,
             "data {}: all {} labels of the samples used are {}; the AUC needs both classes (0 and 1): give labelled "
             "data (dlrm-data synth plants labels from a model)",
             options.data.string(), n, positives > 0 ? 1 : 0);
  m.predictions.resize(static_cast<size_t>(n));

  const fs::path cal_path = dense::calibration_path(options.model);
  if (fs::exists(cal_path)) {
    m.calibration = dense::load_calibration(cal_path);
    m.calibration.fp32_layers.reset();
    m.calibration_source = cal_path.string();
  } else {
    const int64_t cal_n = std::min(options.calibration_samples, n);
    m.calibration = reference::calibrate(*m.model, m.data(), cal_n, dense::CalibratorOptions{.method = dense::RangeMethod::kMse},
                                         options.fold_indices);
    m.calibration_source = fmt::format("{} samples of {}", cal_n, options.data.string());
  }
  m.fp32_auc = m.run();
  DLRM_CHECK(std::isfinite(m.fp32_auc) && m.fp32_auc > 0.0, "data {}: the fp32 model's AUC is {}",
             options.data.string(), m.fp32_auc);
}

PrecisionEvaluator::~PrecisionEvaluator() = default;

const model::Manifest& PrecisionEvaluator::manifest() const { return impl_->model->manifest(); }
int64_t PrecisionEvaluator::samples() const { return static_cast<int64_t>(impl_->labels.size()); }
double PrecisionEvaluator::fp32_auc() const { return impl_->fp32_auc; }
const std::string& PrecisionEvaluator::calibration_source() const { return impl_->calibration_source; }
const dense::ModelCalibration& PrecisionEvaluator::calibration() const { return impl_->calibration; }
int PrecisionEvaluator::evaluations() const { return impl_->evaluations; }

bool PrecisionEvaluator::storable(int table, ElementType type) { return impl_->table(table, type).storable; }

double PrecisionEvaluator::auc(const PrecisionConfig& config) {
  Impl& m = *impl_;
  const int tables = manifest().arch.num_tables();
  DLRM_CHECK(config.tables.size() == static_cast<size_t>(tables), "a precision config of {} tables for {}",
             config.tables.size(), tables);
  for (int t = 0; t < tables; ++t) {
    const EncodedTable& e = m.table(t, config.tables[t]);
    DLRM_CHECK(e.storable, "table {} cannot be stored as {}", t, to_string(config.tables[t]));
    m.model->replace_table(t, e.views);
  }
  m.use_mlps(config.int8_mlp);
  return m.run();
}

uint64_t PrecisionEvaluator::embedding_bytes(const std::vector<ElementType>& tables) const {
  const model::ModelArch& arch = manifest().arch;
  uint64_t bytes = 0;
  for (int t = 0; t < arch.num_tables(); ++t) {
    for (const auto& [c0, c1] : impl_->blocks[t]) {
      bytes += static_cast<uint64_t>(arch.table_rows[t]) * model::row_stride(tables[t], c1 - c0);
    }
  }
  return bytes;
}

}  // namespace dlrm::precision
