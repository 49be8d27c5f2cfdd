// dlrm-tune: the fastest layout, batch and precision for the hosts at hand,
// found by real runs.
//   dlrm-tune --hostfile H --model DIR --data FILE [--latency-bound-ms L] [--time-budget-s S] --out DIR
// Each trial runs dlrm-bench (and, with a latency bound, dlrm-cluster
// --scenario server --find-peak) through dlrm-launch; the search is the
// staged coordinate descent of dlrm/tune/search.h, within the time budget.
// OUT/results.json and OUT/results.csv are rewritten (staged, renamed) after
// every trial, so an interrupted tune resumes where it stopped; at the end
// OUT/tuned.json (for dlrm-launch --config) and the plots.
// Exit codes: 0 done; 2 refused (bad input, no layout fits, budget too short);
// 3 no trial met the latency bound; 130 interrupted.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/log.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/launcher/mpirun.h"
#include "dlrm/launcher/tuned_config.h"
#include "dlrm/model/manifest.h"
#include "dlrm/tune/layouts.h"
#include "dlrm/tune/report.h"
#include "dlrm/tune/runner.h"
#include "dlrm/tune/search.h"

namespace fs = std::filesystem;
using namespace dlrm;
using namespace dlrm::tune;

namespace {

constexpr int kRefused = 2, kNoneMeetsBound = 3, kInterrupted = 130;
// A trial's least time besides loading the rows: starting mpirun and the
// ranks, the bound and the cluster runs, checking, writing (seconds).
constexpr double kTrialOverheadSeconds = 3;
// Shard ranks load rows at about this rate here (--no-verify: copy into huge pages).
constexpr double kLoadBytesPerSecond = 1.0e9;
// A trial that runs this many times longer than the mean so far (and at
// least kMinTrialCapSeconds) is stopped and recorded as failed.
constexpr double kHangFactor = 5, kMinTrialCapSeconds = 60;

struct Args {
  std::string hostfile, model, data, out;
  std::optional<double> latency_bound_ms;
  double time_budget_s = 600;
  int64_t samples = 65536;
  int repeat = 3;
  double server_seconds = 4;
  std::vector<int> batches = {64, 128, 256, 512, 1024, 2048};
  std::vector<std::string> launch_args;
  std::string python = "/usr/bin/python3";
  bool progress = true;
};

// Everything checked and derived before the first trial.
struct Plan {
  SearchSpace space;
  RunnerOptions runner;
  TuneSettings settings;
  std::map<std::string, std::string> labels;  // layout_key -> words
  double first_trial_s = 0;                   // estimate
  bool calibrated = false;
};

fs::path self_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path(".") : self.parent_path();
}

std::vector<launcher::HostTopology> topologies_of(const launcher::Hostfile& hostfile) {
  const launcher::HostTopology local = launcher::detect_local_topology();
  return std::vector<launcher::HostTopology>(hostfile.hosts.size(), local);
}

