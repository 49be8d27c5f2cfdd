#include "dlrm/cluster/scenario_run.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>

#include "dlrm/cluster/dense_rank.h"
#include "dlrm/cluster/front.h"
#include "dlrm/cluster/query_source.h"
#include "dlrm/cluster/run_summary.h"
#include "dlrm/cluster/shard_rank.h"
#include "dlrm/common/error.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/open.h"
#include "job.h"

namespace dlrm::cluster {

namespace {

// Untimed warm-up steps per dense rank: buffers, oneDNN primitives, caches,
// MPI paths; they also measure the rate an offline run is sized by.
constexpr int kWarmupSteps = 48;
// Offline trials run again when they end before the minimum duration.
constexpr int kOfflineResizes = 2;
// --find-peak: server trials after the offline one, at most, and the width
// (relative to the offline rate) at which the bisection stops.
constexpr int kPeakTrials = 8;
constexpr double kPeakResolution = 0.02;
// Offline runs issue this much more than min duration at the expected rate
// (LoadGen's margin).
constexpr double kOfflineMargin = 1.1;

// A rank's samples: every sample of --data (up to --limit) for a dense rank
// (LoadGen's QuerySampleLibrary), or the front's labels.
struct Samples {
  std::optional<datasets::SampleData> held;
  const datasets::Dataset* data = nullptr;  // held->data()
};

datasets::DataShape data_shape(const Job& job) {
  const auto& arch = job.manifest.arch;
  return datasets::DataShape{arch.dense_features, arch.num_tables(), arch.hotness};
}

void load_samples(const Job& job, Samples& s) {
  s.held.emplace(datasets::open_samples(job.opt.data, data_shape(job), 0, job.samples));
  s.data = &s.held->data();
  s.data->prefetch(0, job.samples);
}

// The front's part of the data in accuracy mode: the labels (for the AUC),
// read through the mapping (records, multi-hot) without touching the rest.
std::vector<int32_t> load_labels(const Job& job) {
  std::vector<int32_t> labels(job.samples);
  const datasets::SampleData held = datasets::open_samples(job.opt.data, data_shape(job), 0, job.samples);
  for (int64_t i = 0; i < job.samples; ++i) labels[i] = held.data().label(i);
  return labels;
}

struct Worker {
  Samples samples;
  FrontWorker ranks;
};

void load_worker(Job& job, const RoutingTable& routing, Worker& w) {
  if (job.dense) {
    load_samples(job, w.samples);
    if (!job.opt.fold_indices) {
      if (auto bad = datasets::find_bad_index(*w.samples.data, 0, job.samples, job.manifest.arch.table_rows)) {
        DLRM_FAIL("{}", datasets::describe(*bad, job.opt.data));
      }
    }
  }
  w.ranks.load(job, routing, job.dense ? w.samples.data : nullptr);
}

// Front and dense ranks: the data's samples and the scenario's settings,
// checked before any rank loads anything.
void check_scenario(Job& job) {
  job.check("checking the scenario", capture([&] {
              if (!job.front && !job.dense) return;
              job.samples = datasets::count_samples(job.opt.data, data_shape(job));
              if (job.opt.limit > 0) job.samples = std::min(job.samples, job.opt.limit);
              DLRM_CHECK(job.samples < (int64_t{1} << 31), "{} holds {} samples; a scenario run takes at most 2^31 "
                                                           "(use --limit)", job.opt.data.string(), job.samples);
              job.opt.scenario->settings.validate(job.samples);
            }));
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &job.samples, 1, MPI_INT64_T, MPI_MAX, job.world), "allreduce");
  job.batch = job.opt.batch;
}

// The front's trials: warm-up, then the scenario (or the --find-peak search).
class FrontDriver {
 public:
  FrontDriver(Job& job, Front& front) : job_(job), front_(front), settings_(job.opt.scenario->settings) {}

