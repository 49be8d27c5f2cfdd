// dlrm-bench: the cluster's throughput against the bound that matters, in one run.
//   mpirun -n R dlrm-bench --model DIR --data FILE [--batch N] [--json OUT]
//
// 1. MLP-only bound: on the dense ranks, with the threads and cores the
//    cluster gets, the bottom and top MLPs (and a dcn model's cross network)
//    run back to back on oneDNN with nothing else (shard ranks sleep).
//    Pairs/s over all dense ranks, in the fastest of --bound-windows windows
//    (a window's time is its slowest rank's): the best these cores do, not
//    an average over whatever else the machine ran meanwhile.
//    After it, the arithmetic peaks of the same cores (dense/peak.h: fp32
//    FMAs, int8 VNNI), so the bound can be read against what the silicon
//    does: the fastest of 5 windows over every trial.
// 2. The cluster itself on the data (after untimed warm-up batches).
// 3. Correctness: the cluster's predictions against the single-process _ref
//    path on the first --check samples.
// --repeat N does 1 and 2 N times, alternating, and reports the trial with
// the median ratio (and every trial): on a shared machine the bound and the
// cluster each move by 10-30% between seconds, and the median of alternating
// pairs is the figure that reproduces.
// Rank 0 prints the ratio, the per-stage breakdown and bytes exchanged per
// pair against the minimum; --json writes the same for machines.
#include <CLI/CLI.hpp>
#include <mpi.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>

#include "dlrm/datasets/dataset.h"
#include "dlrm/dense/model_mlps.h"
#include "dlrm/cluster/mpi_util.h"
#include "dlrm/datasets/open.h"
#include "dlrm/cluster/run.h"
#include "dlrm/reference/reference_model.h"
#include "dlrm/cluster/roles.h"
#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/json.h"
#include "dlrm/common/log.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/dense/mlp.h"
#include "dlrm/dense/peak.h"
#include "dlrm/model/manifest.h"
#include "mpi_program.h"

namespace fs = std::filesystem;
using namespace dlrm;
using namespace dlrm::cluster;
using namespace dlrm::datasets;
using namespace dlrm::reference;
using namespace dlrm::dense;
using namespace dlrm::tools;

