// dlrm-data: input samples for a model: MLPerf binary records, or for a
// multi-hot (dlrm-v2) model MLPerf's preprocessed multi-hot layout.
//
//   dlrm-data synth --model DIR --samples N [--seed S] [--zipf A] [--label-sharpness K] [--labels model|coin] --out OUT
//   dlrm-data info FILE --model DIR
//   dlrm-data convert --from day_N[.gz] --out FILE [--max-ind-range N] [--dict FILE] [--strict]
//   dlrm-data convert --from DATA.npz --out FILE [--reference-out REF.npy]      (see dlrm/datasets/criteo.h)
//
// synth writes N samples whose indices follow a Zipf law per table and whose
// labels are drawn from the model's own predictions, so the model scores well
// above chance on them (AUC is logged). A model without hotness gets records
// (OUT is a file); a model with hotness gets OUT_dense.npy (float32 [N, F],
// log(x + 3) of the record synth's counts), OUT_sparse_multi_hot.npz (stored
// entries "0".."T-1", int32 [N, h_t], each index a separate Zipf draw) and
// OUT_labels.npy (int32 [N, 1]); OUT is a prefix, or a directory for
// DIR/day_0_* (multi_hot_writer.h). Output is staged and renamed when
// complete; Ctrl-C or an error leaves nothing behind.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dlrm/datasets/criteo.h"
#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/multi_hot_writer.h"
#include "dlrm/datasets/open.h"
#include "dlrm/model/manifest.h"
#include "dlrm/common/stats.h"
#include "dlrm/reference/reference_model.h"
#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/log.h"
#include "dlrm/common/progress.h"
#include "dlrm/common/staged_output.h"

namespace fs = std::filesystem;
using namespace dlrm;
using namespace dlrm::datasets;
using namespace dlrm::reference;

namespace {

constexpr int64_t kPilotSamples = 4096;     // samples whose logits set the label scale
constexpr int64_t kAucSamples = 1 << 20;    // samples kept for the AUC log line (8 MB)

struct SynthArgs {
  fs::path model;
  int64_t samples = 0;
  uint64_t seed = 1;
  double zipf = 1.05;
  double label_sharpness = 3.0;
  fs::path out;
  std::string labels = "model";
  int64_t chunk = 16384;  // samples made, scored and written per step
  bool verify = true;
};

struct InfoArgs {
  fs::path file;
  fs::path model;
};

RecordLayout layout_of(const model::ModelArch& arch) { return RecordLayout{arch.dense_features, arch.num_tables()}; }

// logit(p) in double, with p kept inside (0, 1) where the sigmoid saturates in float.
double logit(float p) {
  double q = std::clamp(static_cast<double>(p), 1e-12, 1.0 - 1e-12);
  return std::log(q) - std::log1p(-q);
}

// Where labels are drawn: the mean and spread of the model's logit.
struct LogitScale {
  double mean = 0;
  double stddev = 1;
};

// Pilot: the mean and spread of the model's logit on the first samples set
// the scale on which labels are drawn, so sharpness means the same for any model.
LogitScale logit_scale(const float* predictions, int64_t pilot) {
  double sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < pilot; ++i) {
    double z = logit(predictions[i]);
    sum += z;
    sum_sq += z * z;
  }
  LogitScale scale;
  scale.mean = sum / static_cast<double>(pilot);
  scale.stddev = std::sqrt(std::max(0.0, sum_sq / static_cast<double>(pilot) - scale.mean * scale.mean));
  spdlog::info("model logit over {} pilot samples: mean {:.4f}, std {:.4f}", pilot, scale.mean, scale.stddev);
  if (!(scale.stddev > 1e-9)) {
    spdlog::warn("the model predicts almost the same value for every sample; labels will be coin flips "
                 "independent of the features");
    scale.stddev = 1.0;
  }
  return scale;
}

// Labels the model planted, and the first `auc_samples` scores for the AUC.
struct LabelTally {
  int64_t positives = 0;
  int64_t auc_samples = 0;
  std::vector<float> auc_scores;
  std::vector<int32_t> auc_labels;

