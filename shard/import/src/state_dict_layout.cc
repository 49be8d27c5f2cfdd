// infer_state_dict_layout(): a state_dict's naming, architecture and the map
// from its keys to the internal tensor names (state_dict.h).
#include <algorithm>
#include <map>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/import/state_dict.h"
#include "state_dict_keys.h"

namespace dlrm::import {

namespace {

// "0, 2, 4" or "0..25" style list.
std::string index_list(const std::vector<int>& indices) {
  std::string s;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    s += (s.empty() ? "" : ", ") + (j > i + 1 ? fmt::format("{}..{}", indices[i], indices[j])
                                              : fmt::format("{}", indices[i]));
    if (j == i + 1) s += fmt::format(", {}", indices[j]);
    i = j + 1;
  }
  return s.empty() ? "none" : s;
}

struct Linear {
  const TensorInfo* weight = nullptr;
  const TensorInfo* bias = nullptr;
};

struct CrossLayer {
  const TensorInfo* v = nullptr;
  const TensorInfo* w = nullptr;
  const TensorInfo* bias = nullptr;
};

class LayoutInference {
 public:
  LayoutInference(const std::vector<TensorInfo>& tensors, int64_t row_cap, const std::string& where)
      : tensors_(tensors), row_cap_(row_cap), where_(where) {}

  StateDictLayout run() {
    sort_keys();
    infer();
    if (!issues_.empty()) {
      constexpr size_t kShown = 8;
      std::string list;
      for (size_t i = 0; i < std::min(kShown, issues_.size()); ++i) list += (i ? "; " : "") + issues_[i];
      if (issues_.size() > kShown) list += fmt::format("; and {} more", issues_.size() - kShown);
      DLRM_FAIL("{}: {} problem{} with the {} state_dict: {}", where_, issues_.size(),
                issues_.size() == 1 ? "" : "s", naming_name(layout_.naming), list);
    }
    try {
      layout_.arch.validate();
    } catch (const Error& e) {
      DLRM_FAIL("{}: {}", where_, e.what());
    }
    map_internal_names();
    return std::move(layout_);
  }

 private:
  std::string key(KeyPart part, int index, bool weight = true) const {
    return key_of(layout_.naming, prefix_, part, index, weight);
  }

  // The naming (one for every key) and the "model." prefix (on every key or none).
  void choose_naming() {
    const std::string kModel = "model.";
    auto prefixed = [&](const TensorInfo& t) { return t.name.compare(0, kModel.size(), kModel) == 0; };
    const auto with = std::find_if(tensors_.begin(), tensors_.end(), prefixed);
    const auto without = std::find_if_not(tensors_.begin(), tensors_.end(), prefixed);
    if (with != tensors_.end() && without != tensors_.end()) {
      DLRM_FAIL("{}: key '{}' has the 'model.' prefix of TorchRec's DLRMTrain but '{}' has none; a state_dict must "
                "name every key the same way (drop 'model.' from every key, or from none)",
                where_, with->name, without->name);
    }
    if (with != tensors_.end()) prefix_ = kModel;
    std::map<StateDictNaming, std::string> example;  // first key of each naming
    for (const TensorInfo& t : tensors_) {
      if (auto role = classify_key(t.name.substr(prefix_.size()))) example.emplace(role->naming, t.name);
    }
    if (example.size() > 1) {
      auto a = example.begin(), b = std::next(a);
      DLRM_FAIL("{}: key '{}' has {} naming but '{}' has {} naming; a state_dict must use one naming for every "
                "key (rename the keys of one of them: {} or {})",
                where_, a->second, naming_name(a->first), b->second, naming_name(b->first),
                naming_keys(a->first), naming_keys(b->first));
    }
    if (!example.empty()) layout_.naming = example.begin()->first;
    layout_.model_prefix = !prefix_.empty();
  }

  void sort_keys() {
    choose_naming();
    std::vector<std::string> unexpected;
    for (const TensorInfo& t : tensors_) {
      auto role = classify_key(t.name.substr(prefix_.size()));
      if (!role) {
        unexpected.push_back(t.name);
        continue;
      }
      const int i = role->index;
      switch (role->part) {
        case KeyPart::kTable: tables_[i] = &t; break;
        case KeyPart::kBottom: (role->weight ? bottom_[i].weight : bottom_[i].bias) = &t; break;
        case KeyPart::kTop: (role->weight ? top_[i].weight : top_[i].bias) = &t; break;
        case KeyPart::kTopFinal: (role->weight ? final_.weight : final_.bias) = &t; break;
        case KeyPart::kCrossV: cross_[i].v = &t; break;
        case KeyPart::kCrossW: cross_[i].w = &t; break;
        case KeyPart::kCrossBias: cross_[i].bias = &t; break;
      }
    }
    if (!unexpected.empty()) {
      std::sort(unexpected.begin(), unexpected.end());
      std::string shown;
      for (size_t i = 0; i < std::min<size_t>(5, unexpected.size()); ++i) shown += (i ? "', '" : "") + unexpected[i];
      issues_.push_back(fmt::format("unexpected key{} '{}'{} ({} state_dicts hold only {}; remove or rename them)",
                                    unexpected.size() == 1 ? "" : "s", shown,
                                    unexpected.size() > 5 ? fmt::format(" and {} more", unexpected.size() - 5) : "",
                                    naming_name(layout_.naming), naming_keys(layout_.naming)));
    }
  }

