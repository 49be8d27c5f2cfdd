#include "dlrm/import/state_dict.h"

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

class StateDictSource final : public sharding::ModelSource {
 public:
  StateDictSource(std::unique_ptr<TensorStore> store, int64_t row_cap)
      : store_(std::move(store)), row_cap_(row_cap) {
    StateDictLayout layout =
        infer_state_dict_layout(store_->tensors(), row_cap, fmt::format("import {}", store_->path().string()));
    arch_ = std::move(layout.arch);
    index_ = std::move(layout.internal);
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
    DLRM_CHECK(info.shape == shape, "import {}: {}{} has shape {} but {} was expected", store_->path().string(),
               info.name, info.name == name ? "" : fmt::format(" (for {})", name), shape_string(info.shape),
               shape_string(shape));
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
  std::map<std::string, size_t> index_;  // internal name -> tensor
};

}  // namespace

bool dlrm_dcn_key(const std::string& key) {
  static const std::regex kKey(R"((module\.)?(model\.)?(sparse_arch|dense_arch|inter_arch|over_arch)\..*)");
  return std::regex_match(key, kKey);
}

std::unique_ptr<sharding::ModelSource> make_state_dict_source(std::unique_ptr<TensorStore> store, int64_t row_cap) {
  DLRM_CHECK(row_cap >= 0, "--row-cap must be >= 0 (0 keeps every row), got {}", row_cap);
  return std::make_unique<StateDictSource>(std::move(store), row_cap);
}

}  // namespace dlrm::import