  // Pairs per second over the second half of a trial (the first half builds
  // primitives and fills caches).
  static double steady_rate(const Trial& t) {
    int64_t end = 0;
    for (const auto& q : t.records) end = std::max(end, q.completed_ns);
    int64_t pairs = 0;
    for (const auto& q : t.records) pairs += q.completed_ns > end / 2 ? q.pairs : 0;
    return end > 0 && pairs > 0 ? pairs / ((end - end / 2) * 1e-9) : t.result.pairs_per_s;
  }

  double warm_up() {
    scenario::Settings s = settings_;
    s.scenario = scenario::Scenario::kOffline;
    s.mode = scenario::Mode::kPerformance;
    s.min_duration_s = 0;
    s.min_query_count = 0;
    const double pairs = static_cast<double>(kWarmupSteps) * job_.batch * job_.roles.dense_ranks();
    const auto queries = static_cast<int64_t>(std::ceil(pairs / s.pairs.mean_pairs()));
    spdlog::info("warm-up: {} untimed queries of {} pairs", queries, s.pairs.describe());
    return steady_rate(front_.run(s, queries));
  }

  // Queries an offline trial of settings `s` issues: enough for its minimum
  // duration at s.target_qps, or at the expected `rate` (queries/s) without one.
  static int64_t offline_queries(const scenario::Settings& s, double rate) {
    const double expected = s.target_qps > 0 ? s.target_qps : rate;
    return std::max<int64_t>(
        {s.min_query_count, 1, static_cast<int64_t>(std::ceil(expected * s.min_duration_s * kOfflineMargin))});
  }

  Trial run_one(const scenario::Settings& s, double offline_rate) {
    spdlog::info("{} {}: {}", to_string(s.scenario), to_string(s.mode), s.describe());
    Trial t = front_.run(s, offline_queries(s, offline_rate));
    // An offline trial sized from a short warm-up can end before the minimum
    // duration; sized again from its own rate, the next one will not.
    for (int again = 0; again < kOfflineResizes && s.scenario == scenario::Scenario::kOffline &&
                        s.mode == scenario::Mode::kPerformance && s.target_qps <= 0 && !t.result.duration_ok &&
                        !t.result.interrupted && t.result.samples_per_s > 0;
         ++again) {
      spdlog::info("offline: {} queries took {:.2f} s, under the {} s minimum; again, sized at {:.1f} queries/s",
                   t.result.queries, t.result.last_completed_s, s.min_duration_s, t.result.samples_per_s);
      t = front_.run(s, offline_queries(s, t.result.samples_per_s));
    }
    return t;
  }

  // --find-peak: the offline rate R, then server trials by bisection on
  // [0, R], starting at R; returns the highest VALID trial (or the last).
  Trial find_peak(double offline_rate, ScenarioReport& report) {
    scenario::Settings off = settings_;
    off.scenario = scenario::Scenario::kOffline;
    off.target_qps = 0;  // sized by the measured rate, not the server's target
    const Trial offline = run_one(off, offline_rate);
    const double rate = offline.result.samples_per_s;
    report.offline_samples_per_s = rate;
    report.offline_seconds = offline.result.last_completed_s;
    double lo = 0, hi = rate, qps = rate;
    std::optional<Trial> best, last;
    for (int k = 0; k < kPeakTrials && qps > 0; ++k) {
      scenario::Settings s = settings_;
      s.target_qps = qps;
      Trial t = run_one(s, rate);
      const bool valid = t.result.valid();
      report.trials.push_back({qps, valid, t.result.percentile_ns(0.99) * 1e-6, t.result.samples_per_s});
      spdlog::info("peak search: {:.1f} qps {} (p99 {:.2f} ms)", qps, valid ? "VALID" : "INVALID",
                   report.trials.back().p99_ms);
      if (t.result.interrupted) {
        last = std::move(t);
        break;
      }
      if (valid) {
        lo = qps;
        best = std::move(t);
        if (k == 0) break;  // valid at the offline rate: nothing above it to find
      } else {
        hi = qps;
        last = std::move(t);
      }
      if (hi - lo < kPeakResolution * rate) break;
      qps = (lo + hi) / 2;
    }
    if (best) report.peak_qps = lo;
    return best ? std::move(*best) : std::move(*last);
  }

