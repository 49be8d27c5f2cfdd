// tuned.json: the layout and cluster options dlrm-tune chose, which
// `dlrm-launch --config tuned.json` applies (options given on its command
// line, or after --, win over the file's).
//
//   {"dlrm_tuned": {
//     "format_version": 1, "producer": "dlrm-tune 0.1.0",
//     "model": "/abs/model", "hostfile": "/abs/hostfile", "objective": "throughput" | "server p99 <= 60 ms",
//     "launch":  {"shard_cores": "auto|own|shared", "dense_per_node": N >= 0, "threads_per_dense": N >= 0},
//     "cluster": {"batch": 1..1048576, "exchange_dtype": "fp32|fp16|bf16",
//                 "exchange_transport": "auto|alltoall|shm", "mlp": "fp32|int8"},
//     "measured": {"pairs_per_s": X, "mlp_bound_pairs_per_s": X, "p99_ms": X|null, "peak_qps": X|null,
//                  "trials": N}}}
// Reading checks every field of "launch" and "cluster" (present, of its type,
// in range); errors name the file and the field. "measured" and the names
// are informational.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dlrm::launcher {

struct TunedLaunch {
  std::string shard_cores = "auto";
  int dense_per_node = 0;
  int threads_per_dense = 0;
};

struct TunedCluster {
  int batch = 256;
  std::string exchange_dtype = "fp32";
  std::string exchange_transport = "auto";
  std::string mlp = "fp32";
  // "--batch 256 --exchange-dtype fp32 --exchange-transport auto --mlp fp32"
  std::vector<std::string> args() const;
};

struct TunedMeasured {
  double pairs_per_s = 0;
  double mlp_bound_pairs_per_s = 0;
  std::optional<double> p99_ms;
  std::optional<double> peak_qps;
  int trials = 0;
};

struct TunedConfig {
  static constexpr int kFormatVersion = 1;
  std::string producer;
  std::string model;
  std::string hostfile;
  std::string objective = "throughput";
  TunedLaunch launch;
  TunedCluster cluster;
  TunedMeasured measured;
};

inline constexpr int kMaxTunedBatch = 1 << 20;

// The document (JSON text, ending in "\n").
std::string tuned_config_json(const TunedConfig& config);
// Parses `text`; `source` (the file name) starts every error.
TunedConfig parse_tuned_config(std::string_view text, const std::string& source);
// Reads and parses a file; throws naming it when it cannot be read.
TunedConfig read_tuned_config(const std::string& path);

// The cluster arguments of `tuned` that the user's own (after --) do not
// name, followed by the user's: "--batch 512 ... <user args>".
std::vector<std::string> merge_cluster_args(const TunedCluster& tuned, const std::vector<std::string>& user);

}  // namespace dlrm::launcher
