#include "dlrm/precision/search.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "dlrm/common/error.h"

namespace dlrm::precision {

Objective parse_objective(const std::string& name) {
  if (name == "bytes") return Objective::kBytes;
  if (name == "speed") return Objective::kSpeed;
  DLRM_FAIL("unknown objective '{}'; choose bytes or speed", name);
}

const char* to_string(Objective objective) { return objective == Objective::kBytes ? "bytes" : "speed"; }

std::string describe_tables(const std::vector<ElementType>& tables) {
  std::string out;
  for (ElementType type : {ElementType::kFp32, ElementType::kFp16, ElementType::kInt8, ElementType::kInt4}) {
    const auto n = std::count(tables.begin(), tables.end(), type);
    if (n > 0) out += fmt::format("{}{} x{}", out.empty() ? "" : ", ", to_string(type), n);
  }
  return out;
}

std::string describe_mlp(const std::optional<dense::Fp32Layers>& int8_mlp) {
  if (!int8_mlp) return "fp32";
  std::string fp32;
  auto add = [&](const char* name, const std::vector<int>& layers) {
    for (int l : layers) fp32 += fmt::format("{}{} {}", fp32.empty() ? "" : ", ", name, l);
  };
  add("bottom", int8_mlp->bottom);
  add("top", int8_mlp->top);
  if (!int8_mlp->cross.empty()) fp32 += std::string(fp32.empty() ? "" : ", ") + "cross";
  return "int8 (fp32: " + fp32 + ")";
}

namespace {

// A layer the MLP stage may put in int8: bottom.l, top.l or the whole cross network.
struct Candidate {
  enum Kind { kBottom, kTop, kCross } kind;
  int layer = 0;
  std::string name() const {
    return kind == kCross ? "cross" : fmt::format("{}.{}", kind == kBottom ? "bottom" : "top", layer);
  }
};

class Search {
 public:
  Search(PrecisionEvaluator& evaluator, const SearchOptions& options) : ev_(evaluator), options_(options) {
    const model::ModelArch& arch = ev_.manifest().arch;
    result_.config.tables.assign(static_cast<size_t>(arch.num_tables()), ElementType::kFp32);
    result_.auc = ev_.fp32_auc();
    for (int l = 1; l < static_cast<int>(arch.bottom_mlp.size()); ++l) candidates_.push_back({Candidate::kBottom, l});
    for (int l = 0; l + 1 < static_cast<int>(arch.top_mlp.size()); ++l) candidates_.push_back({Candidate::kTop, l});
    if (arch.dcn()) candidates_.push_back({Candidate::kCross, 0});
  }

  SearchResult run() {
    if (options_.objective == Objective::kBytes) {
      tables_stage();
      mlp_stage();
    } else {
      mlp_stage();
      tables_stage();
    }
    return std::move(result_);
  }

 private:
  // Evaluates `config`; nullopt once max_evaluations is reached.
  std::optional<Trial> evaluate(const std::string& stage, const std::string& change, const PrecisionConfig& config) {
    if (static_cast<int>(result_.trials.size()) >= options_.max_evaluations) {
      if (!result_.truncated) spdlog::warn("tune-precision: stopping at --max-evaluations {}", options_.max_evaluations);
      result_.truncated = true;
      return std::nullopt;
    }
    check_interrupted();  // Ctrl-C stops between evaluations; nothing is written
    Trial trial;
    trial.index = static_cast<int>(result_.trials.size()) + 1;
    trial.stage = stage;
    trial.change = change;
    trial.config = config;
    trial.embedding_bytes = ev_.embedding_bytes(config.tables);
    trial.auc = ev_.auc(config);
    trial.loss = ev_.loss(trial.auc);
    trial.within_budget = trial.loss <= options_.budget;
    spdlog::info("trial {:>3} {:<20} {:<26} AUC {:.6f} loss {:+.2e} {}", trial.index, stage, change, trial.auc,
                 trial.loss, trial.within_budget ? "within budget" : "over budget");
    result_.trials.push_back(trial);
    return trial;
  }

  void accept(const Trial& trial) {
    result_.trials.back().accepted = true;
    result_.config = trial.config;
    result_.auc = trial.auc;
    result_.loss = trial.loss;
  }

  void tables_stage();
  void mlp_stage();
  PrecisionConfig with_int8(const std::vector<bool>& int8) const;