  void check_float(const TensorInfo& t) {
    if (!kWeightTypes.contains(t.dtype)) {
      issues_.push_back(fmt::format("{} holds {} values; expected float32 (or float16, bfloat16, float64)", t.name,
                                    t.dtype_name));
    }
  }

  // The Linear layers of one MLP at indices 0, step, 2 step, ... with weight and bias.
  std::vector<Linear> chain(KeyPart part, const std::map<int, Linear>& layers, const char* what) {
    const int step = mlp_step(layout_.naming);
    if (layers.empty()) {
      issues_.push_back(fmt::format("missing {} and {} (no {} layers found)", key(part, 0, true), key(part, 0, false),
                                    what));
      return {};
    }
    std::vector<Linear> out;
    const int last = layers.rbegin()->first;
    for (int i = 0; i <= last; ++i) {
      auto it = layers.find(i);
      if (i % step != 0) {
        if (it != layers.end()) {
          issues_.push_back(fmt::format("unexpected {} (Linear layers of the {} sit at even indices 0, 2, 4, ...; "
                                        "odd ones are ReLU and hold no weights)",
                                        (it->second.weight ? it->second.weight : it->second.bias)->name, what));
        }
        continue;
      }
      if (it == layers.end() || !it->second.weight) {
        issues_.push_back(fmt::format("missing {} (expected Linear layers at 0..{} step {})", key(part, i, true), last,
                                      step));
      }
      if (it == layers.end() || !it->second.bias) {
        issues_.push_back(fmt::format("missing {} (every Linear layer needs weight and bias)", key(part, i, false)));
      }
      out.push_back(it != layers.end() ? it->second : Linear{});
    }
    return out;
  }

  // Output widths of one MLP; `first_in` is the expected input width of its
  // first layer (0: take it from the tensor, and report it back).
  std::vector<int> widths(const std::vector<Linear>& layers, int64_t& first_in, const std::string& in_reason) {
    std::vector<int> out_widths;
    int64_t in = first_in;
    for (size_t i = 0; i < layers.size(); ++i) {
      const TensorInfo* w = layers[i].weight;
      const TensorInfo* b = layers[i].bias;
      if (!w) return out_widths;
      check_float(*w);
      if (b) check_float(*b);
      if (w->shape.size() != 2 || w->shape[0] <= 0 || w->shape[1] <= 0 || w->shape[0] > INT32_MAX ||
          w->shape[1] > INT32_MAX) {
        issues_.push_back(fmt::format("{}: expected a 2-D [out, in] Linear weight, found shape {}", w->name,
                                      shape_string(w->shape)));
        return out_widths;
      }
      if (in == 0) in = first_in = w->shape[1];
      if (w->shape[1] != in) {
        issues_.push_back(fmt::format("{}: expected shape ({}, {}) ({}), found {}", w->name, w->shape[0], in,
                                      i == 0 ? in_reason : fmt::format("in = out of {}", layers[i - 1].weight->name),
                                      shape_string(w->shape)));
      }
      const int64_t out = w->shape[0];
      if (b && b->shape != std::vector<int64_t>{out}) {
        issues_.push_back(fmt::format("{}: expected shape ({},), found {}", b->name, out, shape_string(b->shape)));
      }
      out_widths.push_back(static_cast<int>(out));
      in = out;
    }
    return out_widths;
  }

