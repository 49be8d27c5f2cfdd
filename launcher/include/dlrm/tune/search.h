// dlrm-tune's search: a small staged coordinate descent from the default
// layout, not every combination. Stateless: the next trial is a function of
// the space and the results so far, so a tune resumed from results.json
// goes on exactly where it stopped.
//
//   score(settings) = mean pairs_per_s over its ok runs (0 when none ran ok)
//   1. default + layout: every layout of the space at the start batch,
//      fp32 exchange, auto transport, fp32 MLPs (the first is the default);
//   2. batch: for the best `batch_layouts` layouts, from the start batch up
//      the batch list while the score rises, then down the same way;
//   3. precision: from the best settings so far, every other exchange dtype,
//      then transport, then MLP precision (one dimension at a time, each from
//      the best settings found by then);
//   4. batch again: the climb of 2 from the best settings (precision moves
//      the best batch);
//   5. confirm: the best `confirm` settings run once more (run 2), so that
//      one lucky measurement does not decide.
// The best settings are those with the highest score.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dlrm/tune/trial.h"

namespace dlrm::tune {

struct SearchSpace {
  std::vector<TrialConfig> layouts;  // layout options (the other fields ignored); the default first
  std::vector<int> batches = {64, 128, 256, 512, 1024, 2048};  // ascending
  int start_batch = 256;                                        // one of batches
  std::vector<std::string> exchange_dtypes = {"fp32", "bf16", "fp16"};  // the first is the start
  std::vector<std::string> exchange_transports = {"auto", "alltoall"};
  std::vector<std::string> mlps = {"fp32"};  // "int8" too when the model is calibrated
  int batch_layouts = 2;
  int confirm = 2;
};

struct PlannedTrial {
  TrialConfig config;
  std::string stage;
};

// The next trial to run, or nothing when the search is over.
std::optional<PlannedTrial> next_trial(const SearchSpace& space, const TuneResults& results);

// Mean pairs_per_s over the ok runs of these settings (0 if none).
double score(const TuneResults& results, const TrialConfig& settings);

// The settings with the highest score (run 1's config), if any ran ok with
// pairs_per_s > 0.
std::optional<TrialConfig> best_settings(const TuneResults& results);

// A rough count of the trials a whole search runs (for the progress bar).
int planned_trials(const SearchSpace& space);

}  // namespace dlrm::tune
