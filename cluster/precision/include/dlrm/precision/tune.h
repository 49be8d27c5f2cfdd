// dlrm-shard tune-precision: search (search.h) on labelled data, then write
// the mixed model:
//
//   out/                    staged beside out, renamed into place at the end
//     manifest.json ...     the fp32 model's tables in the chosen types, same
//                           shard count and plan kind (model_writer.h)
//     calibration.json      int8 MLPs only: the ranges and fp32_layers
//     tried.csv, tried.json every trial (tried.json adds the result)
// The written model is evaluated once more from its own files (dlrm-reference's
// path) and its loss must stay within the budget. Refused, with nothing
// written: an existing out (unless force, and then only a model directory),
// and a budget no lower precision meets for any table or MLP layer.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "dlrm/precision/evaluator.h"
#include "dlrm/precision/search.h"

namespace dlrm::precision {

struct TuneOptions {
  EvaluatorOptions evaluator;
  SearchOptions search;
  std::filesystem::path out;
  bool force = false;
};

struct TuneReport {
  SearchResult search;
  std::string calibration_source;
  int64_t samples = 0;
  double fp32_auc = 0.0;
  double written_auc = 0.0;  // the written model, evaluated from its files
  double written_loss = 0.0;
  uint64_t fp32_bytes = 0;   // embedding bytes of the fp32 model
  uint64_t int8_bytes = 0;   // ... of the same model with every table int8
  uint64_t tuned_bytes = 0;  // ... of the written model
  double seconds = 0.0;
};

// Throws naming the input at fault; nothing is left at `out` on any error.
TuneReport tune_precision(const TuneOptions& options);

// The trials as a small table for people; the report's summary lines.
std::string trials_table(const std::vector<Trial>& trials);
std::string report_summary(const TuneReport& report, const TuneOptions& options);

}  // namespace dlrm::precision