namespace {

constexpr uint64_t kInputSeed = 42;
// Predictions within this of the fp32 _ref path count as correct; the
// derivation is in tests/cluster_mpi/check_run.py (MLP and interaction
// summation order).
constexpr double kTolerance = 1e-5;
// With int8 MLPs, quantized tables or 16-bit pooled rows the check is against
// fp32 too, so it bounds the quantization error instead: 1e-2 is the bound
// tests/dense/mlp_int8_test.cc establishes for int8 DLRM MLPs, doubled for
// the other roundings (int4 tables measured 5.7e-3 in cluster_mpi.quantized).
constexpr double kQuantizedTolerance = 2e-2;

struct BenchOptions {
  ClusterOptions cluster;
  int repeat = 1;
  int mlp_batches = 200;
  int bound_windows = 5;
  int check = 1024;
  fs::path json;
};

struct Bound {
  double pairs_per_s = 0;          // the fastest window
  double median_pairs_per_s = 0;   // the median window
  double whole_pairs_per_s = 0;    // every window together (the bound before windows)
  int windows = 0;
  double seconds = 0;
  int64_t pairs = 0;
};

// Bottom MLP, cross network (dcn models) and top MLP back to back on every
// dense rank (those with `mlps`) at the same time.
Bound measure_mlp_bound(const BenchOptions& opt, DenseMlps* mlps_or_null, const model::Manifest& manifest,
                        const Roles& roles, int threads, MPI_Comm comm) {
  const int batch = opt.cluster.batch;
  // --mlp-batches in windows of sizes differing by at most one batch.
  const int windows = std::clamp(opt.bound_windows, 1, opt.mlp_batches);
  std::vector<int> sizes(windows, opt.mlp_batches / windows);
  for (int w = 0; w < opt.mlp_batches % windows; ++w) ++sizes[w];
  std::vector<double> seconds(windows, 0.0);
  if (mlps_or_null) {
    DenseMlps& mlps = *mlps_or_null;
    omp_set_num_threads(threads);
    mlps.prepare(batch);
    std::mt19937 rng(kInputSeed);
    std::uniform_real_distribution<float> uniform(0.f, 1.f);
    std::vector<float> x_in(static_cast<size_t>(batch) * mlps.bottom_in()),
        x(static_cast<size_t>(batch) * manifest.arch.dim);
    std::vector<float> top_in(static_cast<size_t>(batch) * mlps.top_in()), out(batch);
    // A dcn model's bound includes the cross network, on x0 and into top_in.
    std::vector<float> x0(static_cast<size_t>(batch) * mlps.cross_width());
    for (auto& v : x_in) v = uniform(rng);
    for (auto& v : top_in) v = uniform(rng);
    for (auto& v : x0) v = uniform(rng);
    auto step = [&] {
      mlps.bottom(x_in.data(), batch, x.data());
      if (!x0.empty()) mlps.cross(x0.data(), batch, top_in.data());
      mlps.top(top_in.data(), batch, out.data());
    };
    for (int i = 0; i < 10; ++i) step();  // warm-up: primitives, caches, frequency
    check_mpi(MPI_Barrier(comm), "barrier");
    for (int w = 0; w < windows; ++w) {
      const double t0 = MPI_Wtime();
      for (int i = 0; i < sizes[w]; ++i) step();
      seconds[w] = MPI_Wtime() - t0;
    }
  } else {
    check_mpi(MPI_Barrier(comm), "barrier");
  }
  // Shard ranks sleep through the measurement (wait_idle backs off).
  MPI_Request request;
  check_mpi(MPI_Ibarrier(comm, &request), "barrier");
  wait_idle(&request);
  // Each window's time on its slowest rank.
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, seconds.data(), windows, MPI_DOUBLE, MPI_MAX, comm), "allreduce");
  std::vector<double> rates(windows, 0.0);
  for (int w = 0; w < windows; ++w) {
    rates[w] = seconds[w] > 0 ? static_cast<double>(sizes[w]) * batch * roles.dense_ranks() / seconds[w] : 0;
  }
  Bound bound;
  bound.windows = windows;
  bound.pairs = static_cast<int64_t>(opt.mlp_batches) * batch * roles.dense_ranks();
  for (double s : seconds) bound.seconds += s;
  bound.whole_pairs_per_s = bound.seconds > 0 ? bound.pairs / bound.seconds : 0;
  std::sort(rates.begin(), rates.end());
  bound.pairs_per_s = rates.back();
  bound.median_pairs_per_s = rates[(windows - 1) / 2];
  return bound;
}

// The arithmetic peaks of the dense ranks' cores (dense/peak.h): every dense
// rank on its threads at once, as the bound runs, after each trial's bound;
// shard ranks sleep. Summed over the dense ranks; the fastest window of all
// trials, as the bound is the fastest of its windows.
struct Peak {
  double fma_flops_per_s = 0;
  double vnni_ops_per_s = 0;  // 0: no AVX512-VNNI in this build
  // The peak of the MLPs' precision: fp32 FMAs, or int8 VPDPBUSD for --mlp int8.
  double of(ElementType mlp) const { return mlp == ElementType::kInt8 ? vnni_ops_per_s : fma_flops_per_s; }
};

struct Trial {
  Bound bound;
  double cluster_pairs_per_s = 0;
  double ratio() const { return bound.pairs_per_s > 0 ? cluster_pairs_per_s / bound.pairs_per_s : 0; }
};

// The bound in operations per second: 2 per multiply-add of the MLPs (and
// cross network), fp32 FLOP or int8 ops.
double bound_ops(const Bound& bound, int64_t macs_per_pair) { return bound.pairs_per_s * 2.0 * macs_per_pair; }

