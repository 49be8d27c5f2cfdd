// Import from a directory of .npy files named by state_dict key, and the
// dispatch of open_import_source() on the kind of path. Importers for other
// checkpoint formats (.pt, .onnx) add a branch to open_import_source().
#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <regex>

#include "dlrm/common/error.h"
#include "dlrm/common/npy.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/shard/onnx_model.h"
#include "dlrm/shard/source.h"
#include "dlrm/shard/torch_checkpoint.h"

namespace fs = std::filesystem;

namespace dlrm::shard {

namespace {

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    float magnitude = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf, nan
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

// Converts `count` little-endian fp32 or fp16 values.
void to_f32(const uint8_t* src, int item_bytes, size_t count, float* dst) {
  if (item_bytes == 4) {
    std::memcpy(dst, src, count * sizeof(float));
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = half_to_float(h);
  }
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

FilePtr open_file(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  DLRM_CHECK(f != nullptr, "cannot open {}: {}", path.string(), std::strerror(errno));
  return FilePtr(f);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// "0, 2, 4" or "0..25" style list of indices.
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

// One Linear layer of an MLP: weight [out, in] and bias [out].
struct LinearFiles {
  const NpyHeader* weight = nullptr;
  const NpyHeader* bias = nullptr;
};

class NpyDirSource final : public ModelSource {
 public:
  NpyDirSource(const fs::path& dir, int64_t row_cap) : dir_(dir), row_cap_(row_cap) {
    scan();
    infer_arch();
    for (int t = 0; t < arch_.num_tables(); ++t) table_files_.push_back(open_file(tables_[t].path));
  }

  std::string describe() const override {
    std::string s = fmt::format("import npy {}", fs::absolute(dir_).lexically_normal().string());
    return row_cap_ > 0 ? s + fmt::format(" row_cap={}", row_cap_) : s;
  }
  const ModelArch& arch() const override { return arch_; }

  void read_rows(int table, int64_t row_begin, int64_t rows, int col_begin, int col_end, float* dst) override {
    DLRM_CHECK(table >= 0 && table < arch_.num_tables(), "import: no table {} in {}", table, dir_.string());
    DLRM_CHECK(row_begin >= 0 && rows >= 0 && row_begin + rows <= arch_.table_rows[table],
               "import: rows [{}, {}) are outside table {} of {} rows", row_begin, row_begin + rows, table,
               arch_.table_rows[table]);
    DLRM_CHECK(col_begin >= 0 && col_begin < col_end && col_end <= arch_.dim,
               "import: columns [{}, {}) are outside dim {}", col_begin, col_end, arch_.dim);
    const NpyHeader& h = tables_[table];
    std::FILE* file = table_files_[table].get();
    const int dim = arch_.dim;
    const int cols = col_end - col_begin;
    const uint64_t row_bytes = static_cast<uint64_t>(dim) * h.item_bytes;
    if (h.item_bytes == 4 && cols == dim) {  // the file's bytes are the rows we want
      read_exact(file, h.path, dst, rows * row_bytes, h.data_offset + row_begin * row_bytes, "table rows");
      return;
    }
    // Otherwise read whole rows through a bounded buffer, then cut and convert.
    const int64_t step = std::max<int64_t>(1, static_cast<int64_t>(kBufferBytes / row_bytes));
    buffer_.resize(static_cast<size_t>(std::min(step, rows) * row_bytes));
    for (int64_t r = 0; r < rows; r += step) {
      int64_t n = std::min(step, rows - r);
      read_exact(file, h.path, buffer_.data(), n * row_bytes, h.data_offset + (row_begin + r) * row_bytes,
                 "table rows");
      for (int64_t i = 0; i < n; ++i) {
        to_f32(buffer_.data() + i * row_bytes + static_cast<uint64_t>(col_begin) * h.item_bytes, h.item_bytes,
               cols, dst + (r + i) * cols);
      }
    }
  }

  std::vector<float> read_dense(const std::string& name, const std::vector<int64_t>& shape) override {
    auto it = dense_.find(name);
    DLRM_CHECK(it != dense_.end(), "import: {} has no {}.npy", dir_.string(), name);
    const NpyHeader& h = it->second;
    DLRM_CHECK(h.shape == shape, "{} has shape {} but {} was expected", h.path.string(), shape_str(h.shape),
               shape_str(shape));
    std::vector<uint8_t> raw(static_cast<size_t>(h.count()) * h.item_bytes);
    read_exact(open_file(h.path).get(), h.path, raw.data(), raw.size(), h.data_offset, "the array");
    std::vector<float> values(static_cast<size_t>(h.count()));
    to_f32(raw.data(), h.item_bytes, values.size(), values.data());
    return values;
  }

 private:
  static constexpr uint64_t kBufferBytes = 8u << 20;

  void scan() {
    std::error_code ec;
    static const std::regex kTableKey(R"(emb_l\.(\d+)\.weight)");
    static const std::regex kLinearKey(R"((bot_l|top_l)\.(\d+)\.(weight|bias))");
    std::vector<std::string> unexpected;
    std::map<int, NpyHeader> tables;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      const fs::path& path = entry.path();
      if (path.extension() != ".npy") continue;
      std::string key = path.stem().string();
      std::smatch m;
      if (std::regex_match(key, m, kTableKey)) {
        tables[std::stoi(m[1].str())] = read_npy_header(path);
      } else if (std::regex_match(key, m, kLinearKey)) {
        dense_[key] = read_npy_header(path);
      } else {
        unexpected.push_back(path.filename().string());
      }
    }
    DLRM_CHECK(!ec, "cannot list {}: {}", dir_.string(), ec.message());
    std::sort(unexpected.begin(), unexpected.end());
    DLRM_CHECK(unexpected.empty(),
               "import {}: unexpected file {} (key '{}'); a DLRM state_dict holds only emb_l.K.weight, "
               "bot_l.I.weight/bias and top_l.I.weight/bias; remove or rename it",
               dir_.string(), unexpected.front(), fs::path(unexpected.front()).stem().string());
    DLRM_CHECK(!tables.empty(), "import {}: no embedding tables found; expected emb_l.0.weight.npy, emb_l.1.weight.npy, ...",
               dir_.string());
    std::vector<int> found, missing;
    for (const auto& [t, h] : tables) found.push_back(t);
    for (int t = 0; t <= found.back(); ++t) {
      if (!tables.count(t)) missing.push_back(t);
    }
    DLRM_CHECK(missing.empty(), "import {}: missing emb_l.{}.weight.npy (tables must be numbered 0..N-1; found {})",
               dir_.string(), missing.front(), index_list(found));
    for (auto& [t, h] : tables) tables_.push_back(std::move(h));
  }

  // The Linear layers of one MLP ("bot_l" or "top_l"), checked to sit at
  // indices 0, 2, 4, ... with both weight and bias.
  std::vector<LinearFiles> linear_layers(const std::string& prefix, std::vector<std::string>& issues) const {
    std::map<int, LinearFiles> layers;
    for (const auto& [key, h] : dense_) {
      if (key.rfind(prefix + ".", 0) != 0) continue;
      size_t dot = key.find('.', prefix.size() + 1);
      int index = std::stoi(key.substr(prefix.size() + 1, dot - prefix.size() - 1));
      (key.substr(dot + 1) == "weight" ? layers[index].weight : layers[index].bias) = &h;
    }
    if (layers.empty()) {
      issues.push_back(fmt::format("missing {}.0.weight.npy and {}.0.bias.npy (no {} layers found)", prefix, prefix,
                                   prefix == "bot_l" ? "bottom MLP" : "top MLP"));
      return {};
    }
    std::vector<LinearFiles> chain;
    int last = layers.rbegin()->first;
    for (int i = 0; i <= last; ++i) {
      auto it = layers.find(i);
      if (i % 2 == 1) {
        if (it != layers.end()) {
          issues.push_back(fmt::format("unexpected {}.{} (Linear layers of {} sit at even indices 0, 2, 4, ...; "
                                       "odd ones are ReLU and hold no weights)",
                                       prefix, i, prefix));
        }
        continue;
      }
      if (it == layers.end() || !it->second.weight) {
        issues.push_back(fmt::format("missing {}.{}.weight.npy (expected Linear layers at {}..{} step 2)", prefix, i,
                                     0, last));
      }
      if (it == layers.end() || !it->second.bias) {
        issues.push_back(fmt::format("missing {}.{}.bias.npy (every Linear layer needs weight and bias)", prefix, i));
      }
      chain.push_back(it != layers.end() ? it->second : LinearFiles{});  // check_chain stops at a gap
    }
    return chain;
  }

  static bool float_dtype(const NpyHeader& h) { return h.kind == 'f' && (h.item_bytes == 4 || h.item_bytes == 2); }

  void check_dtype(const NpyHeader& h, std::vector<std::string>& issues) const {
    if (!float_dtype(h)) {
      issues.push_back(fmt::format("{} holds '{}' values; expected float32 ('<f4') or float16 ('<f2')",
                                   h.path.filename().string(), h.descr));
    }
  }

  // Checks one MLP chain and returns its output widths; `first_in` is the
  // expected input width of the first layer (0: take it from the file).
  std::vector<int> check_chain(const std::string& prefix, const std::vector<LinearFiles>& chain, int64_t& first_in,
                               const std::string& in_reason, std::vector<std::string>& issues) const {
    std::vector<int> widths;
    int64_t in = first_in;
    for (size_t i = 0; i < chain.size(); ++i) {
      const NpyHeader* w = chain[i].weight;
      const NpyHeader* b = chain[i].bias;
      if (!w) return widths;
      check_dtype(*w, issues);
      if (b) check_dtype(*b, issues);
      std::string wname = fmt::format("{}.{}.weight.npy", prefix, 2 * i);
      if (w->shape.size() != 2 || w->shape[0] <= 0 || w->shape[1] <= 0) {
        issues.push_back(fmt::format("{}: expected a 2-D [out, in] Linear weight, found shape {}", wname,
                                     shape_str(w->shape)));
        return widths;
      }
      if (in == 0) in = first_in = w->shape[1];
      if (w->shape[1] != in) {
        issues.push_back(fmt::format("{}: expected shape ({}, {}) ({}), found {}", wname, w->shape[0], in,
                                     i == 0 ? in_reason : fmt::format("in = out of {}.{}", prefix, 2 * i - 2),
                                     shape_str(w->shape)));
      }
      int64_t out = w->shape[0];
      if (b && b->shape != std::vector<int64_t>{out}) {
        issues.push_back(fmt::format("{}.{}.bias.npy: expected shape ({},), found {}", prefix, 2 * i, out,
                                     shape_str(b->shape)));
      }
      widths.push_back(static_cast<int>(out));
      in = out;
    }
    return widths;
  }

  void infer_arch() {
    std::vector<std::string> issues;
    // Tables: [rows, dim], all of the same dim as emb_l.0.
    const NpyHeader& first = tables_.front();
    int64_t dim = first.shape.size() == 2 ? first.shape[1] : 0;
    for (size_t t = 0; t < tables_.size(); ++t) {
      const NpyHeader& h = tables_[t];
      check_dtype(h, issues);
      if (h.shape.size() != 2 || h.shape[0] <= 0 || h.shape[1] <= 0 || h.shape[1] != dim) {
        issues.push_back(fmt::format(
            "emb_l.{}.weight.npy: expected shape (rows, {}) {}, found {}", t, dim > 0 ? fmt::format("{}", dim) : "dim",
            t == 0 ? "with rows, dim > 0" : "(the dim of emb_l.0.weight)", shape_str(h.shape)));
        continue;
      }
      arch_.table_rows.push_back(row_cap_ > 0 ? std::min(h.shape[0], row_cap_) : h.shape[0]);
    }
    arch_.dim = static_cast<int>(dim);

    std::vector<LinearFiles> bottom = linear_layers("bot_l", issues);
    std::vector<LinearFiles> top = linear_layers("top_l", issues);
    int64_t dense_in = 0;
    arch_.bottom_mlp = check_chain("bot_l", bottom, dense_in, "", issues);
    arch_.dense_features = static_cast<int>(dense_in);
    if (!arch_.bottom_mlp.empty() && arch_.bottom_mlp.size() == bottom.size() && arch_.bottom_mlp.back() != dim) {
      issues.push_back(fmt::format("bot_l.{}.weight.npy: the bottom MLP must end at the embedding dim {} "
                                   "(columns of emb_l.0.weight), found width {}",
                                   2 * (bottom.size() - 1), dim, arch_.bottom_mlp.back()));
    }

    // Top input: dim + F(F-1)/2 pairwise dot products of F = tables + 1
    // features; F(F+1)/2 when the interaction keeps the diagonal.
    int64_t features = static_cast<int64_t>(tables_.size()) + 1;
    int64_t top_in = dim + features * (features - 1) / 2;
    if (!top.empty() && top.front().weight && top.front().weight->shape.size() == 2 &&
        top.front().weight->shape[1] == dim + features * (features + 1) / 2) {
      arch_.interaction_self = true;
      top_in = top.front().weight->shape[1];
    }
    std::string top_reason = fmt::format("in = dim {} + {} pairwise dot products of {} features ({} tables + bottom "
                                         "MLP output)",
                                         dim, features * (features - 1) / 2, features, tables_.size());
    arch_.top_mlp = check_chain("top_l", top, top_in, top_reason, issues);
    if (!arch_.top_mlp.empty() && arch_.top_mlp.size() == top.size() && arch_.top_mlp.back() != 1) {
      issues.push_back(fmt::format("top_l.{}.weight.npy: the top MLP must end with width 1 (the click logit), "
                                   "found width {}",
                                   2 * (top.size() - 1), arch_.top_mlp.back()));
    }

    if (!issues.empty()) {
      constexpr size_t kShown = 6;
      std::string list;
      for (size_t i = 0; i < std::min(kShown, issues.size()); ++i) list += (i ? "; " : "") + issues[i];
      if (issues.size() > kShown) list += fmt::format("; and {} more", issues.size() - kShown);
      DLRM_FAIL("import {}: {} problem{} with the state_dict: {}", dir_.string(), issues.size(),
                issues.size() == 1 ? "" : "s", list);
    }
    try {
      arch_.validate();
    } catch (const Error& e) {
      DLRM_FAIL("import {}: {}", dir_.string(), e.what());
    }
  }

  fs::path dir_;
  int64_t row_cap_;
  ModelArch arch_;
  std::vector<NpyHeader> tables_;
  std::map<std::string, NpyHeader> dense_;
  std::vector<FilePtr> table_files_;
  std::vector<uint8_t> buffer_;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

std::unique_ptr<ModelSource> open_import_source(const fs::path& from, int64_t row_cap) {
  DLRM_CHECK(row_cap >= 0, "--row-cap must be >= 0 (0 keeps every row), got {}", row_cap);
  std::error_code ec;
  DLRM_CHECK(fs::exists(from, ec), "import: {} does not exist; give a directory of .npy files named by state_dict key",
             from.string());
  if (fs::is_directory(from, ec)) return std::make_unique<NpyDirSource>(from, row_cap);
  std::string ext = lower(from.extension().string());
  if (ext == ".pt" || ext == ".pth") return open_torch_source(from, row_cap);
  if (ext == ".onnx") return open_onnx_source(from, row_cap);
  DLRM_FAIL("import {}: unknown model kind; expected a directory of .npy files named by state_dict key, a PyTorch "
            "checkpoint (.pt, .pth) or an ONNX model (.onnx)",
            from.string());
}

}  // namespace dlrm::shard