  explicit LabelTally(int64_t samples) : auc_samples(std::min(samples, kAucSamples)) {
    auc_scores.reserve(auc_samples);
    auc_labels.reserve(auc_samples);
  }
  // Sample i's label: 1 when its label uniform u < sigmoid(sharpness * standardised logit).
  int32_t draw(const SynthArgs& args, const LogitScale& scale, int64_t i, float prediction, double u) {
    const double score = args.label_sharpness * (logit(prediction) - scale.mean) / scale.stddev;
    const double p = 1.0 / (1.0 + std::exp(-score));
    const int32_t label = u < p ? 1 : 0;
    positives += label;
    if (i < auc_samples) {
      auc_scores.push_back(prediction);
      auc_labels.push_back(label);
    }
    return label;
  }
};

void log_written(const SynthArgs& args, const LabelTally& tally, double bytes, double secs, bool scored) {
  spdlog::info("wrote {}: {} samples ({}), label rate {:.4f}, {:.0f} samples/s", args.out.string(), args.samples,
               format_bytes(bytes), static_cast<double>(tally.positives) / args.samples,
               args.samples / std::max(secs, 1e-9));
  if (!scored) return;
  const double auc = roc_auc(tally.auc_scores.data(), tally.auc_labels.data(), tally.auc_samples);
  if (std::isnan(auc)) {
    spdlog::info("AUC not computed: the labels of the first {} samples are all of one class", tally.auc_samples);
  } else {
    spdlog::info("AUC of the model on this data: {:.4f} (first {} samples)", auc, tally.auc_samples);
  }
}

void check_synth_args(const SynthArgs& args) {
  DLRM_CHECK(args.samples > 0, "--samples must be positive, got {}", args.samples);
  DLRM_CHECK(std::isfinite(args.label_sharpness) && args.label_sharpness >= 0,
             "--label-sharpness must be a finite number >= 0 (0: labels independent of the model), got {}",
             args.label_sharpness);
  DLRM_CHECK(args.chunk > 0, "--chunk-samples must be positive, got {}", args.chunk);
  DLRM_CHECK(args.labels == "model" || args.labels == "coin", "--labels must be 'model' or 'coin', got '{}'",
             args.labels);
}