Plan make_plan(const Args& args) {
  DLRM_CHECK(args.time_budget_s > 0, "--time-budget-s must be > 0, got {}", args.time_budget_s);
  DLRM_CHECK(!args.latency_bound_ms || *args.latency_bound_ms > 0, "--latency-bound-ms must be > 0, got {}",
             args.latency_bound_ms.value_or(0));
  DLRM_CHECK(fs::is_regular_file(args.data) || fs::is_directory(args.data), "--data {} does not exist", args.data);
  Plan plan;
  const launcher::Hostfile hostfile = launcher::read_hostfile(args.hostfile);
  const model::Manifest manifest = model::load_manifest(args.model);
  const launcher::ModelNeeds needs = launcher::model_needs(manifest);
  plan.calibrated = fs::exists(fs::path(args.model) / "calibration.json");
  for (const auto& c : candidate_layouts(hostfile, topologies_of(hostfile), needs, false)) {
    plan.space.layouts.push_back(c.options);
    plan.labels[c.options.layout_key()] = c.label;
  }
  plan.space.batches = args.batches;
  std::sort(plan.space.batches.begin(), plan.space.batches.end());
  plan.space.start_batch = std::find(plan.space.batches.begin(), plan.space.batches.end(), 256) != plan.space.batches.end()
                               ? 256 : plan.space.batches[plan.space.batches.size() / 2];
  if (plan.calibrated) plan.space.mlps = {"fp32", "int8"};
  // One host: the dense ranks may pool the rows themselves (dlrm-launch's
  // own choice where shard ranks share their cores).
  if (hostfile.hosts.size() == 1) plan.space.exchange_transports.push_back("pool");
  uint64_t rows = 0;
  for (auto b : needs.shard_bytes) rows += b;
  plan.first_trial_s = kTrialOverheadSeconds + static_cast<double>(rows) / kLoadBytesPerSecond;
  if (args.latency_bound_ms) plan.first_trial_s *= 2;
  DLRM_CHECK(args.time_budget_s >= plan.first_trial_s,
             "--time-budget-s {} is too short for one trial: starting the ranks and loading {} of rows take about "
             "{:.0f} s here{}; give at least --time-budget-s {:.0f} (a useful tune: {:.0f} or more)",
             args.time_budget_s, format_bytes(static_cast<double>(rows)), plan.first_trial_s,
             args.latency_bound_ms ? " (twice: the bench and the server run)" : "", std::ceil(plan.first_trial_s),
             std::ceil(plan.first_trial_s * planned_trials(plan.space)));
  plan.settings = {fs::absolute(args.model).string(), fs::absolute(args.hostfile).string(),
                   fs::absolute(args.data).string(), args.latency_bound_ms};
  RunnerOptions& r = plan.runner;
  const fs::path bin = self_dir();
  r.launcher = bin / "dlrm-launch";
  r.bench = bin / "dlrm-bench";
  r.cluster = bin / "dlrm-cluster";
  for (const auto& p : {r.launcher, r.bench, r.cluster}) {
    DLRM_CHECK(fs::exists(p), "{} does not exist; dlrm-tune runs the programs installed beside it", p.string());
  }
  r.hostfile = plan.settings.hostfile;
  r.model = plan.settings.model;
  r.data = plan.settings.data;
  r.launch_args = args.launch_args;
  r.latency_bound_ms = args.latency_bound_ms;
  r.samples = args.samples;
  r.repeat = args.repeat;
  r.server_seconds = args.server_seconds;
  r.log_dir = fs::absolute(args.out) / "logs";
  return plan;
}

// OUT's results so far: none, or those of a tune with the same settings.
TuneResults open_results(const Args& args, const Plan& plan) {
  const fs::path path = fs::path(args.out) / "results.json";
  if (!fs::exists(path)) return TuneResults{plan.settings, {}};
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TuneResults results = parse_results(text, path.string());
  DLRM_CHECK(results.settings == plan.settings,
             "{} holds a tune of another model, hostfile, data or latency bound ({} on {}); use another --out, or "
             "remove it to start afresh",
             path.string(), results.settings.model, results.settings.hostfile);
  spdlog::info("resuming from {}: {} done", path.string(), plural(static_cast<int>(results.trials.size()), "trial"));
  return results;
}

void save_results(const fs::path& out, const TuneResults& results) {
  write_text_file(out / "results.json", results_json(results));
  write_text_file(out / "results.csv", results_csv(results));
}

// The trials, until the search ends, the budget is spent or a signal stops
// them. Returns false when interrupted.
bool run_search(const Args& args, const Plan& plan, TuneResults& results) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  ProgressLine progress(planned_trials(plan.space), args.time_budget_s, args.progress);
  int ran = 0;
  double ran_seconds = 0;
  for (std::optional<PlannedTrial> next; (next = next_trial(plan.space, results));) {
    if (interrupted()) return false;
    const double expected = ran > 0 ? ran_seconds / ran : plan.first_trial_s;
    const double left = args.time_budget_s - elapsed();
    if (ran > 0 && left < expected) {
      spdlog::info("the time budget is spent ({:.0f} s left, a trial takes about {:.0f} s): stopping after {}", left,
                   expected, plural(static_cast<int>(results.trials.size()), "trial"));
      break;
    }
    fs::create_directories(plan.runner.log_dir);
    const std::optional<TrialConfig> best = best_settings(results);
    const int index = static_cast<int>(results.trials.size()) + 1;
    progress.start(index, *next, best ? score(results, *best) : 0, elapsed());
    // A trial may take the budget left, and at most kHangFactor x a trial so far (a hung job).
    const double cap = ran > 0 ? std::max(kMinTrialCapSeconds, kHangFactor * expected) : args.time_budget_s;
    const bool budget_bound = left <= cap;
    TrialRun run = run_trial(plan.runner, *next, index, std::max(1.0, std::min(left, cap)));
    if (run.interrupted || interrupted()) return false;
    DLRM_CHECK(!run.timed_out || !results.trials.empty() || ran > 0,
               "--time-budget-s {} is too short for one trial: the first was stopped after {:.0f} s; give more time",
               args.time_budget_s, run.result.seconds);
    if (run.timed_out && budget_bound) break;
    if (run.timed_out) {
      run.result.ok = false;
      run.result.error = fmt::format("stopped after {:.0f} s, {:.0f}x the mean trial (a hung job?); see its log",
                                     run.result.seconds, kHangFactor);
    }
    run.result.layout = plan.labels.at(run.result.config.layout_key());
    ++ran;
    ran_seconds += run.result.seconds;
    results.trials.push_back(run.result);
    save_results(args.out, results);
    progress.done(run.result, elapsed());
  }
  progress.finish(elapsed());
  return true;
}