  Trial run(ScenarioReport& report) {
    const double pairs_per_s = warm_up();
    const double rate = pairs_per_s / settings_.pairs.mean_pairs();
    spdlog::info("warm-up: {:.0f} pairs/s = {:.1f} queries/s", pairs_per_s, rate);
    Trial trial = settings_.find_peak ? find_peak(rate, report) : run_one(settings_, rate);
    front_.end();
    return trial;
  }

 private:
  Job& job_;
  Front& front_;
  const scenario::Settings& settings_;
};

std::string peak_lines(const ScenarioReport& report) {
  std::string out = fmt::format("\n================================================\nPeak search\n"
                                "================================================\n"
                                "Offline samples per second : {:.2f}\nOffline duration (s) : {:.2f}\n",
                                report.offline_samples_per_s, report.offline_seconds);
  for (const ScenarioTrial& t : report.trials) {
    out += fmt::format("target_qps {:>10.2f} : {:<7}  p99 {:.2f} ms  completed samples/s {:.2f}\n", t.target_qps,
                       t.valid ? "VALID" : "INVALID", t.p99_ms, t.samples_per_s);
  }
  out += report.peak_qps ? fmt::format("Peak VALID target_qps : {:.2f}\n", *report.peak_qps)
                         : std::string("Peak VALID target_qps : none of the trials was VALID\n");
  return out;
}

// The front's outputs: the summary (printed and --summary), --latency-log,
// the report with its scenario section, --out.
int write_front_outputs(const Job& job, const Trial& trial, const GatheredRun& run, int64_t pairs_scored,
                        const std::vector<float>& reference, Transport transport, ScenarioReport scenario) {
  const ScenarioOptions& so = *job.opt.scenario;
  scenario.result = trial.result;
  scenario.summary = scenario::summary_text(trial.result, "dlrm-cluster");
  if (so.settings.find_peak) scenario.summary += peak_lines(scenario);
  if (!job.opt.quiet) std::cout << scenario.summary << std::flush;
  if (!so.summary.empty()) {
    write_text_file(so.summary, scenario.summary);
    spdlog::info("summary written to {}", so.summary.string());
  }
  if (!so.latency_log.empty()) {
    scenario::write_latency_log(so.latency_log, trial.records);
    spdlog::info("latency log written to {}", so.latency_log.string());
  }
  Report report;
  describe_run(job, transport, report);
  const bool accuracy = so.settings.mode == scenario::Mode::kAccuracy;
  summarize_run(run, {accuracy && !job.opt.reference.empty() ? &reference : nullptr, job.opt.auc_budget},
                job.manifest.arch, element_bits(job.opt.wire_type(transport)) / 8, report);
  const scenario::ScenarioResult& r = trial.result;
  report.pairs = r.pairs;
  report.seconds = r.last_completed_s;
  report.pairs_per_s = r.pairs_per_s;
  // The exchange's bytes cover every pair scored: warm-up and every trial.
  report.exchange_bytes_per_pair =
      static_cast<double>(run.index_bytes + run.pooled_bytes) / static_cast<double>(std::max<int64_t>(1, pairs_scored));
  if (r.queries > 0) {
    report.latency_p50_ms = r.percentile_ns(0.5) * 1e-6;
    report.latency_p95_ms = r.percentile_ns(0.95) * 1e-6;
    report.latency_p99_ms = r.percentile_ns(0.99) * 1e-6;
  }
  report.scenario = std::move(scenario);
  return write_outputs(job, report, accuracy ? trial.predictions : std::vector<float>{});
}

