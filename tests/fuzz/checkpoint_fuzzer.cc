// libFuzzer target: whole checkpoint files. The first byte picks the format
// (even: PyTorch .pt, zip or legacy by content; odd: ONNX), the rest is the
// file. Opening must succeed or throw dlrm::Error; then every tensor's first
// rows are read and the architecture inferred, under ASan + UBSan.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/import/onnx_model.h"
#include "dlrm/import/state_dict.h"
#include "dlrm/import/torch_checkpoint.h"

namespace fs = std::filesystem;

namespace {

const fs::path& work_dir() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "dlrm-fuzz-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) abort();
    return fs::path(pattern);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool onnx = data[0] & 1;
  const fs::path path = work_dir() / (onnx ? "model.onnx" : "model.pt");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  try {
    std::unique_ptr<dlrm::import::TensorStore> store;
    if (onnx) {
      store = dlrm::import::OnnxModel::open(path);
    } else {
      store = dlrm::import::TorchCheckpoint::open(path);
    }
    const auto& tensors = store->tensors();
    std::vector<float> buffer(4 * 256);
    for (size_t i = 0; i < std::min<size_t>(tensors.size(), 64); ++i) {
      const auto& t = tensors[i];
      if (!dlrm::import::kWeightTypes.contains(t.dtype) || t.shape.size() > 2) continue;
      const int64_t rows = t.shape.size() == 2 ? std::min<int64_t>(t.shape[0], 4) : 1;
      const int64_t cols = t.shape.empty() ? 1 : std::min<int64_t>(t.shape.back(), 256);
      try {
        store->read_block(i, 0, rows, 0, cols, buffer.data());
      } catch (const dlrm::Error&) {
      }
    }
    (void)dlrm::import::infer_state_dict_arch(tensors, 0, "fuzz");
  } catch (const dlrm::Error&) {
  }
  return 0;
}