std::string bench_json(const BenchOptions& opt, const Bound& bound, const ClusterOutcome& run, double check_diff,
                       int64_t checked, int threads, double tolerance, const std::vector<Trial>& trials,
                       const Peak& peak, int64_t macs_per_pair) {
  const Report& r = run.report;
  JsonWriter w;
  w.begin_object();
  w.field("model", opt.cluster.model.string());
  w.field("batch", opt.cluster.batch);
  w.field("shards", r.shards);
  w.field("dense_ranks", r.dense_ranks);
  w.field("threads_per_dense_rank", threads);
  w.field("mlp", to_string(opt.cluster.mlp));
  w.field("interaction", to_string(opt.cluster.interaction));
  w.field("mlp_bound_pairs_per_s", bound.pairs_per_s);
  w.field("mlp_bound_windows", bound.windows);
  w.field("mlp_bound_median_window_pairs_per_s", bound.median_pairs_per_s);
  w.field("mlp_bound_whole_pairs_per_s", bound.whole_pairs_per_s);
  w.field("dense_macs_per_pair", macs_per_pair);
  w.field("mlp_bound_gops", bound_ops(bound, macs_per_pair) / 1e9);
  w.field("fma_peak_gflops", peak.fma_flops_per_s / 1e9);
  w.field("fma_peak_instruction", fma_peak_instruction());
  w.field("vnni_peak_gops", peak.vnni_ops_per_s / 1e9);
  w.field("vnni_peak_instruction", vnni_peak_instruction());
  const double of = peak.of(opt.cluster.mlp);
  w.field("mlp_bound_fraction_of_peak", of > 0 ? bound_ops(bound, macs_per_pair) / of : 0);
  w.field("cluster_pairs_per_s", r.pairs_per_s);
  w.field("ratio", bound.pairs_per_s > 0 ? r.pairs_per_s / bound.pairs_per_s : 0);
  w.field("correct", check_diff <= tolerance);
  w.field("check_tolerance", tolerance);
  w.field("exchange_type", r.exchange_type);
  w.field("exchange_transport", r.exchange_transport);
  w.field("check_samples", checked);
  w.field("check_max_abs_diff", check_diff);
  w.field("exchange_bytes_per_pair", r.exchange_bytes_per_pair);
  w.field("minimum_bytes_per_pair", r.minimum_bytes_per_pair);
  w.begin_object("latency_ms");
  w.field("p50", r.latency_p50_ms);
  w.field("p95", r.latency_p95_ms);
  w.field("p99", r.latency_p99_ms);
  w.end_object();
  w.begin_object("stage_seconds");
  for (const auto& [name, secs] : r.stage_seconds) w.field(name, secs);
  w.end_object();
  w.field("cluster_seconds", r.seconds);
  w.field("load_seconds", r.load_seconds);
  w.field("pairs", r.pairs);
  w.field("auc", r.auc);
  w.begin_array("trials");
  for (const Trial& t : trials) {
    w.begin_object();
    w.field("mlp_bound_pairs_per_s", t.bound.pairs_per_s);
    w.field("mlp_bound_median_window_pairs_per_s", t.bound.median_pairs_per_s);
    w.field("mlp_bound_whole_pairs_per_s", t.bound.whole_pairs_per_s);
    w.field("cluster_pairs_per_s", t.cluster_pairs_per_s);
    w.field("ratio", t.ratio());
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.str();
}

// What every rank knows before the trials.
struct Setup {
  model::Manifest manifest;
  Roles roles;
  datasets::DataShape shape;
  int threads = 1;        // this rank's
  int dense_threads = 1;  // a dense rank's (the most of any), for rank 0's log and report
  double tolerance = kTolerance;
  std::optional<DenseMlps> mlps;  // dense ranks: the MLPs of the bound, loaded once for every trial
};

// Manifest, roles, the cluster's own choice of threads and of the batch
// (lowered to the samples a dense rank gets when --batch is more): the bound
// runs the same.
Setup prepare(BenchOptions& opt, int rank, int size, MPI_Comm comm) {
  Setup setup;
  collective_check(comm, "loading the model manifest",
                   capture([&] { setup.manifest = model::load_manifest(opt.cluster.model); }), {});
  const char* placement = std::getenv("DLRM_SHARD_RANKS");
  collective_check(comm, "assigning roles", capture([&] {
                     setup.roles = assign_roles(rank, size, setup.manifest.num_shards(), placement ? placement : "");
                   }),
                   {});
  const bool dense = setup.roles.my_role() == Role::kDense;
  setup.shape = {setup.manifest.arch.dense_features, setup.manifest.arch.num_tables(), setup.manifest.arch.hotness};
  setup.threads = choose_threads(comm, dense, opt.cluster.threads);
  opt.cluster.threads = setup.threads;
  setup.dense_threads = dense ? setup.threads : 1;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &setup.dense_threads, 1, MPI_INT, MPI_MAX, comm), "allreduce");
  int64_t samples = 0;
  collective_check(comm, "reading the data", capture([&] {
                     if (dense) samples = count_samples(opt.cluster.data, setup.shape);
                   }),
                   {});
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &samples, 1, MPI_INT64_T, MPI_MAX, comm), "allreduce");
  if (opt.cluster.limit > 0) samples = std::min(samples, opt.cluster.limit);
  if (samples > 0) opt.cluster.batch = effective_batch(opt.cluster.batch, samples, setup.roles.dense_ranks());
  if (dense) {
    omp_set_num_threads(setup.threads);
    setup.mlps.emplace(opt.cluster.model, setup.manifest, opt.cluster.mlp);
  }
  // (Before the run resolves its transport: a pool run, fp32 rows, passes the tighter check too.)
  if (opt.cluster.mlp != ElementType::kFp32 || opt.cluster.pooled_type != ElementType::kFp32 ||
      opt.cluster.interaction != ElementType::kFp32 || !setup.manifest.all_fp32()) {
    setup.tolerance = kQuantizedTolerance;
  }
  opt.cluster.quiet = true;
  return setup;
}