  // Tables numbered 0..T-1 of one dim; returns the dim (0 if unknown).
  int64_t infer_tables() {
    if (tables_.empty()) {
      issues_.push_back(fmt::format("no embedding tables found; expected {}, {}, ...", key(KeyPart::kTable, 0),
                                    key(KeyPart::kTable, 1)));
      return 0;
    }
    std::vector<int> found, missing;
    for (const auto& [t, info] : tables_) found.push_back(t);
    for (int t = 0; t <= found.back(); ++t) {
      if (!tables_.count(t)) missing.push_back(t);
    }
    if (!missing.empty()) {
      issues_.push_back(fmt::format("missing {} (tables must be numbered 0..N-1; found {})",
                                    key(KeyPart::kTable, missing.front()), index_list(found)));
    }
    const TensorInfo& first = *tables_.begin()->second;
    const int64_t dim = first.shape.size() == 2 ? first.shape[1] : 0;
    for (const auto& [t, info] : tables_) {
      check_float(*info);
      if (info->shape.size() != 2 || info->shape[0] <= 0 || info->shape[1] <= 0 || info->shape[1] != dim) {
        issues_.push_back(fmt::format("{}: expected shape (rows, {}) {}, found {}", info->name,
                                      dim > 0 ? fmt::format("{}", dim) : "dim",
                                      t == tables_.begin()->first ? "with rows, dim > 0"
                                                                  : fmt::format("(the dim of {})", first.name),
                                      shape_string(info->shape)));
        continue;
      }
      layout_.arch.table_rows.push_back(row_cap_ > 0 ? std::min(info->shape[0], row_cap_) : info->shape[0]);
    }
    return dim;
  }

  // One cross factor: `expected` shape; `transposable` factors (V, W) stored
  // the other way round get their own message.
  void check_factor(const TensorInfo& t, const std::vector<int64_t>& expected, const std::string& reason) {
    check_float(t);
    if (t.shape == expected) return;
    if (expected.size() == 2 && expected[0] != expected[1] &&
        t.shape == std::vector<int64_t>{expected[1], expected[0]}) {
      issues_.push_back(fmt::format("{}: shape {} is transposed; expected {} ({}); transpose it when converting the "
                                    "checkpoint",
                                    t.name, shape_string(t.shape), shape_string(expected), reason));
      return;
    }
    issues_.push_back(fmt::format("{}: expected shape {} ({}), found {}", t.name, shape_string(expected), reason,
                                  shape_string(t.shape)));
  }

  // The cross network of a dcn model on X = (T + 1) * dim.
  void infer_cross(int64_t dim) {
    model::ModelArch& arch = layout_.arch;
    arch.interaction = "dcn";
    if (cross_.empty()) {
      issues_.push_back(fmt::format("missing {}, {} and {} (a DLRM_DCN state_dict holds the cross network's V, W "
                                    "and bias of layers 0..L-1)",
                                    key(KeyPart::kCrossV, 0), key(KeyPart::kCrossW, 0), key(KeyPart::kCrossBias, 0)));
      return;
    }
    const int last = cross_.rbegin()->first;
    for (int l = 0; l <= last; ++l) {
      const CrossLayer& c = cross_[l];
      for (auto [tensor, part] : {std::pair{c.v, KeyPart::kCrossV}, {c.w, KeyPart::kCrossW},
                                  {c.bias, KeyPart::kCrossBias}}) {
        if (!tensor) {
          issues_.push_back(fmt::format("missing {} (cross layers must be numbered 0..L-1, each with V, W and bias; "
                                        "found layers up to {})",
                                        key(part, l), last));
        }
      }
    }
    arch.cross_layers = last + 1;
    const int64_t tables = static_cast<int64_t>(tables_.size());
    const int64_t width = (tables + 1) * dim;
    // The rank: rows of the first V (its columns if stored transposed), else columns of the first W.
    const CrossLayer& first = cross_.begin()->second;
    int64_t rank = 0;
    if (first.v && first.v->shape.size() == 2) {
      rank = first.v->shape[1] != width && first.v->shape[0] == width ? first.v->shape[1] : first.v->shape[0];
    } else if (first.w && first.w->shape.size() == 2) {
      rank = first.w->shape[1];
    }
    if (rank <= 0 || rank > INT32_MAX || dim <= 0) return;
    arch.cross_rank = static_cast<int>(rank);
    const std::string x = fmt::format("X = (T + 1) * dim = ({} + 1) * {} = {}: the bottom MLP output and one pooled "
                                      "row per table",
                                      tables, dim, width);
    for (const auto& [l, c] : cross_) {
      if (c.v) check_factor(*c.v, {rank, width}, fmt::format("R x X, V_l applied first; {}", x));
      if (c.w) check_factor(*c.w, {width, rank}, fmt::format("X x R; {}", x));
      if (c.bias) check_factor(*c.bias, {width}, x);
    }
  }

