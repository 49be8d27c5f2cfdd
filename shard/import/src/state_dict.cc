#include "dlrm/import/state_dict.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <regex>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/half.h"

namespace fs = std::filesystem;

namespace dlrm::import {

void convert_to_f32(ElementType dtype, const void* src, size_t count, float* dst) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  switch (dtype) {
    case ElementType::kFp32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case ElementType::kFp16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        dst[i] = fp16_to_float(h);
      }
      return;
    case ElementType::kBf16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        dst[i] = bf16_to_float(h);
      }
      return;
    case ElementType::kFp64:
      for (size_t i = 0; i < count; ++i) {
        double d;
        std::memcpy(&d, bytes + 8 * i, 8);
        dst[i] = static_cast<float>(d);
      }
      return;
    default: break;
  }
  DLRM_ASSERT(false && "convert_to_f32 of a non-float tensor");
}

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

class ArchInference {
 public:
  ArchInference(const std::vector<TensorInfo>& tensors, int64_t row_cap, const std::string& where)
      : tensors_(tensors), row_cap_(row_cap), where_(where) {}

  model::ModelArch run() {
    sort_keys();
    infer();
    if (!issues_.empty()) {
      constexpr size_t kShown = 8;
      std::string list;
      for (size_t i = 0; i < std::min(kShown, issues_.size()); ++i) list += (i ? "; " : "") + issues_[i];
      if (issues_.size() > kShown) list += fmt::format("; and {} more", issues_.size() - kShown);
      DLRM_FAIL("{}: {} problem{} with the state_dict: {}", where_, issues_.size(), issues_.size() == 1 ? "" : "s",
                list);
    }
    try {
      arch_.validate();
    } catch (const Error& e) {
      DLRM_FAIL("{}: {}", where_, e.what());
    }
    return arch_;
  }

 private:
  void sort_keys() {
    static const std::regex kTableKey(R"(emb_l\.(\d{1,6})\.weight)");
    static const std::regex kLinearKey(R"((bot_l|top_l)\.(\d{1,6})\.(weight|bias))");
    std::vector<std::string> unexpected;
    for (const TensorInfo& t : tensors_) {
      std::smatch m;
      if (std::regex_match(t.name, m, kTableKey)) {
        tables_[std::stoi(m[1].str())] = &t;
      } else if (std::regex_match(t.name, m, kLinearKey)) {
        Linear& layer = (m[1].str() == "bot_l" ? bottom_ : top_)[std::stoi(m[2].str())];
        (m[3].str() == "weight" ? layer.weight : layer.bias) = &t;
      } else {
        unexpected.push_back(t.name);
      }
    }
    if (!unexpected.empty()) {
      std::sort(unexpected.begin(), unexpected.end());
      std::string shown;
      for (size_t i = 0; i < std::min<size_t>(5, unexpected.size()); ++i) shown += (i ? "', '" : "") + unexpected[i];
      issues_.push_back(fmt::format("unexpected key{} '{}'{} (a DLRM state_dict holds only emb_l.K.weight, "
                                    "bot_l.I.weight/bias and top_l.I.weight/bias; remove or rename them)",
                                    unexpected.size() == 1 ? "" : "s", shown,
                                    unexpected.size() > 5 ? fmt::format(" and {} more", unexpected.size() - 5) : ""));
    }
  }

  void check_float(const TensorInfo& t) {
    if (!kWeightTypes.contains(t.dtype)) {
      issues_.push_back(fmt::format("{} holds {} values; expected float32 (or float16, bfloat16, float64)", t.name,
                                    t.dtype_name));
    }
  }

