#include "dlrm/tune/trial.h"

#include <fmt/format.h>

#include "dlrm/common/format.h"
#include "dlrm/common/json.h"

namespace dlrm::tune {

std::string TrialConfig::layout_key() const {
  return fmt::format("{}/{}/{}", shard_cores, dense_per_node, threads_per_dense);
}

std::string TrialConfig::settings_key() const {
  return fmt::format("{} b{} {} {} {}", layout_key(), batch, exchange_dtype, exchange_transport, mlp);
}

std::string TrialConfig::key() const { return fmt::format("{} #{}", settings_key(), run); }

std::vector<std::string> TrialConfig::launch_args() const {
  std::vector<std::string> out = {"--shard-cores", shard_cores};
  if (dense_per_node > 0) out.insert(out.end(), {"--dense-per-node", std::to_string(dense_per_node)});
  if (threads_per_dense > 0) out.insert(out.end(), {"--threads-per-dense", std::to_string(threads_per_dense)});
  return out;
}

std::vector<std::string> TrialConfig::cluster_args() const {
  return {"--batch", std::to_string(batch), "--exchange-dtype", exchange_dtype, "--exchange-transport",
          exchange_transport, "--mlp", mlp};
}

const TrialResult* TuneResults::find(const std::string& key) const {
  for (const auto& t : trials) {
    if (t.config.key() == key) return &t;
  }
  return nullptr;
}

namespace {

const JsonSource kSource{"dlrm-tune results file", "remove it (or use another --out) to start the tune afresh"};

void write_trial(JsonWriter& w, const TrialResult& t) {
  const TrialConfig& c = t.config;
  w.begin_object();
  w.field("key", c.key());
  w.field("stage", t.stage);
  w.field("layout", t.layout);
  w.field("shard_cores", c.shard_cores);
  w.field("dense_per_node", c.dense_per_node);
  w.field("threads_per_dense", c.threads_per_dense);
  w.field("batch", c.batch);
  w.field("exchange_dtype", c.exchange_dtype);
  w.field("exchange_transport", c.exchange_transport);
  w.field("mlp", c.mlp);
  w.field("run", c.run);
  w.field("ok", t.ok);
  w.field("error", t.error);
  w.field("seconds", t.seconds);
  w.field("pairs_per_s", t.pairs_per_s);
  w.field("mlp_bound_pairs_per_s", t.mlp_bound_pairs_per_s);
  w.field("ratio", t.ratio);
  w.field("p50_ms", t.p50_ms);
  w.field("p99_ms", t.p99_ms);
  w.field("peak_qps", t.peak_qps);
  w.field("valid", t.valid);
  w.end_object();
}

std::optional<double> optional_number(const JsonValue& v) {
  return v.is_null() ? std::nullopt : std::optional<double>(v.get<double>());
}

TrialResult read_trial(const JsonValue& v) {
  TrialResult t;
  TrialConfig& c = t.config;
  t.stage = v["stage"].get<std::string>();
  t.layout = v["layout"].get<std::string>();
  c.shard_cores = v["shard_cores"].get<std::string>();
  c.dense_per_node = v["dense_per_node"].get<int>();
  c.threads_per_dense = v["threads_per_dense"].get<int>();
  c.batch = v["batch"].get<int>();
  c.exchange_dtype = v["exchange_dtype"].get<std::string>();
  c.exchange_transport = v["exchange_transport"].get<std::string>();
  c.mlp = v["mlp"].get<std::string>();
  c.run = v["run"].get<int>();
  if (v["key"].get<std::string>() != c.key()) v["key"].fail("does not match the trial's settings (" + c.key() + ")");
  t.ok = v["ok"].get<bool>();
  t.error = v["error"].get<std::string>();
  t.seconds = v["seconds"].get<double>();
  t.pairs_per_s = v["pairs_per_s"].get<double>();
  t.mlp_bound_pairs_per_s = v["mlp_bound_pairs_per_s"].get<double>();
  t.ratio = v["ratio"].get<double>();
  t.p50_ms = v["p50_ms"].get<double>();
  t.p99_ms = v["p99_ms"].get<double>();
  t.peak_qps = optional_number(v["peak_qps"]);
  if (!v["valid"].is_null()) t.valid = v["valid"].get<bool>();
  return t;
}

std::string optional_text(const std::optional<double>& v) { return v ? fmt::format("{}", *v) : ""; }

}  // namespace

std::string results_json(const TuneResults& results) {
  JsonWriter w;
  w.begin_object();
  w.begin_object("dlrm_tune_results");
  w.field("format_version", 1);
  w.begin_object("settings");
  w.field("model", results.settings.model);
  w.field("hostfile", results.settings.hostfile);
  w.field("data", results.settings.data);
  w.field("latency_bound_ms", results.settings.latency_bound_ms);
  w.end_object();
  w.begin_array("trials");
  for (const auto& t : results.trials) write_trial(w, t);
  w.end_array();
  w.end_object();
  w.end_object();
  return w.str();
}

TuneResults parse_results(std::string_view text, const std::string& source) {
  const JsonDocument doc = JsonDocument::parse(text, source, kSource);
  const JsonValue root = doc.root()["dlrm_tune_results"];
  if (root["format_version"].get<int>() != 1) root["format_version"].fail("this dlrm-tune reads version 1");
  TuneResults results;
  const JsonValue s = root["settings"];
  results.settings.model = s["model"].get<std::string>();
  results.settings.hostfile = s["hostfile"].get<std::string>();
  results.settings.data = s["data"].get<std::string>();
  results.settings.latency_bound_ms = optional_number(s["latency_bound_ms"]);
  for (const JsonValue& v : root["trials"].items()) {
    TrialResult t = read_trial(v);
    if (results.find(t.config.key()) != nullptr) v["key"].fail("the trial " + t.config.key() + " is listed twice");
    results.trials.push_back(std::move(t));
  }
  return results;
}

std::string results_csv(const TuneResults& results) {
  std::string out =
      "trial,stage,layout,shard_cores,dense_per_node,threads_per_dense,batch,exchange_dtype,exchange_transport,mlp,"
      "run,ok,pairs_per_s,mlp_bound_pairs_per_s,ratio,p50_ms,p99_ms,peak_qps,valid,seconds,error\n";
  int index = 0;
  for (const auto& t : results.trials) {
    const TrialConfig& c = t.config;
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{:.1f},{:.1f},{:.4f},{:.3f},{:.3f},{},{},{:.1f},{}\n",
                       ++index, t.stage, csv_field(t.layout), c.shard_cores, c.dense_per_node, c.threads_per_dense,
                       c.batch, c.exchange_dtype, c.exchange_transport, c.mlp, c.run, t.ok ? 1 : 0, t.pairs_per_s,
                       t.mlp_bound_pairs_per_s, t.ratio, t.p50_ms, t.p99_ms, optional_text(t.peak_qps),
                       t.valid ? (*t.valid ? "1" : "0") : "", t.seconds, csv_field(t.error));
  }
  return out;
}

}  // namespace dlrm::tune
