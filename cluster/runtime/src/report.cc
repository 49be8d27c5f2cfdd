#include "dlrm/cluster/report.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/json.h"
#include "dlrm/common/progress.h"
#include "dlrm/common/staged_output.h"

namespace dlrm::cluster {

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::kReadInput: return "read_input";
    case Stage::kRoute: return "route";
    case Stage::kExchangeIndices: return "exchange_indices";
    case Stage::kBottomMlp: return "bottom_mlp";
    case Stage::kExchangePooled: return "exchange_pooled";
    case Stage::kLocalPool: return "local_pool";
    case Stage::kAssemble: return "assemble";
    case Stage::kInteraction: return "interaction";
    case Stage::kTopMlp: return "top_mlp";
    case Stage::kShardWait: return "shard_wait";
    case Stage::kPool: return "pool";
    case Stage::kCount: break;
  }
  return "?";
}

bool is_dense_stage(Stage stage) { return stage < Stage::kShardWait; }

namespace {

void write_rank(JsonWriter& w, const RankReport& rank) {
  w.begin_object();
  w.field("rank", rank.rank);
  w.field("role", to_string(rank.role));
  w.field("index", rank.index);
  w.field("host", rank.host);
  w.field("threads", rank.threads);
  w.field("peak_rss_bytes", rank.peak_rss_bytes);
  w.field("embedding_bytes", rank.embedding_bytes);
  w.field("embedding_resident_bytes", rank.embedding_resident_bytes);
  w.field("samples", rank.samples);
  w.field("load_seconds", rank.load_seconds);
  w.begin_object("stage_seconds");
  for (int s = 0; s < kStageCount; ++s) {
    Stage stage = static_cast<Stage>(s);
    if (rank.role == (is_dense_stage(stage) ? Role::kDense : Role::kShard)) w.field(stage_name(stage), rank.stage_seconds[s]);
  }
  w.end_object();
  w.end_object();
}

void write_scenario(JsonWriter& w, const ScenarioReport& report) {
  const scenario::ScenarioResult& r = report.result;
  const scenario::Settings& s = r.settings;
  w.begin_object("scenario");
  w.field("name", scenario::to_string(s.scenario));
  w.field("mode", scenario::to_string(s.mode));
  // LoadGen judges no result in accuracy mode: null there.
  const bool accuracy = s.mode == scenario::Mode::kAccuracy;
  w.field("valid", accuracy ? std::optional<bool>{} : std::optional<bool>{r.valid()});
  w.field("interrupted", r.interrupted);
  w.begin_object("settings");
  w.field("target_qps", s.target_qps);
  w.field("latency_bound_ms", s.latency_bound_ms);
  w.field("min_duration_s", s.min_duration_s);
  w.field("min_query_count", s.min_query_count);
  w.field("pairs_per_query", s.pairs.describe());
  w.field("max_wait_us", s.max_wait_us);
  w.field("seed", s.seed);
  w.end_object();
  w.field("queries", r.queries);
  w.field("pairs", r.pairs);
  w.field("samples_per_s", r.samples_per_s);
  w.field("scheduled_samples_per_s", r.scheduled_samples_per_s);
  w.field("pairs_per_s", r.pairs_per_s);
  w.field("duration_s", r.last_completed_s);
  w.begin_object("latency_ns");
  w.field("min", r.min_ns);
  w.field("max", r.max_ns);
  w.field("mean", r.mean_ns);
  for (const auto& p : r.percentiles) w.field(fmt::format("p{}", p.q * 100), p.ns);
  w.end_object();
  if (!accuracy) {
    w.begin_object("constraints");
    if (r.has_perf_constraint) w.field("performance", r.perf_ok);
    w.field("min_duration", r.duration_ok);
    w.field("min_queries", r.queries_ok);
    w.field("early_stopping", r.early_ok);
    w.end_object();
  }
  if (s.scenario == scenario::Scenario::kSingleStream) {
    w.field("p90_latency_ns", r.metric_ns);
    w.field("early_stopping_p90_estimate_ns", r.early_estimate_ns);
  }
  if (report.peak_qps || !report.trials.empty()) {
    w.field("offline_samples_per_s", report.offline_samples_per_s);
    w.field("offline_seconds", report.offline_seconds);
    w.field("peak_qps", report.peak_qps);
    w.begin_array("trials");
    for (const ScenarioTrial& t : report.trials) {
      w.begin_object();
      w.field("target_qps", t.target_qps);
      w.field("valid", t.valid);
      w.field("p99_ms", t.p99_ms);
      w.field("samples_per_s", t.samples_per_s);
      w.end_object();
    }
    w.end_array();
  }
  w.end_object();
}

}  // namespace