  // The Linear layers of one MLP at indices 0, 2, 4, ... with weight and bias.
  std::vector<Linear> chain(const std::string& prefix, const std::map<int, Linear>& layers) {
    if (layers.empty()) {
      issues_.push_back(fmt::format("missing {}.0.weight and {}.0.bias (no {} layers found)", prefix, prefix,
                                    prefix == "bot_l" ? "bottom MLP" : "top MLP"));
      return {};
    }
    std::vector<Linear> out;
    const int last = layers.rbegin()->first;
    for (int i = 0; i <= last; ++i) {
      auto it = layers.find(i);
      if (i % 2 == 1) {
        if (it != layers.end()) {
          issues_.push_back(fmt::format("unexpected {}.{} (Linear layers of {} sit at even indices 0, 2, 4, ...; odd "
                                        "ones are ReLU and hold no weights)",
                                        prefix, i, prefix));
        }
        continue;
      }
      if (it == layers.end() || !it->second.weight) {
        issues_.push_back(fmt::format("missing {}.{}.weight (expected Linear layers at 0..{} step 2)", prefix, i, last));
      }
      if (it == layers.end() || !it->second.bias) {
        issues_.push_back(fmt::format("missing {}.{}.bias (every Linear layer needs weight and bias)", prefix, i));
      }
      out.push_back(it != layers.end() ? it->second : Linear{});
    }
    return out;
  }

  // Output widths of one MLP; `first_in` is the expected input width of its
  // first layer (0: take it from the tensor, and report it back).
  std::vector<int> widths(const std::string& prefix, const std::vector<Linear>& layers, int64_t& first_in,
                          const std::string& in_reason) {
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
                                      i == 0 ? in_reason : fmt::format("in = out of {}.{}", prefix, 2 * i - 2),
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

  void infer() {
    if (tables_.empty()) {
      issues_.push_back("no embedding tables found; expected emb_l.0.weight, emb_l.1.weight, ...");
    } else {
      std::vector<int> found, missing;
      for (const auto& [t, info] : tables_) found.push_back(t);
      for (int t = 0; t <= found.back(); ++t) {
        if (!tables_.count(t)) missing.push_back(t);
      }
      if (!missing.empty()) {
        issues_.push_back(fmt::format("missing emb_l.{}.weight (tables must be numbered 0..N-1; found {})",
                                      missing.front(), index_list(found)));
      }
    }
    int64_t dim = 0;
    if (!tables_.empty()) {
      const TensorInfo& first = *tables_.begin()->second;
      dim = first.shape.size() == 2 ? first.shape[1] : 0;
    }
    for (const auto& [t, info] : tables_) {
      check_float(*info);
      if (info->shape.size() != 2 || info->shape[0] <= 0 || info->shape[1] <= 0 || info->shape[1] != dim) {
        issues_.push_back(fmt::format("{}: expected shape (rows, {}) {}, found {}", info->name,
                                      dim > 0 ? fmt::format("{}", dim) : "dim",
                                      t == tables_.begin()->first ? "with rows, dim > 0" : "(the dim of emb_l.0.weight)",
                                      shape_string(info->shape)));
        continue;
      }
      arch_.table_rows.push_back(row_cap_ > 0 ? std::min(info->shape[0], row_cap_) : info->shape[0]);
    }
    arch_.dim = static_cast<int>(std::clamp<int64_t>(dim, 0, INT32_MAX));

    std::vector<Linear> bottom = chain("bot_l", bottom_);
    std::vector<Linear> top = chain("top_l", top_);
    int64_t dense_in = 0;
    arch_.bottom_mlp = widths("bot_l", bottom, dense_in, "");
    arch_.dense_features = static_cast<int>(dense_in);
    if (!arch_.bottom_mlp.empty() && arch_.bottom_mlp.size() == bottom.size() && arch_.bottom_mlp.back() != dim) {
      issues_.push_back(fmt::format("bot_l.{}.weight: the bottom MLP must end at the embedding dim {} (columns of "
                                    "emb_l.0.weight), found width {}",
                                    2 * (bottom.size() - 1), dim, arch_.bottom_mlp.back()));
    }
    // Top input: dim + F(F-1)/2 pairwise dot products of F = tables + 1
    // features, or dim + F(F+1)/2 when the interaction keeps the diagonal.
    const int64_t features = static_cast<int64_t>(tables_.size()) + 1;
    int64_t top_in = dim + features * (features - 1) / 2;
    if (!top.empty() && top.front().weight && top.front().weight->shape.size() == 2 &&
        top.front().weight->shape[1] == dim + features * (features + 1) / 2) {
      arch_.interaction_self = true;
      top_in = top.front().weight->shape[1];
    }
    const std::string reason = fmt::format(
        "in = dim {} + {} pairwise dot products of {} features ({} tables + bottom MLP output)", dim,
        features * (features - 1) / 2, features, tables_.size());
    arch_.top_mlp = widths("top_l", top, top_in, reason);
    if (!arch_.top_mlp.empty() && arch_.top_mlp.size() == top.size() && arch_.top_mlp.back() != 1) {
      issues_.push_back(fmt::format("top_l.{}.weight: the top MLP must end with width 1 (the click logit), found "
                                    "width {}",
                                    2 * (top.size() - 1), arch_.top_mlp.back()));
    }
  }

  const std::vector<TensorInfo>& tensors_;
  int64_t row_cap_;
  std::string where_;
  std::map<int, const TensorInfo*> tables_;
  std::map<int, Linear> bottom_, top_;
  std::vector<std::string> issues_;
  model::ModelArch arch_;
};

class StateDictSource final : public sharding::ModelSource {
 public:
  StateDictSource(std::unique_ptr<TensorStore> store, int64_t row_cap)
      : store_(std::move(store)), row_cap_(row_cap) {
    const auto& tensors = store_->tensors();
    arch_ = infer_state_dict_arch(tensors, row_cap, fmt::format("import {}", store_->path().string()));
    for (size_t i = 0; i < tensors.size(); ++i) index_[tensors[i].name] = i;
  }

