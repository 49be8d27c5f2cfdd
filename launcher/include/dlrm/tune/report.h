// What dlrm-tune tells: a progress line while it runs, and at the end
// tuned.json, the summary table, the plots, or (a latency bound no trial
// met) the closest trials.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dlrm/launcher/tuned_config.h"
#include "dlrm/tune/search.h"

namespace dlrm::tune {

// "trial 5/~14 [#######.............] 0:42 of 5:00, eta 1:53 | best 52.3k pairs/s | now: shared/0/0 b512 ..."
// redrawn on a terminal, one log line per trial otherwise.
class ProgressLine {
 public:
  ProgressLine(int planned, double budget_s, bool enabled);
  void start(int trial, const PlannedTrial& next, double best_pairs_per_s, double elapsed_s);
  void done(const TrialResult& result, double elapsed_s);
  void finish(double elapsed_s);

 private:
  int planned_;
  double budget_s_;
  bool enabled_, tty_;
  int trials_ = 0;
  double trial_seconds_ = 0;
};

// "1:05"
std::string minutes_text(double seconds);

// The tuned configuration: the best settings' layout and cluster options and
// their mean figures; nothing when no trial has a positive score.
std::optional<launcher::TunedConfig> tuned_from_results(const TuneResults& results);

// Up to `n` trials closest to the latency bound (lowest p99 first), as lines.
std::vector<std::string> closest_trials(const TuneResults& results, int n);

// The best `n` settings as a small table for people.
std::string summary_table(const TuneResults& results, int n);

// Writes OUT/tuned.json and the plots (python SCRIPT OUT), prints the
// summary; returns false (after listing the closest trials) when a latency
// bound was set and no trial met it.
bool finish_tune(const std::filesystem::path& out, const TuneSettings& settings, const TuneResults& results,
                 const std::string& python, const std::filesystem::path& plot_script);

}  // namespace dlrm::tune