// tools/tune_plot.py: installed beside the programs' share directory, or in the source tree.
fs::path plot_script() {
  const fs::path installed = self_dir() / ".." / "share" / "dlrm-cluster" / "tools" / "tune_plot.py";
  return fs::exists(installed) ? installed : fs::path(DLRM_TUNE_PLOT_SCRIPT);
}

int run_tune(const Args& args) {
  const Plan plan = make_plan(args);
  const bool existed = fs::exists(args.out);
  TuneResults results{plan.settings, {}};
  // A tune that recorded nothing leaves no directory behind it did not find.
  auto tidy = [&] {
    std::error_code ec;
    if (!existed && results.trials.empty()) fs::remove_all(args.out, ec);
  };
  try {
    fs::create_directories(args.out);
    results = open_results(args, plan);
    install_interrupt_handler();
    if (!run_search(args, plan, results)) {
      std::fprintf(stderr, "dlrm-tune: interrupted; %d completed trials are in %s; run the same command again to "
                   "resume\n", static_cast<int>(results.trials.size()), (fs::path(args.out) / "results.json").c_str());
      tidy();
      return kInterrupted;
    }
  } catch (...) {
    tidy();
    throw;
  }
  return finish_tune(args.out, plan.settings, results, args.python, plot_script()) ? 0 : kNoneMeetsBound;
}

}  // namespace

int main(int argc, char** argv) {
  init_logging("dlrm-tune");
  Args args;
  CLI::App app{"dlrm-tune: find the fastest layout, batch and precision for these hosts by real runs through "
               "dlrm-launch (dlrm-bench; with --latency-bound-ms, server-scenario runs at the peak VALID QPS)"};
  app.add_option("--hostfile", args.hostfile, "Open MPI hostfile (as for dlrm-launch)")->required();
  app.add_option("--model", args.model, "model directory (dlrm-shard)")->required();
  app.add_option("--data", args.data, "samples to run (as for dlrm-cluster --data)")->required();
  app.add_option("--out", args.out, "directory for results.json, results.csv, the plots and tuned.json; a tune "
                                    "already there is resumed")->required();
  app.add_option("--latency-bound-ms", args.latency_bound_ms,
                 "tune for the server scenario: each trial's figure is its highest QPS whose p99 stays within L ms");
  app.add_option("--time-budget-s", args.time_budget_s, "stop starting trials after this long")->capture_default_str();
  app.add_option("--samples", args.samples, "samples each trial runs (dlrm-bench --limit; 0: all)")->capture_default_str();
  app.add_option("--repeat", args.repeat, "dlrm-bench --repeat per trial (the median is taken)")
      ->check(CLI::Range(1, 20))->capture_default_str();
  app.add_option("--server-seconds", args.server_seconds, "--min-duration-s of each server run of --find-peak")
      ->capture_default_str();
  app.add_option("--batches", args.batches, "batch sizes the search may use")->delimiter(',')->capture_default_str();
  app.add_option("--launch-arg", args.launch_args, "more dlrm-launch options for every trial, split on spaces "
                                                   "(e.g. \"--topology node01=numa=2,cores_per_numa=16,mem_per_numa=192G\")");
  app.add_option("--python", args.python, "the Python with matplotlib that draws the plots")->capture_default_str();
  app.add_flag("!--no-progress", args.progress, "no progress line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::vector<std::string> words;
  for (const auto& a : args.launch_args) {
    for (auto& w : launcher::split_words(a)) words.push_back(w);
  }
  args.launch_args = words;
  try {
    return run_tune(args);
  } catch (const std::exception& e) {
    report_fatal(e);
    return kRefused;
  }
}