// Called after each trial's bound: the peaks in `peak` rise to the fastest
// window seen so far.
void measure_peak(const Setup& setup, MPI_Comm comm, Peak& peak) {
  constexpr double kSeconds = 0.2;  // each, in 5 windows
  double rates[2] = {0, 0};  // fp32 FMA, int8 VNNI
  check_mpi(MPI_Barrier(comm), "barrier");
  if (setup.mlps) {
    omp_set_num_threads(setup.threads);
    rates[0] = measure_fma_peak(kSeconds, 5).ops_per_s;
    rates[1] = measure_vnni_peak(kSeconds, 5).ops_per_s;
  }
  MPI_Request request;
  check_mpi(MPI_Ibarrier(comm, &request), "barrier");
  wait_idle(&request);
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, rates, 2, MPI_DOUBLE, MPI_SUM, comm), "allreduce");
  peak.fma_flops_per_s = std::max(peak.fma_flops_per_s, rates[0]);
  peak.vnni_ops_per_s = std::max(peak.vnni_ops_per_s, rates[1]);
}

// Alternating trials of bound and cluster; returns every trial, and the
// outcome of the one with the median ratio (on rank 0).
std::vector<Trial> run_trials(BenchOptions& opt, Setup& setup, int rank, MPI_Comm comm, int& median,
                              ClusterOutcome& outcome, Peak& peak) {
  std::vector<Trial> trials;
  std::vector<ClusterOutcome> outcomes;
  std::vector<std::pair<double, int>> order;
  for (int k = 0; k < opt.repeat; ++k) {
    if (rank == 0) {
      spdlog::info("trial {}/{}: MLP-only bound, {} batches of {} on {} dense ranks x {} threads", k + 1, opt.repeat,
                   opt.mlp_batches, opt.cluster.batch, setup.roles.dense_ranks(), setup.dense_threads);
    }
    Trial trial;
    trial.bound = measure_mlp_bound(opt, setup.mlps ? &*setup.mlps : nullptr, setup.manifest, setup.roles,
                                    setup.threads, comm);
    measure_peak(setup, comm, peak);
    if (rank == 0) spdlog::info("trial {}/{}: cluster run", k + 1, opt.repeat);
    if (k > 0) {
      opt.cluster.start_time = 0;                 // load time from the start of this trial's run
      opt.cluster.warn_unchecked_budget = false;  // said once, by the first trial
      opt.cluster.say_transport = false;          // the same
    }
    outcomes.push_back(run_cluster_outcome(opt.cluster, comm));
    trial.cluster_pairs_per_s = outcomes.back().report.pairs_per_s;
    trials.push_back(trial);
    order.emplace_back(trial.ratio(), k);
  }
  std::sort(order.begin(), order.end());
  median = order[(order.size() - 1) / 2].second;
  outcome = std::move(outcomes[median]);
  return trials;
}

