// A model directory as a ModelSource: rows from its shard files, dense
// tensors from dense.bin.
#include <algorithm>
#include <map>

#include "dlrm/common/error.h"
#include "dlrm/model/dense_file.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/sharding/source.h"

namespace fs = std::filesystem;

namespace dlrm::sharding {

namespace {

class ModelDirSource final : public ModelSource {
 public:
  ModelDirSource(const fs::path& dir, bool verify) : dir_(dir), manifest_(model::load_manifest(dir)) {
    model::ShardFile::Options options;
    options.verify = verify;
    slices_.resize(static_cast<size_t>(manifest_.arch.num_tables()));
    for (int s = 0; s < manifest_.num_shards(); ++s) {
      files_.push_back(model::ShardFile::open(dir / manifest_.shards[s].file, options));
      model::check_against_manifest(files_.back(), manifest_, s);
    }
    for (const model::ShardFile& file : files_) {
      for (size_t k = 0; k < file.slices().size(); ++k) {
        const model::ShardSliceRecord& rec = file.slices()[k];
        slices_[rec.table].push_back({rec, file.slice_view(static_cast<int>(k))});
      }
    }
  }

  std::string describe() const override { return manifest_.source; }
  const model::ModelArch& arch() const override { return manifest_.arch; }

  void read_rows(int table, int64_t row_begin, int64_t rows, int col_begin, int col_end, float* dst) override {
    DLRM_CHECK(table >= 0 && table < manifest_.arch.num_tables(), "{}: no table {}", dir_.string(), table);
    const int cols = col_end - col_begin;
    row_.resize(static_cast<size_t>(manifest_.arch.dim));
    for (int64_t r = 0; r < rows; ++r) {
      const auto row = static_cast<uint64_t>(row_begin + r);
      int filled = 0;
      for (const Located& loc : slices_[table]) {
        const model::ShardSliceRecord& rec = loc.record;
        if (row < rec.row_begin || row >= rec.row_end) continue;
        const int lo = std::max<int>(col_begin, static_cast<int>(rec.col_begin));
        const int hi = std::min<int>(col_end, static_cast<int>(rec.col_end));
        if (lo >= hi) continue;
        model::decode_row(loc.rows.type, loc.rows.rows + (row - rec.row_begin) * loc.rows.stride, loc.rows.cols,
                          row_.data());
        std::copy(row_.begin() + (lo - rec.col_begin), row_.begin() + (hi - rec.col_begin),
                  dst + r * cols + (lo - col_begin));
        filled += hi - lo;
      }
      DLRM_CHECK(filled == cols, "{}: table {} row {} columns [{}, {}) are not all held by its shard files",
                 dir_.string(), table, row, col_begin, col_end);
    }
  }

  std::vector<float> read_dense(const std::string& name, const std::vector<int64_t>& shape) override {
    if (dense_.empty()) {
      for (auto& tensor : model::read_dense_file(dir_ / manifest_.dense_file)) dense_[tensor.name] = std::move(tensor);
    }
    auto it = dense_.find(name);
    DLRM_CHECK(it != dense_.end(), "{} has no tensor '{}'", (dir_ / manifest_.dense_file).string(), name);
    DLRM_CHECK(it->second.shape == shape, "{}: tensor '{}' has shape [{}], expected [{}]",
               (dir_ / manifest_.dense_file).string(), name, fmt::join(it->second.shape, ", "),
               fmt::join(shape, ", "));
    return it->second.values;
  }

 private:
  struct Located {
    model::ShardSliceRecord record;
    model::RowsView rows;
  };
  fs::path dir_;
  model::Manifest manifest_;
  std::vector<model::ShardFile> files_;
  std::vector<std::vector<Located>> slices_;  // per table
  std::map<std::string, model::DenseTensor> dense_;
  std::vector<float> row_;
};

}  // namespace

std::unique_ptr<ModelSource> open_model_dir_source(const fs::path& dir, bool verify) {
  return std::make_unique<ModelDirSource>(dir, verify);
}

}  // namespace dlrm::sharding