  PrecisionEvaluator& ev_;
  SearchOptions options_;
  SearchResult result_;
  std::vector<Candidate> candidates_;
};

// The types below fp32, narrowest first.
constexpr ElementType kLower[] = {ElementType::kInt4, ElementType::kInt8, ElementType::kFp16};

void Search::tables_stage() {
  const int tables = ev_.manifest().arch.num_tables();
  const PrecisionConfig base = result_.config;
  struct Choice {
    int table;
    int lower;  // index into kLower
    double score;
  };
  std::vector<Choice> choices;
  for (int t = 0; t < tables; ++t) {
    double best_loss = 1.0;
    bool found = false;
    for (int k = 0; k < 3 && !found; ++k) {
      if (!ev_.storable(t, kLower[k])) continue;
      PrecisionConfig solo = base;
      solo.tables[t] = kLower[k];
      const std::optional<Trial> trial =
          evaluate("tables: sensitivity", fmt::format("t{} {}", t, to_string(kLower[k])), solo);
      if (!trial) return;
      best_loss = std::min(best_loss, trial->loss);
      if (!trial->within_budget) continue;
      found = true;
      const double saved = static_cast<double>(ev_.embedding_bytes(base.tables) - trial->embedding_bytes);
      choices.push_back({t, k, saved / std::max(trial->loss, 1e-9)});
    }
    if (!found) result_.fp32_needed.push_back({t, best_loss});
  }
  std::stable_sort(choices.begin(), choices.end(), [](const Choice& a, const Choice& b) { return a.score > b.score; });
  for (const Choice& c : choices) {
    for (int k = c.lower; k < 3; ++k) {
      if (!ev_.storable(c.table, kLower[k])) continue;
      PrecisionConfig next = result_.config;
      next.tables[c.table] = kLower[k];
      const std::optional<Trial> trial = evaluate("tables", fmt::format("t{} {}", c.table, to_string(kLower[k])), next);
      if (!trial) return;
      if (trial->within_budget) {
        accept(*trial);
        break;
      }
    }
  }
}

PrecisionConfig Search::with_int8(const std::vector<bool>& int8) const {
  const model::ModelArch& arch = ev_.manifest().arch;
  dense::Fp32Layers fp32;
  fp32.bottom.push_back(0);
  for (size_t c = 0; c < candidates_.size(); ++c) {
    if (int8[c]) continue;
    const Candidate& cand = candidates_[c];
    if (cand.kind == Candidate::kBottom) fp32.bottom.push_back(cand.layer);
    if (cand.kind == Candidate::kTop) fp32.top.push_back(cand.layer);
    if (cand.kind == Candidate::kCross) {
      for (int l = 0; l < arch.cross_layers; ++l) fp32.cross.push_back(l);
    }
  }
  fp32.top.push_back(static_cast<int>(arch.top_mlp.size()) - 1);
  std::sort(fp32.bottom.begin(), fp32.bottom.end());
  std::sort(fp32.top.begin(), fp32.top.end());
  PrecisionConfig config = result_.config;
  config.int8_mlp = fp32;
  return config;
}

void Search::mlp_stage() {
  const size_t n = candidates_.size();
  if (n == 0) return;
  const std::optional<Trial> all = evaluate("mlp", "all MLP layers int8", with_int8(std::vector<bool>(n, true)));
  if (!all) return;
  if (all->within_budget) return accept(*all);
  std::vector<std::pair<double, size_t>> sensitivity;
  for (size_t c = 0; c < n; ++c) {
    std::vector<bool> one(n, false);
    one[c] = true;
    const std::optional<Trial> trial = evaluate("mlp: sensitivity", candidates_[c].name() + " int8", with_int8(one));
    if (!trial) return;
    if (trial->within_budget) sensitivity.push_back({trial->loss, c});
  }
  std::stable_sort(sensitivity.begin(), sensitivity.end());
  std::vector<bool> int8(n, false);
  for (const auto& [loss, c] : sensitivity) {
    int8[c] = true;
    const std::optional<Trial> trial = evaluate("mlp", candidates_[c].name() + " int8", with_int8(int8));
    if (!trial) return;
    if (trial->within_budget) {
      accept(*trial);
    } else {
      int8[c] = false;  // falls back to fp32
    }
  }
}

}  // namespace

SearchResult search_precision(PrecisionEvaluator& evaluator, const SearchOptions& options) {
  DLRM_CHECK(options.budget >= 0.0 && options.budget < 1.0, "--auc-budget must be in [0, 1), got {}", options.budget);
  DLRM_CHECK(options.max_evaluations >= 1, "--max-evaluations must be at least 1, got {}", options.max_evaluations);
  return Search(evaluator, options).run();
}

}  // namespace dlrm::precision