// The correctness column: the largest |difference| from the single-process
// _ref path on the first --check samples.
double check_against_ref(const BenchOptions& opt, const Setup& setup, const ClusterOutcome& outcome, int64_t checked) {
  if (checked <= 0) return 0;
  auto reference = ReferenceModel::load(opt.cluster.model, Kernels::kRef, /*verify=*/false);
  const SampleData held = open_samples(opt.cluster.data, setup.shape, 0, checked);  // only the checked samples
  const Dataset& data = held.data();
  std::vector<float> want(checked);
  reference.predict(data, 0, checked, want.data(), opt.cluster.fold_indices);
  double worst = 0;
  for (int64_t i = 0; i < checked; ++i) worst = std::max(worst, std::fabs(double(want[i]) - outcome.predictions[i]));
  return worst;
}

// The table for people.
void print_summary(const BenchOptions& opt, const Bound& bound, const Report& r, const std::vector<Trial>& trials,
                   int dense_threads, double check_diff, int64_t checked, double tolerance, const Peak& peak,
                   int64_t macs_per_pair) {
  const double ratio = bound.pairs_per_s > 0 ? r.pairs_per_s / bound.pairs_per_s : 0;
  std::printf("dlrm-bench: %s, %d shard + %d dense ranks x %d threads, batch %d, %s tables, %s MLPs, %s interaction\n",
              opt.cluster.model.c_str(), r.shards, r.dense_ranks, dense_threads, opt.cluster.batch, r.dtype.c_str(),
              r.mlp.c_str(), r.interaction.c_str());
  std::printf("  %-28s %12s %8s  %s\n", "", "pairs/s", "ratio", "check");
  std::printf("  %-28s %12.0f %8.3f  %s\n", fmt::format("MLP-only bound (oneDNN {})", to_string(opt.cluster.mlp)).c_str(),
              bound.pairs_per_s, 1.0,
              fmt::format("fastest of {} windows of {} batches; median window {:.0f}, all together {:.0f}",
                          bound.windows, opt.mlp_batches / bound.windows, bound.median_pairs_per_s,
                          bound.whole_pairs_per_s)
                  .c_str());
  std::printf("  %-28s %12.0f %8.3f  %s (max |diff| %.3g over %lld samples vs _ref)\n", "cluster", r.pairs_per_s,
              ratio, check_diff <= tolerance ? "ok" : "WRONG", check_diff, static_cast<long long>(checked));
  if (trials.size() > 1) {
    std::string list;
    std::vector<double> bounds, clusters;
    for (const Trial& t : trials) {
      list += fmt::format(" {:.3f}", t.ratio());
      bounds.push_back(t.bound.pairs_per_s);
      clusters.push_back(t.cluster_pairs_per_s);
    }
    const auto [bound_min, bound_max] = std::minmax_element(bounds.begin(), bounds.end());
    const auto [cluster_min, cluster_max] = std::minmax_element(clusters.begin(), clusters.end());
    std::printf("  trials: %zu, the median shown; ratios%s (bound %.0f..%.0f, cluster %.0f..%.0f pairs/s)\n",
                trials.size(), list.c_str(), *bound_min, *bound_max, *cluster_min, *cluster_max);
  }
  if (const double of = peak.of(opt.cluster.mlp); of > 0) {
    const bool int8 = opt.cluster.mlp == ElementType::kInt8;
    const double ops = bound_ops(bound, macs_per_pair);
    std::printf("  MLP-only bound: %.0f %s (%s multiply-adds per pair), %.2f of the %s peak of the dense ranks' "
                "cores, %.0f (%s)\n",
                ops / 1e9, int8 ? "GOP/s" : "GFLOP/s", group_digits(static_cast<uint64_t>(macs_per_pair)).c_str(),
                ops / of, int8 ? "int8" : "fp32", of / 1e9,
                int8 ? vnni_peak_instruction() : fma_peak_instruction());
  }
  std::printf("  latency per batch: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms\n", r.latency_p50_ms, r.latency_p95_ms,
              r.latency_p99_ms);
  std::printf("  exchange: %s\n", exchange_summary(r).c_str());
  uint64_t embedding_bytes = 0;
  for (const auto& entry : r.ranks) embedding_bytes += entry.embedding_bytes;
  std::printf("  load: %.2f s from start to first batch, %s of rows = %s/s\n", r.load_seconds,
              format_bytes(static_cast<double>(embedding_bytes)).c_str(),
              format_bytes(r.load_seconds > 0 ? embedding_bytes / r.load_seconds : 0.0).c_str());
  std::printf("  stage seconds (mean per rank of the role; cluster %.3f s):\n", r.seconds);
  for (const auto& [name, secs] : r.stage_seconds) {
    std::printf("    %-18s %8.3f  %5.1f%%\n", name.c_str(), secs, r.seconds > 0 ? 100.0 * secs / r.seconds : 0.0);
  }
}