// The loop both layouts share. With `scored` (labels from the model), a pilot
// chunk of kPilotSamples first sets the logit scale; then, chunk by chunk of
// --chunk-samples: make(begin, n) fills the samples (and, scored, their
// predictions), set_label(b, label) stores sample b's label, write(n) writes
// the chunk. Without `scored` a label is a fair coin of the sample's label
// uniform. Returns the labels' tally and the seconds the loop took.
struct SynthDone {
  LabelTally tally;
  double seconds = 0;
};
template <class Make, class SetLabel, class Write>
SynthDone synth_chunks(const SynthArgs& args, const SynthRecords& synth, const std::vector<float>& predictions,
                       bool scored, Make&& make, SetLabel&& set_label, Write&& write) {
  LogitScale scale;
  if (scored) {
    const int64_t pilot = std::min(args.samples, kPilotSamples);
    make(0, pilot);
    scale = logit_scale(predictions.data(), pilot);
  }
  const auto start = std::chrono::steady_clock::now();
  Progress progress("synth data", static_cast<uint64_t>(args.samples), "samples");
  LabelTally tally(args.samples);
  for (int64_t begin = 0; begin < args.samples; begin += args.chunk) {
    const int64_t n = std::min(args.chunk, args.samples - begin);
    make(begin, n);
    for (int64_t b = 0; b < n; ++b) {
      const double u = synth.label_uniform(begin + b);
      int32_t label;
      if (scored) {
        label = tally.draw(args, scale, begin + b, predictions[b], u);
      } else {
        label = u < 0.5 ? 1 : 0;
        tally.positives += label;
      }
      set_label(b, label);
    }
    write(n);
    progress.add(static_cast<uint64_t>(n));
  }
  progress.finish();
  return {std::move(tally), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

// Records: made, scored, labelled and written a chunk at a time.
void synth_records(const SynthArgs& args) {
  std::error_code ec;
  DLRM_CHECK(!fs::is_directory(args.out, ec), "--out {} is a directory; give a file name", args.out.string());
  // Created first, so a bad --out fails before the model is loaded; removed
  // again unless every record is written.
  StagedFile out(args.out);
  ReferenceModel model = ReferenceModel::load(args.model, Kernels::kFast, args.verify);
  const model::ModelArch& arch = model.manifest().arch;
  const RecordLayout layout = layout_of(arch);
  SynthRecords synth(layout, arch.table_rows, args.seed, args.zipf);
  spdlog::info("synthesising {} samples for {} ({} tables, {} dense features, {}-byte records): seed {}, zipf {}, "
               "label sharpness {}",
               args.samples, args.model.string(), arch.num_tables(), arch.dense_features, layout.record_bytes(),
               args.seed, args.zipf, args.label_sharpness);
  const int64_t chunk = std::min(args.samples, std::max(args.chunk, kPilotSamples));
  std::vector<int32_t> records(static_cast<size_t>(chunk) * layout.record_ints());
  std::vector<float> predictions(static_cast<size_t>(chunk));
  auto make = [&](int64_t begin, int64_t n) {
    synth.fill(begin, n, records.data());
    model.predict(Dataset::from_records(records.data(), n, layout, "synthetic samples"), 0, n, predictions.data());
  };
  const SynthDone done = synth_chunks(
      args, synth, predictions, /*scored=*/true, make,
      [&](int64_t b, int32_t label) { records[b * layout.record_ints()] = label; },
      [&](int64_t n) { out.write(records.data(), static_cast<size_t>(n) * layout.record_bytes()); });
  out.commit();
  log_written(args, done.tally, static_cast<double>(args.samples) * layout.record_bytes(), done.seconds, true);
}

// Buffers of a chunk of multi-hot samples and a Dataset view of them.
struct MultiHotChunk {
  int dense_features = 0;
  std::vector<int> hotness;
  std::vector<float> dense;
  std::vector<int32_t> labels;
  std::vector<std::vector<int32_t>> bags;

  MultiHotChunk(const model::ModelArch& arch, int64_t capacity)
      : dense_features(arch.dense_features),
        dense(static_cast<size_t>(capacity) * arch.dense_features),
        labels(static_cast<size_t>(capacity)) {
    for (int t = 0; t < arch.num_tables(); ++t) {
      hotness.push_back(arch.table_hotness(t));
      bags.emplace_back(static_cast<size_t>(capacity) * hotness.back());
    }
  }
  std::vector<const int32_t*> columns() const {
    std::vector<const int32_t*> out;
    for (const auto& b : bags) out.push_back(b.data());
    return out;
  }
  void fill(const SynthRecords& synth, int64_t begin, int64_t n) {
    std::vector<int32_t*> dst;
    for (auto& b : bags) dst.push_back(b.data());
    synth.fill_multi_hot(begin, n, hotness, dense.data(), dst);
  }
  Dataset view(int64_t n) const {
    return Dataset::from_multi_hot({dense.data(), labels.data(), columns(), hotness}, dense_features, 0, n, n,
                                   "synthetic samples");
  }
};

// Multi-hot samples (the model has hotness): MLPerf's dlrm-v2 files, labels
// planted from the model's predictions (or coin flips with --labels coin).
void synth_multi_hot(const SynthArgs& args, const model::ModelArch& arch) {
  MultiHotChunk chunk(arch, std::min(args.samples, std::max(args.chunk, kPilotSamples)));
  // Created first, so a bad --out fails before the model is loaded.
  MultiHotWriter out(args.out, args.samples, arch.dense_features, chunk.hotness);
  std::optional<ReferenceModel> model;
  if (args.labels == "model") model.emplace(ReferenceModel::load(args.model, Kernels::kFast, args.verify));
  SynthRecords synth(layout_of(arch), arch.table_rows, args.seed, args.zipf);
  spdlog::info("synthesising {} multi-hot samples for {} ({} tables, {} lookups per sample, {} dense features) to "
               "{}_*: seed {}, zipf {}, labels {}{}",
               args.samples, args.model.string(), arch.num_tables(), arch.lookups_per_pair(), arch.dense_features,
               out.prefix().string(), args.seed, args.zipf, args.labels,
               model ? fmt::format(" (sharpness {})", args.label_sharpness) : "");
  std::vector<float> predictions(chunk.labels.size());
  auto make = [&](int64_t begin, int64_t n) {
    chunk.fill(synth, begin, n);
    if (model) model->predict(chunk.view(n), 0, n, predictions.data());
  };
  const SynthDone done = synth_chunks(
      args, synth, predictions, model.has_value(), make, [&](int64_t b, int32_t label) { chunk.labels[b] = label; },
      [&](int64_t n) { out.write(n, chunk.dense.data(), chunk.labels.data(), chunk.columns()); });
  out.commit();
  const double bytes = static_cast<double>(args.samples) * 4 * (arch.dense_features + 1 + arch.lookups_per_pair());
  log_written(args, done.tally, bytes, done.seconds, model.has_value());
}

void run_synth(const SynthArgs& args) {
  check_synth_args(args);
  const model::Manifest manifest = model::load_manifest(args.model);
  if (!manifest.arch.hotness.empty()) return synth_multi_hot(args, manifest.arch);
  DLRM_CHECK(args.labels == "model", "--labels coin is for multi-hot models (with hotness); records always get "
             "the model's labels");
  synth_records(args);
}

// What dlrm-data info counts.
struct DataScan {
  int64_t positives = 0, other_labels = 0, negative_dense = 0;
  std::vector<int64_t> bad, max_index;
  std::optional<BadIndex> first_bad;
};

DataScan scan(const Dataset& data, const model::ModelArch& arch) {
  const int tables = arch.num_tables();
  DataScan s;
  s.bad.assign(tables, 0);
  s.max_index.assign(tables, -1);
  Progress progress("scan data", static_cast<uint64_t>(data.samples()), "samples");
  constexpr int64_t kScanChunk = 1 << 16;
  for (int64_t begin = 0; begin < data.samples(); begin += kScanChunk) {
    const int64_t end = std::min(data.samples(), begin + kScanChunk);
    data.prefetch(end, kScanChunk);
    for (int64_t i = begin; i < end; ++i) {
      const int32_t label = data.label(i);
      s.positives += label == 1;
      s.other_labels += label != 0 && label != 1;
      if (!data.multi_hot()) {  // raw counts; multi-hot values are transformed already
        for (int f = 0; f < arch.dense_features; ++f) s.negative_dense += data.dense(i)[f] < 0;
      }
      for (int t = 0; t < tables; ++t) {
        const int32_t* bag = data.bag(i, t);
        for (int k = 0; k < data.hotness(t); ++k) {
          s.max_index[t] = std::max<int64_t>(s.max_index[t], bag[k]);
          if (bag[k] < 0 || bag[k] >= arch.table_rows[t]) {
            ++s.bad[t];
            if (!s.first_bad) s.first_bad = BadIndex{i, t, bag[k], arch.table_rows[t], k, data.hotness(t)};
          }
        }
      }
    }
    progress.add(static_cast<uint64_t>(end - begin));
  }
  progress.finish();
  return s;
}

void run_info(const InfoArgs& args) {
  const model::Manifest manifest = model::load_manifest(args.model);
  const model::ModelArch& arch = manifest.arch;
  const SampleData held = open_samples(args.file, DataShape{arch.dense_features, arch.num_tables(), arch.hotness});
  const Dataset& data = held.data();
  const DataScan s = scan(data, arch);
  const double n = static_cast<double>(data.samples());
  if (data.multi_hot()) {
    fmt::print("{}: {} multi-hot samples ({} lookups each) for model {}\n", args.file.string(), data.samples(),
               arch.lookups_per_pair(), args.model.string());
  } else {
    fmt::print("{}: {} samples of {} bytes for model {}\n", args.file.string(), data.samples(),
               data.layout().record_bytes(), args.model.string());
  }
  fmt::print("label rate {:.4f}{}\n", s.positives / n,
             s.other_labels ? fmt::format(" ({} labels neither 0 nor 1)", s.other_labels) : "");
  if (!data.multi_hot()) {
    fmt::print("negative dense values {:.4f} (clipped to 0 by the transform)\n",
               s.negative_dense / (n * std::max(1, arch.dense_features)));
  }
  fmt::print("{:>5} {:>10} {:>7} {:>10} {:>12}\n", "table", "rows", "hotness", "max index", "out of range");
  for (int t = 0; t < arch.num_tables(); ++t) {
    fmt::print("{:>5} {:>10} {:>7} {:>10} {:>12}\n", t, arch.table_rows[t], data.hotness(t), s.max_index[t], s.bad[t]);
  }
  if (s.first_bad) {
    fmt::print("first out-of-range index: {}\n", describe(*s.first_bad, args.file));
  } else {
    fmt::print("every index is inside its table\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  init_logging("dlrm-data");
  install_interrupt_handler();
  CLI::App app{"dlrm-data: input samples for a dlrm-cluster model (MLPerf binary layout)"};
  app.require_subcommand(1);

  SynthArgs synth;
  CLI::App* synth_cmd = app.add_subcommand("synth", "synthesise samples with Zipf indices and model-planted labels");
  synth_cmd->add_option("--model", synth.model, "model directory (dlrm-shard output)")->required();
  synth_cmd->add_option("--samples", synth.samples, "number of samples to write")->required();
  synth_cmd->add_option("--seed", synth.seed, "random seed (same seed, same model: same bytes)")
      ->capture_default_str();
  synth_cmd->add_option("--zipf", synth.zipf, "Zipf exponent of the index distribution (0: uniform)")
      ->capture_default_str();
  synth_cmd->add_option("--label-sharpness", synth.label_sharpness,
                        "how strongly labels follow the model's standardised logit (0: coin flips)")
      ->capture_default_str();
  synth_cmd->add_option("--chunk-samples", synth.chunk, "samples made and written per step (the output is the same "
                        "for any value)")
      ->capture_default_str();
  synth_cmd->add_option("--labels", synth.labels,
                        "model: planted from the model's predictions; coin: fair coin flips, the model is not run "
                        "(multi-hot models only)")
      ->capture_default_str();
  synth_cmd->add_option("--out", synth.out,
                        "output file (records), or for a multi-hot model a directory (writes day_0_*) or a prefix "
                        "such as DIR/day_23 (writes DIR/day_23_dense.npy, _sparse_multi_hot.npz, _labels.npy)")
      ->required();
  bool no_verify = false;
  synth_cmd->add_flag("--no-verify", no_verify, "skip recomputing the shard files' checksums");

  InfoArgs info;
  CLI::App* info_cmd = app.add_subcommand("info", "summarise a data file: samples, label rate, index ranges");
  info_cmd->add_option("file", info.file, "data: records, .npz accuracy data, or a multi-hot directory or prefix")
      ->required();
  info_cmd->add_option("--model", info.model, "model directory the data is for")->required();

  ConvertOptions convert;
  CLI::App* convert_cmd =
      app.add_subcommand("convert", "raw Criteo TSV (day_N, day_N.gz) or accuracy data (.npz) to the binary layout");
  convert_cmd->add_option("--from", convert.from, "day_N, day_N.gz, or an .npz with dense, sparse, labels")
      ->required();
  convert_cmd->add_option("--out", convert.out, "output file (MLPerf binary layout)")->required();
  convert_cmd->add_option("--max-ind-range", convert.max_ind_range,
                          "categorical index = hash mod N (40000000 for the terabyte model; 0: none, needs --dict)");
  convert_cmd->add_option("--dict", convert.dict, "per-feature dictionaries: .npz with arrays C1..C26");
  convert_cmd->add_flag("--strict", convert.strict, "stop at the first malformed line (default: count and skip)");
  convert_cmd->add_option("--limit", convert.limit, "stop after N samples (0: all)");
  convert_cmd->add_option("--reference-out", convert.reference_out,
                          ".npz input: also write its 'reference' predictions as .npy");
  bool convert_no_progress = false;
  convert_cmd->add_flag("--no-progress", convert_no_progress, "no progress bar");

  try {
    app.parse(argc, argv);
    if (*synth_cmd) {
      synth.verify = !no_verify;
      run_synth(synth);
    } else if (*info_cmd) {
      run_info(info);
    } else if (*convert_cmd) {
      convert.progress = !convert_no_progress;
      return run_convert(convert);
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    return report_fatal(e);
  }
  return 0;
}
