// One trial of dlrm-tune: the settings it ran with and what it measured, and
// the files that hold them (results.json to resume from, results.csv).
//
// results.json:
//   {"dlrm_tune_results": {"format_version": 1,
//     "settings": {"model", "hostfile", "data", "latency_bound_ms" (null: throughput)},
//     "trials": [{"key", "stage", "layout", "shard_cores", "dense_per_node", "threads_per_dense", "batch",
//                 "exchange_dtype", "exchange_transport", "mlp", "run", "ok", "error", "seconds",
//                 "pairs_per_s", "mlp_bound_pairs_per_s", "ratio", "p50_ms", "p99_ms",
//                 "peak_qps" (null), "valid" (null: throughput)}, ...]}}
// results.csv: one row per trial, the same fields, a header line first.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dlrm::tune {

// What a trial varies: the launcher's layout options and dlrm-cluster's.
struct TrialConfig {
  std::string shard_cores = "auto";  // dlrm-launch --shard-cores
  int dense_per_node = 0;            // dlrm-launch --dense-per-node (0: its default)
  int threads_per_dense = 0;         // dlrm-launch --threads-per-dense (0: its default)
  int batch = 256;
  std::string exchange_dtype = "fp32";
  std::string exchange_transport = "auto";
  std::string mlp = "fp32";
  int run = 1;  // the n-th measurement of the same settings

  // "auto/0/0": the layout options alone.
  std::string layout_key() const;
  // "shared/0/0 b256 fp32 auto fp32": every setting but the run.
  std::string settings_key() const;
  // settings_key() + " #run": unique per trial.
  std::string key() const;
  std::vector<std::string> launch_args() const;   // --shard-cores X [--dense-per-node N] [--threads-per-dense T]
  std::vector<std::string> cluster_args() const;  // --batch B --exchange-dtype D --exchange-transport T --mlp P
};

struct TrialResult {
  TrialConfig config;
  std::string stage;   // "default", "layout", "batch", "precision", "confirm"
  std::string layout;  // the layout in words: "1 shard (shared) + 1 dense x 2"
  bool ok = false;     // the run completed and its figures were read
  std::string error;   // why not
  double seconds = 0;  // wall time of the trial
  double pairs_per_s = 0;            // throughput: the cluster's; server: at the peak VALID QPS (0: none)
  double mlp_bound_pairs_per_s = 0;  // the MLP-only bound of the same dense ranks
  double ratio = 0;                  // cluster / bound, as dlrm-bench measured them together
  double p50_ms = 0, p99_ms = 0;     // per batch (throughput) or per query at the peak (server)
  std::optional<double> peak_qps;    // server: the highest VALID QPS
  std::optional<bool> valid;         // server: whether any QPS was VALID
};

struct TuneSettings {
  std::string model;
  std::string hostfile;
  std::string data;
  std::optional<double> latency_bound_ms;
  bool operator==(const TuneSettings&) const = default;
};

struct TuneResults {
  TuneSettings settings;
  std::vector<TrialResult> trials;
  const TrialResult* find(const std::string& key) const;
};

std::string results_json(const TuneResults& results);
// Throws naming `source` and the field.
TuneResults parse_results(std::string_view text, const std::string& source);
std::string results_csv(const TuneResults& results);

}  // namespace dlrm::tune
