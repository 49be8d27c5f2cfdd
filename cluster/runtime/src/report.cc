#include "dlrm/cluster/report.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cmath>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
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

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void put(Writer& w, const char* key, double v) {
  w.Key(key);
  if (std::isfinite(v)) {
    w.Double(v);
  } else {
    w.Null();
  }
}
void put(Writer& w, const char* key, const std::optional<double>& v) {
  w.Key(key);
  if (v && std::isfinite(*v)) {
    w.Double(*v);
  } else {
    w.Null();
  }
}
void put(Writer& w, const char* key, int64_t v) {
  w.Key(key);
  w.Int64(v);
}
void put(Writer& w, const char* key, uint64_t v) {
  w.Key(key);
  w.Uint64(v);
}
void put(Writer& w, const char* key, int v) {
  w.Key(key);
  w.Int(v);
}
void put(Writer& w, const char* key, const std::string& v) {
  w.Key(key);
  w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

}  // namespace

std::string report_json(const Report& r) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.SetMaxDecimalPlaces(9);
  w.StartObject();
  put(w, "model", r.model);
  put(w, "data", r.data);
  put(w, "dtype", r.dtype);
  put(w, "plan", r.plan);
  put(w, "batch", r.batch);
  put(w, "shards", r.shards);
  put(w, "dense_ranks", r.dense_ranks);
  put(w, "batches", r.batches);
  put(w, "pairs", r.pairs);
  put(w, "seconds", r.seconds);
  put(w, "pairs_per_s", r.pairs_per_s);
  put(w, "load_seconds", r.load_seconds);
  put(w, "auc", r.auc);
  put(w, "reference_max_abs_diff", r.reference_max_abs_diff);
  put(w, "reference_auc", r.reference_auc);
  put(w, "auc_budget", r.auc_budget);
  w.Key("auc_within_budget");
  if (r.auc_within_budget) {
    w.Bool(*r.auc_within_budget);
  } else {
    w.Null();
  }
  put(w, "mlp", r.mlp);
  put(w, "interaction", r.interaction);
  w.Key("latency_ms");
  w.StartObject();
  put(w, "p50", r.latency_p50_ms);
  put(w, "p95", r.latency_p95_ms);
  put(w, "p99", r.latency_p99_ms);
  w.EndObject();
  w.Key("stage_seconds");
  w.StartObject();
  for (const auto& [name, secs] : r.stage_seconds) put(w, name.c_str(), secs);
  w.EndObject();
  put(w, "exchange_bytes_per_pair", r.exchange_bytes_per_pair);
  put(w, "minimum_bytes_per_pair", r.minimum_bytes_per_pair);
  put(w, "exchange_type", r.exchange_type);
  put(w, "exchange_transport", r.exchange_transport);
  w.Key("exchange_bytes");
  w.StartObject();
  put(w, "indices", r.index_bytes);
  put(w, "pooled", r.pooled_bytes);
  w.EndObject();
  w.Key("ranks");
  w.StartArray();
  for (const auto& rank : r.ranks) {
    w.StartObject();
    put(w, "rank", rank.rank);
    put(w, "role", std::string(to_string(rank.role)));
    put(w, "index", rank.index);
    put(w, "host", rank.host);
    put(w, "threads", rank.threads);
    put(w, "peak_rss_bytes", rank.peak_rss_bytes);
    put(w, "embedding_bytes", rank.embedding_bytes);
    put(w, "embedding_resident_bytes", rank.embedding_resident_bytes);
    put(w, "samples", rank.samples);
    put(w, "load_seconds", rank.load_seconds);
    w.Key("stage_seconds");
    w.StartObject();
    for (int s = 0; s < kStageCount; ++s) {
      Stage stage = static_cast<Stage>(s);
      if (is_dense_stage(stage) == (rank.role == Role::kDense)) put(w, stage_name(stage), rank.stage_seconds[s]);
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

void write_report(const Report& report, const std::filesystem::path& path) {
  std::string text = report_json(report);
  StagedFile out(path);
  out.write(text.data(), text.size());
  out.commit();
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
  out += fmt::format("  latency per batch  p50 {:.2f} ms  p95 {:.2f} ms  p99 {:.2f} ms\n", r.latency_p50_ms,
                     r.latency_p95_ms, r.latency_p99_ms);
  out += fmt::format("  accuracy           AUC {}  reference max |diff| {}", opt(r.auc, "{:.6f}"),
                     opt(r.reference_max_abs_diff, "{:.3g}"));
  if (r.reference_auc) {
    out += fmt::format("  reference AUC {:.6f} (budget {:.3g}%: {})", *r.reference_auc, 100 * r.auc_budget,
                       r.auc_within_budget.value_or(false) ? "within" : "EXCEEDED");
  }
  out += "\n";
  out += fmt::format("  exchange           {:.0f} bytes/pair (minimum {:.0f}, pooled rows as {} by {})  load {:.2f} s\n",
                     r.exchange_bytes_per_pair, r.minimum_bytes_per_pair, r.exchange_type, r.exchange_transport,
                     r.load_seconds);
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
