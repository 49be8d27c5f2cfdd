// The greedy search of dlrm-shard tune-precision, over a PrecisionEvaluator
// (loss = 1 - auc / fp32_auc on the labelled samples; budget B):
//
//   tables stage:
//     sensitivity: for each table t, the first of int4, int8, fp16 whose loss
//                  with only t lowered is <= B (none: t stays fp32, reported)
//     order:       by bytes saved / max(that loss, 1e-9), most first
//     greedy:      lower each table in that order, to its type or failing that
//                  the next wider one, while the whole model's loss stays <= B
//   MLP stage (int8 layers, per-layer fp32 fallback; the bottom MLP's first
//   layer and the top MLP's last stay fp32, a cross network counts as one layer):
//     every candidate layer int8; if the loss is <= B, done. Otherwise
//     sensitivity: loss with one candidate int8 alone; greedy: add candidates
//     by increasing sensitivity while the loss stays <= B.
//   objective kBytes runs the tables stage first (the budget goes to bytes),
//   kSpeed the MLP stage first.
// Every evaluation is a Trial; the search stops early (truncated) after
// max_evaluations, keeping what was accepted so far.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dlrm/precision/evaluator.h"

namespace dlrm::precision {

enum class Objective { kBytes, kSpeed };
Objective parse_objective(const std::string& name);  // "bytes" or "speed"
const char* to_string(Objective objective);

struct SearchOptions {
  double budget = 0.001;  // relative AUC loss
  Objective objective = Objective::kBytes;
  int max_evaluations = 300;
};

struct Trial {
  int index = 0;
  std::string stage;   // "tables: sensitivity", "tables", "mlp: sensitivity", "mlp"
  std::string change;  // "t3 int4", "all MLP layers int8", "top.1 int8"
  PrecisionConfig config;
  uint64_t embedding_bytes = 0;
  double auc = 0.0;
  double loss = 0.0;
  bool within_budget = false;
  bool accepted = false;  // became the search's current configuration
};

struct SearchResult {
  PrecisionConfig config;  // the configuration chosen
  double auc = 0.0;
  double loss = 0.0;
  std::vector<Trial> trials;
  // Tables no lower type fits the budget for even alone, with the smallest
  // loss seen among their lower types (they stay fp32).
  std::vector<std::pair<int, double>> fp32_needed;
  bool truncated = false;  // max_evaluations reached
};

SearchResult search_precision(PrecisionEvaluator& evaluator, const SearchOptions& options);

// "fp32 x3, int4 x23" for the table types; "fp32" / "int8 (fp32: bottom 0, top 2)" for the MLPs.
std::string describe_tables(const std::vector<ElementType>& tables);
std::string describe_mlp(const std::optional<dense::Fp32Layers>& int8_mlp);

}  // namespace dlrm::precision