int run(BenchOptions& opt, int rank, int size) {
  MPI_Comm comm = MPI_COMM_WORLD;
  Setup setup = prepare(opt, rank, size, comm);
  const int64_t macs_per_pair = setup.manifest.arch.dense_macs_per_pair();
  int median = 0;
  ClusterOutcome outcome;
  Peak peak;
  const std::vector<Trial> trials = run_trials(opt, setup, rank, comm, median, outcome, peak);
  if (rank != 0) return 0;
  const int64_t checked = std::min<int64_t>(opt.check, static_cast<int64_t>(outcome.predictions.size()));
  const double check_diff = check_against_ref(opt, setup, outcome, checked);
  const int dense_threads = setup.dense_threads;  // rank 0 is usually a shard rank: report the dense ranks' count
  const Bound& bound = trials[median].bound;
  print_summary(opt, bound, outcome.report, trials, dense_threads, check_diff, checked, setup.tolerance, peak,
                macs_per_pair);
  if (!opt.json.empty()) {
    write_text_file(opt.json, bench_json(opt, bound, outcome, check_diff, checked, dense_threads, setup.tolerance,
                                         trials, peak, macs_per_pair));
  }
  return check_diff <= setup.tolerance ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const double start_time = steady_seconds();
  const int rank = init_mpi_program(argc, argv, "dlrm-bench");
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  BenchOptions opt;
  opt.cluster.warmup_batches = 8;
  opt.cluster.start_time = start_time;
  CLI::App app{"dlrm-bench: cluster throughput against the oneDNN MLP-only bound, measured in the same run"};
  add_serving_options(app, opt.cluster);
  app.add_option("--data", opt.cluster.data,
                 "samples: MLPerf binary layout, an .npz of accuracy data, or dlrm-v2 multi-hot data (a directory "
                 "or day_N prefix)")
      ->required();
  app.add_option("--mlp-batches", opt.mlp_batches, "batches timed for the MLP-only bound")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--bound-windows", opt.bound_windows,
                 "split the bound's batches into N windows and take the fastest (1: the whole run)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--repeat", opt.repeat, "alternate bound and cluster N times; report the trial with the median ratio")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--check", opt.check, "samples checked against the _ref path")->capture_default_str();
  app.add_option("--json", opt.json, "write the results as JSON");
  return run_mpi_program(app, argc, argv, [&] { return run(opt, rank, size); });
}