  std::string describe() const override {
    std::string s = "import " + store_->describe();
    return row_cap_ > 0 ? s + fmt::format(" row_cap={}", row_cap_) : s;
  }
  const model::ModelArch& arch() const override { return arch_; }

  void read_rows(int table, int64_t row_begin, int64_t rows, int col_begin, int col_end, float* dst) override {
    DLRM_CHECK(table >= 0 && table < arch_.num_tables(), "import: no table {} in {}", table,
               store_->path().string());
    DLRM_CHECK(row_begin >= 0 && rows >= 0 && row_begin + rows <= arch_.table_rows[table],
               "import: rows [{}, {}) are outside table {} of {} rows", row_begin, row_begin + rows, table,
               arch_.table_rows[table]);
    DLRM_CHECK(col_begin >= 0 && col_begin < col_end && col_end <= arch_.dim,
               "import: columns [{}, {}) are outside dim {}", col_begin, col_end, arch_.dim);
    if (rows == 0) return;
    store_->read_block(index_.at(fmt::format("emb_l.{}.weight", table)), row_begin, rows, col_begin, col_end, dst);
  }

  std::vector<float> read_dense(const std::string& name, const std::vector<int64_t>& shape) override {
    auto it = index_.find(name);
    DLRM_CHECK(it != index_.end(), "import: {} has no tensor '{}'", store_->path().string(), name);
    const TensorInfo& info = store_->tensors()[it->second];
    DLRM_CHECK(info.shape == shape, "import {}: {} has shape {} but {} was expected", store_->path().string(), name,
               shape_string(info.shape), shape_string(shape));
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    std::vector<float> values(static_cast<size_t>(count));
    if (shape.size() == 1) {
      store_->read_block(it->second, 0, 1, 0, shape[0], values.data());
    } else {
      DLRM_CHECK(shape.size() == 2, "import: dense tensor {} must be 1-D or 2-D", name);
      store_->read_block(it->second, 0, shape[0], 0, shape[1], values.data());
    }
    return values;
  }

 private:
  std::unique_ptr<TensorStore> store_;
  int64_t row_cap_;
  model::ModelArch arch_;
  std::map<std::string, size_t> index_;
};

}  // namespace

model::ModelArch infer_state_dict_arch(const std::vector<TensorInfo>& tensors, int64_t row_cap, const std::string& where) {
  return ArchInference(tensors, row_cap, where).run();
}

std::unique_ptr<sharding::ModelSource> make_state_dict_source(std::unique_ptr<TensorStore> store, int64_t row_cap) {
  DLRM_CHECK(row_cap >= 0, "--row-cap must be >= 0 (0 keeps every row), got {}", row_cap);
  return std::make_unique<StateDictSource>(std::move(store), row_cap);
}

}  // namespace dlrm::import
