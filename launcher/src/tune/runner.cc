#include "dlrm/tune/runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "dlrm/common/error.h"
#include "dlrm/common/json.h"
#include "dlrm/launcher/mpirun.h"

namespace dlrm::tune {
namespace fs = std::filesystem;

namespace {

// dlrm-launch's options for `config`, running `program`.
std::vector<std::string> launch_prefix(const RunnerOptions& o, const TrialConfig& config, const fs::path& program) {
  std::vector<std::string> argv = {o.launcher.string(), "--hostfile", o.hostfile, "--model", o.model, "--quiet"};
  argv.insert(argv.end(), o.launch_args.begin(), o.launch_args.end());
  for (const auto& a : config.launch_args()) argv.push_back(a);
  argv.insert(argv.end(), {"--program", program.string(), "--", "--data", o.data, "--no-verify"});
  for (const auto& a : config.cluster_args()) argv.push_back(a);
  return argv;
}

const JsonSource kBench{"dlrm-bench report", "see the trial's log beside it"};
const JsonSource kPeak{"dlrm-cluster report", "see the trial's log beside it"};

}  // namespace

std::vector<std::vector<std::string>> trial_commands(const RunnerOptions& o, const TrialConfig& config,
                                                     const std::string& files) {
  std::vector<std::vector<std::string>> commands;
  std::vector<std::string> bench = launch_prefix(o, config, o.bench);
  bench.insert(bench.end(), {"--repeat", std::to_string(o.repeat), "--check", "128", "--json", files + ".bench.json"});
  if (o.samples > 0) bench.insert(bench.end(), {"--limit", std::to_string(o.samples)});
  commands.push_back(bench);
  if (o.latency_bound_ms) {
    std::vector<std::string> server = launch_prefix(o, config, o.cluster);
    server.insert(server.end(), {"--scenario", "server", "--find-peak", "--latency-bound-ms",
                                 fmt::format("{}", *o.latency_bound_ms), "--min-duration-s",
                                 fmt::format("{}", o.server_seconds), "--no-progress", "--quiet", "--report",
                                 files + ".server.json"});
    commands.push_back(server);
  }
  return commands;
}

void read_bench_report(const fs::path& path, TrialResult& result) {
  const JsonDocument doc = JsonDocument::read_file(path, kBench);
  const JsonValue r = doc.root();
  result.pairs_per_s = r["cluster_pairs_per_s"].get<double>();
  result.mlp_bound_pairs_per_s = r["mlp_bound_pairs_per_s"].get<double>();
  result.ratio = r["ratio"].get<double>();
  result.p50_ms = r["latency_ms"]["p50"].get<double>();
  result.p99_ms = r["latency_ms"]["p99"].get<double>();
  result.ok = r["correct"].get<bool>();
  if (!result.ok) {
    result.error = fmt::format("predictions differ from the _ref path by {:.3g} (tolerance {:.3g})",
                               r["check_max_abs_diff"].get<double>(), r["check_tolerance"].get<double>());
  }
}

void read_peak_report(const fs::path& path, TrialResult& result) {
  const JsonDocument doc = JsonDocument::read_file(path, kPeak);
  const JsonValue s = doc.root()["scenario"];
  const JsonValue peak = s["peak_qps"];
  std::optional<double> peak_qps;
  if (!peak.is_null() && peak.get<double>() > 0) peak_qps = peak.get<double>();
  double lowest_p99 = -1;
  result.valid = false;
  result.pairs_per_s = 0;
  for (const JsonValue& t : s["trials"].items()) {
    const double p99 = t["p99_ms"].get<double>();
    if (lowest_p99 < 0 || p99 < lowest_p99) lowest_p99 = p99;
    if (peak_qps && t["valid"].get<bool>() && t["target_qps"].get<double>() == *peak_qps) {
      result.valid = true;
      result.pairs_per_s = t["samples_per_s"].get<double>();
      result.p99_ms = p99;
    }
  }
  result.peak_qps = result.valid.value() ? peak_qps : std::nullopt;
  if (!*result.valid) result.p99_ms = std::max(0.0, lowest_p99);
  result.p50_ms = 0;
}

TrialRun run_trial(const RunnerOptions& o, const PlannedTrial& trial, int index, double timeout_s) {
  const std::string files = (o.log_dir / fmt::format("trial-{:03d}", index)).string();
  const fs::path log = files + ".log";
  std::error_code ec;
  fs::remove(log, ec);
  TrialRun run;
  run.result.config = trial.config;
  run.result.stage = trial.stage;
  const auto start = std::chrono::steady_clock::now();
  static const launcher::Layout kNoLayout;
  for (const auto& command : trial_commands(o, trial.config, files)) {
    const double left = timeout_s - std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // timeout stops the command with SIGINT (dlrm-launch passes it on to mpirun), then kills it 5 s later.
    std::vector<std::string> argv = {"timeout", "-s", "INT", "-k", "5", fmt::format("{:.0f}", std::max(1.0, left)),
                                     "/bin/sh", "-c", "log=$1; shift; exec \"$@\" >>\"$log\" 2>&1", "sh",
                                     log.string()};
    argv.insert(argv.end(), command.begin(), command.end());
    launcher::MpirunFailures failures(kNoLayout);
    const launcher::MpirunResult r = launcher::run_mpirun(argv, {}, failures);
    run.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    run.interrupted = r.forwarded_signal != 0;
    run.timed_out = r.exit_code == 124 || r.exit_code == 128 + 9;  // stopped, or killed after it
    if (run.interrupted || run.timed_out) return run;
    if (r.exit_code != 0) {
      run.result.ok = false;
      run.result.error = fmt::format("{} exited with code {}; see {}", fs::path(command[0]).filename().string(),
                                     r.exit_code, log.string());
      return run;
    }
  }
  try {
    read_bench_report(files + ".bench.json", run.result);
    if (o.latency_bound_ms && run.result.ok) {
      const double bound = run.result.mlp_bound_pairs_per_s, ratio = run.result.ratio;
      read_peak_report(files + ".server.json", run.result);
      run.result.mlp_bound_pairs_per_s = bound;
      run.result.ratio = bound > 0 ? run.result.pairs_per_s / bound : ratio;
    }
  } catch (const Error& e) {
    run.result.ok = false;
    run.result.error = e.what();
  }
  return run;
}

}  // namespace dlrm::tune
