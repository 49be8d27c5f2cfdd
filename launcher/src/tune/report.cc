#include "dlrm/tune/report.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "dlrm/common/format.h"
#include "dlrm/common/staged_output.h"

namespace dlrm::tune {

std::string minutes_text(double seconds) {
  const int s = static_cast<int>(std::lround(std::max(0.0, seconds)));
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

ProgressLine::ProgressLine(int planned, double budget_s, bool enabled)
    : planned_(planned), budget_s_(budget_s), enabled_(enabled), tty_(::isatty(STDERR_FILENO) != 0) {}

void ProgressLine::start(int trial, const PlannedTrial& next, double best_pairs_per_s, double elapsed_s) {
  if (!enabled_) return;
  const int planned = std::max(planned_, trial);
  const double per_trial = trials_ > 0 ? trial_seconds_ / trials_ : 0;
  const double eta = std::min(budget_s_ - elapsed_s, per_trial * (planned - trial + 1));
  constexpr int kWidth = 20;
  const int filled = std::clamp(static_cast<int>(kWidth * elapsed_s / budget_s_), 0, kWidth);
  const std::string line = fmt::format(
      "trial {}/~{} [{}{}] {} of {}, eta {} | best {} | now: {} ({})", trial, planned, std::string(filled, '#'),
      std::string(kWidth - filled, '.'), minutes_text(elapsed_s), minutes_text(budget_s_),
      trials_ > 0 ? minutes_text(eta) : "?", best_pairs_per_s > 0 ? fmt::format("{:.1f}k pairs/s", best_pairs_per_s / 1e3) : "-",
      next.config.settings_key(), next.stage);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
  } else {
    spdlog::info("{}", line);
  }
}

void ProgressLine::done(const TrialResult& result, double) {
  ++trials_;
  trial_seconds_ += result.seconds;
  if (!enabled_) return;
  const std::string text =
      result.ok ? fmt::format("{}: {:.0f} pairs/s ({:.3f} of the bound {:.0f}){} in {:.0f} s", result.config.key(),
                              result.pairs_per_s, result.ratio, result.mlp_bound_pairs_per_s,
                              result.valid ? fmt::format(", p99 {:.1f} ms, {}", result.p99_ms,
                                                         *result.valid ? "VALID" : "no VALID QPS")
                                           : "",
                              result.seconds)
                : fmt::format("{}: failed: {}", result.config.key(), result.error);
  if (tty_) std::fputs("\r\033[K", stderr);
  spdlog::info("{}", text);
}

void ProgressLine::finish(double elapsed_s) {
  if (enabled_) spdlog::info("{} in {}", plural(trials_, "trial"), minutes_text(elapsed_s));
}

std::optional<launcher::TunedConfig> tuned_from_results(const TuneResults& results) {
  const std::optional<TrialConfig> best = best_settings(results);
  if (!best) return std::nullopt;
  launcher::TunedConfig c;
  c.producer = std::string("dlrm-tune ") + DLRM_VERSION;
  c.model = results.settings.model;
  c.hostfile = results.settings.hostfile;
  c.objective = results.settings.latency_bound_ms
                    ? fmt::format("server p99 <= {} ms", *results.settings.latency_bound_ms)
                    : "throughput";
  c.launch = {best->shard_cores, best->dense_per_node, best->threads_per_dense};
  c.cluster = {best->batch, best->exchange_dtype, best->exchange_transport, best->mlp};
  double bound = 0, p99 = 0, qps = 0;
  int runs = 0;
  for (const auto& t : results.trials) {
    if (!t.ok || t.config.settings_key() != best->settings_key()) continue;
    bound += t.mlp_bound_pairs_per_s;
    p99 += t.p99_ms;
    qps += t.peak_qps.value_or(0);
    ++runs;
  }
  c.measured.pairs_per_s = score(results, *best);
  c.measured.mlp_bound_pairs_per_s = bound / runs;
  if (results.settings.latency_bound_ms) {
    c.measured.p99_ms = p99 / runs;
    c.measured.peak_qps = qps / runs;
  }
  c.measured.trials = static_cast<int>(results.trials.size());
  return c;
}

std::vector<std::string> closest_trials(const TuneResults& results, int n) {
  std::vector<const TrialResult*> ok;
  for (const auto& t : results.trials) {
    if (t.ok) ok.push_back(&t);
  }
  std::stable_sort(ok.begin(), ok.end(), [](auto* a, auto* b) { return a->p99_ms < b->p99_ms; });
  std::vector<std::string> lines;
  for (int i = 0; i < std::min<int>(n, static_cast<int>(ok.size())); ++i) {
    lines.push_back(fmt::format("{} ({}): lowest p99 {:.1f} ms", ok[i]->config.key(), ok[i]->layout, ok[i]->p99_ms));
  }
  return lines;
}

std::string summary_table(const TuneResults& results, int n) {
  std::vector<const TrialResult*> firsts;
  std::map<std::string, bool> seen;
  for (const auto& t : results.trials) {
    if (t.ok && !seen[t.config.settings_key()]) {
      seen[t.config.settings_key()] = true;
      firsts.push_back(&t);
    }
  }
  std::stable_sort(firsts.begin(), firsts.end(),
                   [&](auto* a, auto* b) { return score(results, a->config) > score(results, b->config); });
  std::string out = fmt::format("  {:<40} {:>6} {:>5} {:>8} {:>5} {:>10} {:>10} {:>6} {:>8}\n", "layout", "batch",
                                "xchg", "transport", "mlp", "pairs/s", "bound", "ratio", "p99 ms");
  for (int i = 0; i < std::min<int>(n, static_cast<int>(firsts.size())); ++i) {
    const TrialResult& t = *firsts[i];
    out += fmt::format("  {:<40} {:>6} {:>5} {:>8} {:>5} {:>10.0f} {:>10.0f} {:>6.3f} {:>8.2f}\n", t.layout,
                       t.config.batch, t.config.exchange_dtype, t.config.exchange_transport, t.config.mlp,
                       score(results, t.config), t.mlp_bound_pairs_per_s, t.ratio, t.p99_ms);
  }
  return out;
}

bool finish_tune(const std::filesystem::path& out, const TuneSettings& settings, const TuneResults& results,
                 const std::string& python, const std::filesystem::path& plot_script) {
  const std::string command = fmt::format("'{}' '{}' '{}'", python, plot_script.string(), out.string());
  if (std::system(command.c_str()) != 0) {
    spdlog::warn("the plots were not drawn ({} failed; install python3-matplotlib)", command);
  }
  const std::optional<launcher::TunedConfig> tuned = tuned_from_results(results);
  if (!tuned) {
    std::string text = settings.latency_bound_ms
                           ? fmt::format("no trial met the latency bound of {} ms (p99 at any QPS); the closest:",
                                         *settings.latency_bound_ms)
                           : std::string("no trial ran successfully; see the logs in ") + (out / "logs").string();
    for (const auto& line : closest_trials(results, 5)) text += "\n  " + line;
    std::fprintf(stderr, "dlrm-tune: %s\n(no tuned.json written; try a larger bound or smaller batches)\n",
                 text.c_str());
    return false;
  }
  write_text_file(out / "tuned.json", launcher::tuned_config_json(*tuned));
  std::printf("dlrm-tune: %d trials; the best settings first:\n%s", static_cast<int>(results.trials.size()),
              summary_table(results, 5).c_str());
  std::printf("wrote %s: dlrm-launch --hostfile %s --model %s --config %s -- --data ...\n",
              (out / "tuned.json").c_str(), settings.hostfile.c_str(), settings.model.c_str(),
              (out / "tuned.json").c_str());
  std::fflush(stdout);
  return true;
}

}  // namespace dlrm::tune
