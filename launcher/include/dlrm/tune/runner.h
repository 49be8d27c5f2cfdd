// Running one dlrm-tune trial for real: dlrm-launch with the trial's layout
// options runs dlrm-bench (the cluster and the MLP-only bound beside it, in
// its --json report); with a latency bound, then dlrm-cluster --scenario
// server --find-peak (the highest VALID QPS, its report's scenario section).
// Output goes to LOG_DIR/trial-NNN.log, the reports beside it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dlrm/tune/search.h"

namespace dlrm::tune {

struct RunnerOptions {
  std::filesystem::path launcher;  // dlrm-launch
  std::filesystem::path bench;     // dlrm-bench
  std::filesystem::path cluster;   // dlrm-cluster
  std::string hostfile, model, data;
  std::vector<std::string> launch_args;  // more dlrm-launch options for every trial (--topology ...)
  std::optional<double> latency_bound_ms;
  int64_t samples = 0;        // dlrm-bench --limit (0: all)
  int repeat = 3;             // dlrm-bench --repeat
  double server_seconds = 4;  // --min-duration-s of each server trial of --find-peak
  std::filesystem::path log_dir;
};

// The command lines of a trial: dlrm-bench's, then (with a latency bound)
// dlrm-cluster's server run; `files` names the trial's log and reports.
std::vector<std::vector<std::string>> trial_commands(const RunnerOptions& options, const TrialConfig& config,
                                                     const std::string& files);

// Reads dlrm-bench's --json report into `result` (pairs_per_s, bound, ratio,
// latency); throws naming the file when it is not one.
void read_bench_report(const std::filesystem::path& path, TrialResult& result);
// Reads a --find-peak report's scenario section: the peak VALID QPS, its
// pairs/s and p99, or (none VALID) valid = false and the lowest p99 seen.
void read_peak_report(const std::filesystem::path& path, TrialResult& result);

struct TrialRun {
  TrialResult result;
  bool interrupted = false;  // SIGINT / SIGTERM reached it: not a result
  bool timed_out = false;    // stopped at `timeout_s`: not a result either
};

// Runs the trial (each command under `timeout`), at most timeout_s seconds.
TrialRun run_trial(const RunnerOptions& options, const PlannedTrial& trial, int index, double timeout_s);

}  // namespace dlrm::tune
