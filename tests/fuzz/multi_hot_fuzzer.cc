// libFuzzer target: the multi-hot (dlrm-v2) opener. The first byte picks the
// file the rest of the input replaces (0: PREFIX_sparse_multi_hot.npz, 1:
// PREFIX_dense.npy, 2: PREFIX_labels.npy); the other two are valid files of 4
// samples, 2 dense features and 3 tables of hotness 1, 2, 3 written by
// MultiHotWriter. Opening must succeed or throw dlrm::Error (with and without
// the model's hotness); an opened set is then read whole and in part (bags,
// labels, dense_transform, find_bad_index), under ASan + UBSan.
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/datasets/dataset.h"
#include "dlrm/datasets/multi_hot.h"
#include "dlrm/datasets/multi_hot_writer.h"

namespace fs = std::filesystem;
using namespace dlrm::datasets;

namespace {

constexpr int64_t kSamples = 4;
const std::vector<int> kHotness = {1, 2, 3};
const std::vector<int64_t> kRows = {3, 5, 7};

// The valid files' bytes, by suffix.
struct ValidFiles {
  std::string dense, sparse, labels;
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const fs::path& work_dir() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "dlrm-fuzz-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) abort();
    return fs::path(pattern);
  }();
  return dir;
}

const ValidFiles& valid_files() {
  static const ValidFiles files = [] {
    spdlog::set_level(spdlog::level::off);  // the note on unaligned entries, once per input
    const fs::path prefix = work_dir() / "valid";
    MultiHotWriter out(prefix, kSamples, 2, kHotness);
    const std::vector<float> dense = {0.5f, 1, 2, 3, 4, 5, 6, 7};
    const std::vector<int32_t> labels = {0, 1, 1, 0};
    const std::vector<int32_t> b0 = {0, 1, 2, 0}, b1 = {0, 1, 2, 3, 4, 0, 1, 2}, b2(12, 6);
    out.write(kSamples, dense.data(), labels.data(), {b0.data(), b1.data(), b2.data()});
    out.commit();
    const MultiHotFiles f = multi_hot_files(prefix);
    return ValidFiles{read_all(f.dense), read_all(f.sparse), read_all(f.labels)};
  }();
  return files;
}

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Reads every held sample; traps when a bag index the check passed is out of range.
void read_all_samples(const Dataset& data) {
  std::vector<float> dense(static_cast<size_t>(data.end_held() - data.first_held()) * 2 + 1);
  dense_transform(data, data.first_held(), static_cast<int>(data.end_held() - data.first_held()), dense.data());
  data.prefetch(data.first_held(), data.end_held() - data.first_held());
  const auto bad = find_bad_index(data, data.first_held(), data.end_held(), kRows);
  int64_t sum = 0;
  for (int64_t i = data.first_held(); i < data.end_held(); ++i) {
    sum += data.label(i);
    for (int t = 0; t < 3; ++t) {
      for (int k = 0; k < data.hotness(t); ++k) {
        const int32_t v = data.bag(i, t)[k];
        if (!bad && (v < 0 || v >= kRows[t])) __builtin_trap();
        sum += v;
      }
    }
  }
  if (sum == -1) abort();  // keeps the reads
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ValidFiles& valid = valid_files();
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  const fs::path prefix = work_dir() / "day_1";
  const MultiHotFiles files = multi_hot_files(prefix);
  const int which = data[0] % 3;
  write(files.sparse, which == 0 ? input : valid.sparse);
  write(files.dense, which == 1 ? input : valid.dense);
  write(files.labels, which == 2 ? input : valid.labels);
  for (const std::vector<int>& hotness : {kHotness, std::vector<int>{}}) {
    try {
      read_all_samples(Dataset::open_multi_hot(prefix, DataShape{2, 3, hotness}));
      read_all_samples(Dataset::open_multi_hot(prefix, DataShape{2, 3, hotness}, 1, 2));
    } catch (const dlrm::Error&) {
      // Refused with a message: fine.
    }
  }
  return 0;
}
