// Import from a directory of .npy files named by state_dict key, and
// open_import_source(), which picks the importer by the kind of path.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/npy.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/import/import.h"
#include "dlrm/import/onnx_model.h"
#include "dlrm/sharding/source.h"
#include "dlrm/import/state_dict.h"
#include "dlrm/import/torch_checkpoint.h"

namespace fs = std::filesystem;

namespace dlrm::import {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

ElementType npy_dtype(const NpyHeader& h) {
  if (h.kind != 'f') return ElementType::kOther;
  switch (h.item_bytes) {
    case 4: return ElementType::kFp32;
    case 2: return ElementType::kFp16;
    case 8: return ElementType::kFp64;
    default: return ElementType::kOther;
  }
}

// One tensor per <key>.npy file of the directory (other files are ignored);
// the architecture is inferred from them by make_state_dict_source().
class NpyDirStore final : public TensorStore {
 public:
  explicit NpyDirStore(const fs::path& dir) : dir_(dir) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      if (entry.path().extension() == ".npy") files.push_back(entry.path());
    }
    DLRM_CHECK(!ec, "cannot list {}: {}", dir_.string(), ec.message());
    DLRM_CHECK(!files.empty(),
               "import {}: no .npy files in the directory; expected one per state_dict key (emb_l.0.weight.npy, "
               "emb_l.1.weight.npy, ..., bot_l.0.weight.npy, bot_l.0.bias.npy, ..., top_l.0.weight.npy, ...)",
               dir_.string());
    std::sort(files.begin(), files.end());
    for (const fs::path& path : files) {
      NpyHeader h = read_npy_header(path);
      infos_.push_back(TensorInfo{path.stem().string(), h.shape, npy_dtype(h), h.descr});
      headers_.push_back(std::move(h));
    }
    files_.resize(headers_.size());
  }

  std::string describe() const override {
    return fmt::format("npy {}", fs::absolute(dir_).lexically_normal().string());
  }
  const fs::path& path() const override { return dir_; }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }

  void read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end,
                  float* dst) override {
    DLRM_CHECK(index < headers_.size(), "{}: no tensor {}", dir_.string(), index);
    const NpyHeader& h = headers_[index];
    const TensorInfo& info = infos_[index];
    // Seen as a matrix: [shape[0], product of the rest]; a 1-D tensor is one row.
    int64_t total_rows = h.shape.size() >= 2 ? h.shape[0] : 1;
    int64_t total_cols = h.shape.empty() ? 1 : h.shape.back();
    for (size_t d = 1; d + 1 < h.shape.size(); ++d) total_cols *= h.shape[d];
    DLRM_CHECK(row_begin >= 0 && rows >= 0 && row_begin + rows <= total_rows && col_begin >= 0 &&
                   col_begin <= col_end && col_end <= total_cols,
               "{}: block rows [{}, {}) cols [{}, {}) is outside tensor '{}' {}", h.path.string(), row_begin,
               row_begin + rows, col_begin, col_end, info.name, shape_string(h.shape));
    DLRM_CHECK(kWeightTypes.contains(info.dtype), "{}: tensor '{}' holds '{}' values, not floats", h.path.string(),
               info.name, h.descr);
    const int64_t cols = col_end - col_begin;
    if (rows == 0 || cols == 0) return;
    if (!files_[index]) {
      std::FILE* f = std::fopen(h.path.c_str(), "rb");
      DLRM_CHECK(f != nullptr, "cannot open {}: {}", h.path.string(), std::strerror(errno));
      files_[index].reset(f);
    }
    std::FILE* file = files_[index].get();
    const uint64_t eb = static_cast<uint64_t>(h.item_bytes);
    auto offset = [&](int64_t r, int64_t c) {
      return h.data_offset + (static_cast<uint64_t>(r) * total_cols + static_cast<uint64_t>(c)) * eb;
    };
    if (info.dtype == ElementType::kFp32 && cols == total_cols) {  // the file's bytes are the rows we want
      read_exact(file, h.path, dst, static_cast<size_t>(rows * cols) * eb, offset(row_begin, 0), info.name.c_str());
      return;
    }
    // Otherwise through a bounded buffer, then cut and convert: as many rows
    // per read as fit, or a long row in pieces.
    const uint64_t chunk = kBufferBytes / eb;  // elements per read
    if (static_cast<uint64_t>(total_cols) <= chunk) {
      const int64_t per_read = static_cast<int64_t>(chunk / total_cols);
      for (int64_t r = 0; r < rows; r += per_read) {
        const int64_t n = std::min(per_read, rows - r);
        const uint64_t extent = static_cast<uint64_t>((n - 1) * total_cols + cols);
        buffer_.resize(static_cast<size_t>(extent * eb));
        read_exact(file, h.path, buffer_.data(), buffer_.size(), offset(row_begin + r, col_begin), info.name.c_str());
        for (int64_t k = 0; k < n; ++k) {
          convert_to_f32(info.dtype, buffer_.data() + k * total_cols * eb, cols, dst + (r + k) * cols);
        }
      }
      return;
    }
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; c += static_cast<int64_t>(chunk)) {
        const int64_t n = std::min(static_cast<int64_t>(chunk), cols - c);
        buffer_.resize(static_cast<size_t>(n * eb));
        read_exact(file, h.path, buffer_.data(), buffer_.size(), offset(row_begin + r, col_begin + c),
                   info.name.c_str());
        convert_to_f32(info.dtype, buffer_.data(), n, dst + r * cols + c);
      }
    }
  }

 private:
  static constexpr uint64_t kBufferBytes = 8u << 20;

  fs::path dir_;
  std::vector<NpyHeader> headers_;
  std::vector<TensorInfo> infos_;
  std::vector<FilePtr> files_;  // opened on first read
  std::vector<uint8_t> buffer_;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::unique_ptr<sharding::ModelSource> open_checkpoint(const fs::path& from, int64_t row_cap) {
  std::error_code ec;
  DLRM_CHECK(fs::exists(from, ec), "import: {} does not exist; give a directory of .npy files named by state_dict key",
             from.string());
  if (fs::is_directory(from, ec)) return make_state_dict_source(std::make_unique<NpyDirStore>(from), row_cap);
  std::string ext = lower(from.extension().string());
  if (ext == ".pt" || ext == ".pth") return open_torch_source(from, row_cap);
  if (ext == ".onnx") return open_onnx_source(from, row_cap);
  DLRM_FAIL("import {}: unknown model kind; expected a directory of .npy files named by state_dict key, a PyTorch "
            "checkpoint (.pt, .pth) or an ONNX model (.onnx)",
            from.string());
}

}  // namespace

std::unique_ptr<sharding::ModelSource> open_import_source(const fs::path& from, int64_t row_cap,
                                                          const std::string& hotness) {
  std::unique_ptr<sharding::ModelSource> source = open_checkpoint(from, row_cap);
  if (hotness.empty()) return source;
  std::vector<int> values = parse_hotness(hotness, source->arch().num_tables());
  return with_hotness(std::move(source), std::move(values), hotness);
}

}  // namespace dlrm::import