  void infer() {
    const int64_t dim = infer_tables();
    model::ModelArch& arch = layout_.arch;
    arch.dim = static_cast<int>(std::clamp<int64_t>(dim, 0, INT32_MAX));

    bottom_chain_ = chain(KeyPart::kBottom, bottom_, "bottom MLP");
    top_chain_ = chain(KeyPart::kTop, top_, "top MLP");
    if (layout_.naming == StateDictNaming::kTorchRec) {  // the final Linear, outside over_arch's MLP
      if (!final_.weight) issues_.push_back(fmt::format("missing {} (over_arch's final Linear to width 1)",
                                                        key(KeyPart::kTopFinal, 0, true)));
      if (!final_.bias) issues_.push_back(fmt::format("missing {} (over_arch's final Linear to width 1)",
                                                      key(KeyPart::kTopFinal, 0, false)));
      top_chain_.push_back(final_);
    }
    int64_t dense_in = 0;
    arch.bottom_mlp = widths(bottom_chain_, dense_in, "");
    arch.dense_features = static_cast<int>(dense_in);
    if (!arch.bottom_mlp.empty() && arch.bottom_mlp.size() == bottom_chain_.size() && arch.bottom_mlp.back() != dim) {
      issues_.push_back(fmt::format("{}: the bottom MLP must end at the embedding dim {} (columns of {}), found width "
                                    "{}",
                                    bottom_chain_.back().weight->name, dim,
                                    tables_.empty() ? "the tables" : tables_.begin()->second->name,
                                    arch.bottom_mlp.back()));
    }
    const int64_t features = static_cast<int64_t>(tables_.size()) + 1;
    int64_t top_in = 0;
    std::string reason;
    if (layout_.naming != StateDictNaming::kDlrm || !cross_.empty()) {
      infer_cross(dim);
      top_in = features * dim;
      reason = fmt::format("in = the cross network's width X = (T + 1) * dim = {} * {}", features, dim);
    } else {
      // Top input: dim + F(F-1)/2 pairwise dot products of F = tables + 1
      // features, or dim + F(F+1)/2 when the interaction keeps the diagonal.
      top_in = dim + features * (features - 1) / 2;
      if (!top_chain_.empty() && top_chain_.front().weight && top_chain_.front().weight->shape.size() == 2 &&
          top_chain_.front().weight->shape[1] == dim + features * (features + 1) / 2) {
        arch.interaction_self = true;
        top_in = top_chain_.front().weight->shape[1];
      }
      reason = fmt::format("in = dim {} + {} pairwise dot products of {} features ({} tables + bottom MLP output)",
                           dim, features * (features - 1) / 2, features, tables_.size());
    }
    arch.top_mlp = widths(top_chain_, top_in, reason);
    if (!arch.top_mlp.empty() && arch.top_mlp.size() == top_chain_.size() && arch.top_mlp.back() != 1) {
      issues_.push_back(fmt::format("{}: the top MLP must end with width 1 (the click logit), found width {}",
                                    top_chain_.back().weight->name, arch.top_mlp.back()));
    }
  }

  // Internal names (dense_tensor_specs) of the tensors, once everything checked out.
  void map_internal_names() {
    auto add = [&](const std::string& name, const TensorInfo* t) {
      DLRM_ASSERT(t != nullptr);
      layout_.internal[name] = static_cast<size_t>(t - tensors_.data());
    };
    for (const auto& [k, t] : tables_) add(fmt::format("emb_l.{}.weight", k), t);
    for (size_t i = 0; i < bottom_chain_.size(); ++i) {
      add(fmt::format("bot_l.{}.weight", 2 * i), bottom_chain_[i].weight);
      add(fmt::format("bot_l.{}.bias", 2 * i), bottom_chain_[i].bias);
    }
    for (const auto& [l, c] : cross_) {
      add(fmt::format("cross.{}.V", l), c.v);
      add(fmt::format("cross.{}.W", l), c.w);
      add(fmt::format("cross.{}.bias", l), c.bias);
    }
    for (size_t i = 0; i < top_chain_.size(); ++i) {
      add(fmt::format("top_l.{}.weight", 2 * i), top_chain_[i].weight);
      add(fmt::format("top_l.{}.bias", 2 * i), top_chain_[i].bias);
    }
    DLRM_ASSERT(layout_.internal.size() == tensors_.size());
  }

  const std::vector<TensorInfo>& tensors_;
  int64_t row_cap_;
  std::string where_;
  std::string prefix_;  // "model." or ""
  StateDictLayout layout_;
  std::map<int, const TensorInfo*> tables_;
  std::map<int, Linear> bottom_, top_;
  Linear final_;  // kTorchRec: over_arch.model.1
  std::map<int, CrossLayer> cross_;
  std::vector<Linear> bottom_chain_, top_chain_;  // in order, as the model applies them
  std::vector<std::string> issues_;
};

}  // namespace

StateDictLayout infer_state_dict_layout(const std::vector<TensorInfo>& tensors, int64_t row_cap,
                                        const std::string& where) {
  return LayoutInference(tensors, row_cap, where).run();
}

model::ModelArch infer_state_dict_arch(const std::vector<TensorInfo>& tensors, int64_t row_cap, const std::string& where) {
  return infer_state_dict_layout(tensors, row_cap, where).arch;
}

}  // namespace dlrm::import