std::string report_json(const Report& r) {
  JsonWriter w({.max_decimal_places = 9});
  w.begin_object();
  w.field("model", r.model);
  w.field("data", r.data);
  w.field("dtype", r.dtype);
  w.field("plan", r.plan);
  w.field("batch", r.batch);
  w.field("shards", r.shards);
  w.field("dense_ranks", r.dense_ranks);
  w.field("batches", r.batches);
  w.field("pairs", r.pairs);
  w.field("seconds", r.seconds);
  w.field("pairs_per_s", r.pairs_per_s);
  w.field("load_seconds", r.load_seconds);
  w.field("auc", r.auc);
  w.field("reference_max_abs_diff", r.reference_max_abs_diff);
  w.field("reference_auc", r.reference_auc);
  w.field("auc_budget", r.auc_budget);
  w.field("auc_within_budget", r.auc_within_budget);
  w.field("mlp", r.mlp);
  w.field("interaction", r.interaction);
  w.begin_object("latency_ms");
  w.field("p50", r.latency_p50_ms);
  w.field("p95", r.latency_p95_ms);
  w.field("p99", r.latency_p99_ms);
  w.end_object();
  w.begin_object("stage_seconds");
  for (const auto& [name, secs] : r.stage_seconds) w.field(name, secs);
  w.end_object();
  w.field("exchange_bytes_per_pair", r.exchange_bytes_per_pair);
  w.field("index_bytes_per_pair", r.index_bytes_per_pair);
  w.field("pooled_bytes_per_pair", r.pooled_bytes_per_pair);
  w.field("minimum_bytes_per_pair", r.minimum_bytes_per_pair);
  w.field("exchange_type", r.exchange_type);
  w.field("exchange_transport", r.exchange_transport);
  w.begin_object("exchange_bytes");
  w.field("indices", r.index_bytes);
  w.field("pooled", r.pooled_bytes);
  w.end_object();
  w.begin_array("ranks");
  for (const auto& rank : r.ranks) write_rank(w, rank);
  w.end_array();
  if (r.scenario) write_scenario(w, *r.scenario);
  w.end_object();
  return w.str();
}

void write_report(const Report& report, const std::filesystem::path& path) {
  write_text_file(path, report_json(report));
}

std::string exchange_summary(const Report& r) {
  if (r.exchange_transport == "pool") {
    return "none: the dense ranks pooled the rows themselves from the shards' shared memory (pool)";
  }
  return fmt::format("{:.0f} bytes/pair (indices {:.0f} out, rows {:.0f} back; minimum {:.0f}, {:.3f}x), pooled rows "
                     "as {} by {}",
                     r.exchange_bytes_per_pair, r.index_bytes_per_pair, r.pooled_bytes_per_pair,
                     r.minimum_bytes_per_pair, r.exchange_bytes_per_pair / std::max(1.0, r.minimum_bytes_per_pair),
                     r.exchange_type, r.exchange_transport);
}

std::string report_table(const Report& r) {
  auto opt = [](const std::optional<double>& v, const char* fmt_str) {
    return v && std::isfinite(*v) ? fmt::format(fmt::runtime(fmt_str), *v) : std::string("n/a");
  };
  std::string out;
  out += fmt::format(
      "dlrm-cluster: {} pairs in {:.3f} s = {:.0f} pairs/s  ({} shard + {} dense ranks, batch {}, {} tables, {} MLPs{})\n",
      r.pairs, r.seconds, r.pairs_per_s, r.shards, r.dense_ranks, r.batch, r.dtype, r.mlp,
      r.interaction == "fp32" ? "" : ", " + r.interaction + " interaction");
  out += fmt::format("  latency per {:<6} p50 {:.2f} ms  p95 {:.2f} ms  p99 {:.2f} ms\n", r.scenario ? "query" : "batch", r.latency_p50_ms,
                     r.latency_p95_ms, r.latency_p99_ms);
  out += fmt::format("  accuracy           AUC {}  reference max |diff| {}", opt(r.auc, "{:.6f}"),
                     opt(r.reference_max_abs_diff, "{:.3g}"));
  if (r.reference_auc) {
    out += fmt::format("  reference AUC {:.6f} (budget {:.3g}%: {})", *r.reference_auc, 100 * r.auc_budget,
                       r.auc_within_budget.value_or(false) ? "within" : "EXCEEDED");
  }
  out += "\n";
  out += fmt::format("  exchange           {}  load {:.2f} s\n", exchange_summary(r), r.load_seconds);
  std::string stages;
  for (const auto& [name, secs] : r.stage_seconds) stages += fmt::format(" {} {:.3f}", name, secs);
  out += "  stage seconds     " + stages + "\n";
  out += fmt::format("  {:>4}  {:<5}  {:<16}  {:>7}  {:>12}  {:>12}  {:>10}\n", "rank", "role", "host", "threads",
                     "embedding", "peak RSS", "samples");
  for (const auto& rank : r.ranks) {
    out += fmt::format("  {:>4}  {:<5}  {:<16}  {:>7}  {:>12}  {:>12}  {:>10}\n", rank.rank, to_string(rank.role),
                       rank.host.substr(0, 16), rank.threads, format_bytes(rank.embedding_bytes),
                       format_bytes(rank.peak_rss_bytes), rank.samples);
  }
  return out;
}

}  // namespace dlrm::cluster
