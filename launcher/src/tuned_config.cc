#include "dlrm/launcher/tuned_config.h"

#include <fmt/format.h>

#include <algorithm>

#include "dlrm/common/json.h"

namespace dlrm::launcher {
namespace {

const JsonSource kSource{"tuned configuration", "write it again with dlrm-tune, or fix that field"};

// `value` as a string that is one of `choices`.
std::string one_of(const JsonValue& value, const std::vector<std::string>& choices) {
  const std::string text = value.get<std::string>();
  if (std::find(choices.begin(), choices.end(), text) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    value.fail("'" + text + "' is not one of " + list);
  }
  return text;
}

int in_range(const JsonValue& value, int low, int high) {
  const int v = value.get<int>();
  if (v < low || v > high) value.fail(fmt::format("{} is outside [{}, {}]", v, low, high));
  return v;
}

std::optional<double> optional_number(const JsonValue& parent, std::string_view key) {
  if (!parent.has(key) || parent[key].is_null()) return std::nullopt;
  return parent[key].get<double>();
}

}  // namespace

std::vector<std::string> TunedCluster::args() const {
  return {"--batch", std::to_string(batch), "--exchange-dtype", exchange_dtype, "--exchange-transport",
          exchange_transport, "--mlp", mlp};
}

std::string tuned_config_json(const TunedConfig& c) {
  JsonWriter w;
  w.begin_object();
  w.begin_object("dlrm_tuned");
  w.field("format_version", TunedConfig::kFormatVersion);
  w.field("producer", c.producer);
  w.field("model", c.model);
  w.field("hostfile", c.hostfile);
  w.field("objective", c.objective);
  w.begin_object("launch");
  w.field("shard_cores", c.launch.shard_cores);
  w.field("dense_per_node", c.launch.dense_per_node);
  w.field("threads_per_dense", c.launch.threads_per_dense);
  w.end_object();
  w.begin_object("cluster");
  w.field("batch", c.cluster.batch);
  w.field("exchange_dtype", c.cluster.exchange_dtype);
  w.field("exchange_transport", c.cluster.exchange_transport);
  w.field("mlp", c.cluster.mlp);
  w.end_object();
  w.begin_object("measured");
  w.field("pairs_per_s", c.measured.pairs_per_s);
  w.field("mlp_bound_pairs_per_s", c.measured.mlp_bound_pairs_per_s);
  w.field("p99_ms", c.measured.p99_ms);
  w.field("peak_qps", c.measured.peak_qps);
  w.field("trials", c.measured.trials);
  w.end_object();
  w.end_object();
  w.end_object();
  return w.str();
}

namespace {

TunedConfig from_document(const JsonDocument& doc) {
  const JsonValue root = doc.root()["dlrm_tuned"];
  const JsonValue version = root["format_version"];
  if (version.get<int>() != TunedConfig::kFormatVersion) {
    version.fail(fmt::format("version {} is not {}, the one this dlrm-launch reads", version.get<int>(),
                             TunedConfig::kFormatVersion));
  }
  TunedConfig c;
  if (root.has("producer")) c.producer = root["producer"].get<std::string>();
  if (root.has("model")) c.model = root["model"].get<std::string>();
  if (root.has("hostfile")) c.hostfile = root["hostfile"].get<std::string>();
  if (root.has("objective")) c.objective = root["objective"].get<std::string>();
  const JsonValue launch = root["launch"];
  c.launch.shard_cores = one_of(launch["shard_cores"], {"auto", "own", "shared"});
  c.launch.dense_per_node = in_range(launch["dense_per_node"], 0, 1024);
  c.launch.threads_per_dense = in_range(launch["threads_per_dense"], 0, 4096);
  const JsonValue cluster = root["cluster"];
  c.cluster.batch = in_range(cluster["batch"], 1, kMaxTunedBatch);
  c.cluster.exchange_dtype = one_of(cluster["exchange_dtype"], {"fp32", "fp16", "bf16"});
  c.cluster.exchange_transport = one_of(cluster["exchange_transport"], {"auto", "alltoall", "shm", "pool"});
  c.cluster.mlp = one_of(cluster["mlp"], {"fp32", "int8"});
  if (root.has("measured")) {
    const JsonValue m = root["measured"];
    if (m.has("pairs_per_s")) c.measured.pairs_per_s = m["pairs_per_s"].get<double>();
    if (m.has("mlp_bound_pairs_per_s")) c.measured.mlp_bound_pairs_per_s = m["mlp_bound_pairs_per_s"].get<double>();
    c.measured.p99_ms = optional_number(m, "p99_ms");
    c.measured.peak_qps = optional_number(m, "peak_qps");
    if (m.has("trials")) c.measured.trials = m["trials"].get<int>();
  }
  return c;
}

}  // namespace

TunedConfig parse_tuned_config(std::string_view text, const std::string& source) {
  return from_document(JsonDocument::parse(text, source, kSource));
}

TunedConfig read_tuned_config(const std::string& path) { return from_document(JsonDocument::read_file(path, kSource)); }

std::vector<std::string> merge_cluster_args(const TunedCluster& tuned, const std::vector<std::string>& user) {
  auto user_names = [&](const std::string& name) {
    return std::any_of(user.begin(), user.end(),
                       [&](const std::string& a) { return a == name || a.rfind(name + "=", 0) == 0; });
  };
  std::vector<std::string> out;
  const std::vector<std::string> args = tuned.args();
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (!user_names(args[i])) out.insert(out.end(), {args[i], args[i + 1]});
  }
  out.insert(out.end(), user.begin(), user.end());
  return out;
}

}  // namespace dlrm::launcher