RankResult front_result(const Job& job, const Trial& trial, const std::vector<int32_t>& labels) {
  RankResult r;
  r.facts.rank = job.world_rank;
  r.facts.role = Role::kFront;
  r.facts.host = job.host;
  r.facts.peak_rss_bytes = peak_rss_bytes();
  if (job.opt.scenario->settings.mode == scenario::Mode::kAccuracy) {
    r.predictions = trial.predictions;
    r.labels = labels;
  }
  return r;
}

RankResult worker_result(const Job& job, const Worker& w, const Exchange& exchange, double seconds,
                         double load_seconds) {
  RankResult r;
  r.facts = worker_facts(job, load_seconds);
  RankReport& me = r.facts;
  if (job.dense) {
    me.samples = w.ranks.source->pairs();
    me.stage_seconds = w.ranks.loop->stage_seconds();
  }
  finish_worker_result(r, w.ranks.shard.get(), exchange, seconds);
  return r;
}

}  // namespace

ClusterOutcome run_scenario(const ClusterOptions& options, MPI_Comm world) {
  DLRM_ASSERT(options.scenario.has_value());
  // Ctrl-C, SIGTERM or SIGUSR2 (which mpirun passes on to every rank, and
  // dlrm-launch sends for a first Ctrl-C): the front stops issuing, lets the
  // queries outstanding complete and writes what ran; the other ranks go on
  // until the front ends them. The same signal again kills at once. (mpirun's
  // own answer to SIGINT, SIGTERM to every rank, is followed by SIGKILL about
  // a second later, which an overloaded front's drain does not survive.)
  install_interrupt_handler(true);
  Job job(options, world);
  job.t_entry = options.start_time > 0 ? options.start_time : steady_seconds();
  start_job(job, true);
  check_scenario(job);
  const RoutingTable routing(job.manifest);
  const bool accuracy = options.scenario->settings.mode == scenario::Mode::kAccuracy;
  Worker worker;
  std::vector<int32_t> labels;
  std::vector<float> reference;
  job.check("setting aside shared memory for the rows", capture([&] { share_rows(job); }));
  job.check("loading shards and data", capture([&] {
              if (job.front) {
                reference = check_outputs(job);
                if (accuracy) labels = load_labels(job);
              } else {
                load_worker(job, routing, worker);
              }
            }));
  check_mpi(MPI_Barrier(world), "barrier");
  const double load_seconds = steady_seconds() - job.t_entry;
  std::optional<Exchange> exchange;
  job.check("opening the exchange", capture([&] {
              if (!job.front) open_exchange(job, routing, exchange);
            }));
  // The front reports the transport the shard and dense ranks resolved.
  int transport = exchange ? static_cast<int>(exchange->transport()) : 0;
  check_mpi(MPI_Bcast(&transport, 1, MPI_INT, 1, world), "broadcast of the transport");
  ClusterOutcome outcome;
  if (job.front) {
    std::vector<int> dense;
    for (int r : job.roles.dense_rank) dense.push_back(job.world_rank_of(r));
    Front front({world, dense, job.batch, job.samples, options.scenario->progress});
    ScenarioReport scenario;
    const Trial trial = FrontDriver(job, front).run(scenario);
    const GatheredRun run = gather_run(world, front_result(job, trial, labels), accuracy ? job.samples : 0);
    outcome.exit_code =
        write_front_outputs(job, trial, run, front.pairs(), reference, static_cast<Transport>(transport),
                            std::move(scenario));
    // Stopped by a signal: what ran is written, and the exit says it was cut short.
    if (outcome.exit_code == 0 && trial.result.interrupted) outcome.exit_code = 130;
    return outcome;
  }
  const double t0 = steady_seconds();
  worker.ranks.run(*exchange);
  exchange->finish();
  const double seconds = steady_seconds() - t0;
  gather_run(world, worker_result(job, worker, *exchange, seconds, load_seconds), accuracy ? job.samples : 0);
  release_rows(job);
  return outcome;
}

}  // namespace dlrm::cluster
