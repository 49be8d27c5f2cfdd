#include "dlrm/tune/search.h"

#include <algorithm>
#include <functional>
#include <map>

#include "dlrm/common/error.h"

namespace dlrm::tune {
namespace {

TrialConfig start_config(const SearchSpace& space, const TrialConfig& layout) {
  TrialConfig c;
  c.shard_cores = layout.shard_cores;
  c.dense_per_node = layout.dense_per_node;
  c.threads_per_dense = layout.threads_per_dense;
  c.batch = space.start_batch;
  c.exchange_dtype = space.exchange_dtypes.front();
  c.exchange_transport = space.exchange_transports.front();
  c.mlp = space.mlps.front();
  return c;
}

// Run 1 of `c`, unless it ran already.
std::optional<PlannedTrial> unless_run(const TuneResults& results, TrialConfig c, const char* stage) {
  c.run = 1;
  if (results.find(c.key()) != nullptr) return std::nullopt;
  return PlannedTrial{c, stage};
}

// From `from`, up the batch list while the score rises, then down: the
// first step not yet run, or nothing when both directions have stopped.
std::optional<PlannedTrial> climb_batch(const SearchSpace& space, const TuneResults& results, const TrialConfig& from,
                                        const char* stage) {
  const auto& batches = space.batches;
  const auto at = std::find(batches.begin(), batches.end(), from.batch);
  if (at == batches.end()) return std::nullopt;
  for (int dir : {+1, -1}) {
    TrialConfig here = from;
    for (int i = static_cast<int>(at - batches.begin()) + dir; i >= 0 && i < static_cast<int>(batches.size());
         i += dir) {
      TrialConfig step = here;
      step.batch = batches[i];
      step.run = 1;
      if (results.find(step.key()) == nullptr) return PlannedTrial{step, stage};
      if (score(results, step) <= score(results, here)) break;
      here = step;
    }
  }
  return std::nullopt;
}

// One dimension of the precision stage: every value of `values` on the best
// settings so far.
std::optional<PlannedTrial> try_values(const TuneResults& results, const std::vector<std::string>& values,
                                       const std::function<void(TrialConfig&, const std::string&)>& set) {
  for (const auto& value : values) {
    std::optional<TrialConfig> best = best_settings(results);
    if (!best) return std::nullopt;
    TrialConfig c = *best;
    set(c, value);
    if (auto planned = unless_run(results, c, "precision")) return planned;
  }
  return std::nullopt;
}

}  // namespace

double score(const TuneResults& results, const TrialConfig& settings) {
  const std::string key = settings.settings_key();
  double sum = 0;
  int n = 0;
  for (const auto& t : results.trials) {
    if (t.ok && t.config.settings_key() == key) {
      sum += t.pairs_per_s;
      ++n;
    }
  }
  return n > 0 ? sum / n : 0;
}

std::optional<TrialConfig> best_settings(const TuneResults& results) {
  std::optional<TrialConfig> best;
  double best_score = 0;
  for (const auto& t : results.trials) {
    const double s = score(results, t.config);
    if (s > best_score) {
      best_score = s;
      best = t.config;
      best->run = 1;
    }
  }
  return best;
}

std::optional<PlannedTrial> next_trial(const SearchSpace& space, const TuneResults& results) {
  DLRM_CHECK(!space.layouts.empty() && !space.exchange_dtypes.empty() && !space.exchange_transports.empty() &&
                 !space.mlps.empty(),
             "the tuning space is empty");
  // 1. Every layout at the start settings.
  for (size_t i = 0; i < space.layouts.size(); ++i) {
    if (auto p = unless_run(results, start_config(space, space.layouts[i]), i == 0 ? "default" : "layout")) return p;
  }
  // 2. Batches of the best layouts.
  std::vector<TrialConfig> ranked;
  for (const auto& layout : space.layouts) ranked.push_back(start_config(space, layout));
  std::stable_sort(ranked.begin(), ranked.end(), [&](const TrialConfig& a, const TrialConfig& b) {
    return score(results, a) > score(results, b);
  });
  for (int i = 0; i < std::min<int>(space.batch_layouts, static_cast<int>(ranked.size())); ++i) {
    if (score(results, ranked[i]) <= 0) continue;
    if (auto p = climb_batch(space, results, ranked[i], "batch")) return p;
  }
  // 3. Precision, one dimension at a time.
  if (auto p = try_values(results, space.exchange_dtypes, [](TrialConfig& c, const std::string& v) { c.exchange_dtype = v; })) return p;
  if (auto p = try_values(results, space.exchange_transports, [](TrialConfig& c, const std::string& v) { c.exchange_transport = v; })) return p;
  if (auto p = try_values(results, space.mlps, [](TrialConfig& c, const std::string& v) { c.mlp = v; })) return p;
  // 4. Batches again around the best.
  if (auto best = best_settings(results)) {
    if (auto p = climb_batch(space, results, *best, "batch")) return p;
  }
  // 5. The best settings once more (at most `confirm` second runs in all).
  const auto confirmed = std::count_if(results.trials.begin(), results.trials.end(),
                                       [](const TrialResult& t) { return t.config.run > 1; });
  if (confirmed >= space.confirm) return std::nullopt;
  std::vector<TrialConfig> settings;
  std::map<std::string, bool> seen;
  for (const auto& t : results.trials) {
    if (t.ok && t.pairs_per_s > 0 && !seen[t.config.settings_key()]) {
      seen[t.config.settings_key()] = true;
      TrialConfig c = t.config;
      c.run = 1;
      settings.push_back(c);
    }
  }
  std::stable_sort(settings.begin(), settings.end(), [&](const TrialConfig& a, const TrialConfig& b) {
    return score(results, a) > score(results, b);
  });
  for (int i = 0; i < std::min<int>(space.confirm, static_cast<int>(settings.size())); ++i) {
    TrialConfig again = settings[i];
    again.run = 2;
    if (results.find(again.key()) == nullptr) return PlannedTrial{again, "confirm"};
  }
  return std::nullopt;
}

int planned_trials(const SearchSpace& space) {
  const int dims = static_cast<int>(space.exchange_dtypes.size() + space.exchange_transports.size() + space.mlps.size()) - 3;
  return static_cast<int>(space.layouts.size()) + 3 * space.batch_layouts + dims + 2 + space.confirm;
}

}  // namespace dlrm::tune
