// Writes multi-hot data in MLPerf's dlrm-v2 layout (multi_hot.h), a chunk of
// samples at a time:
//   PREFIX_dense.npy              '<f4' (N, F)
//   PREFIX_sparse_multi_hot.npz   a ZIP64 archive of stored entries 0.npy ..
//                                 T-1.npy, entry t '<i4' (N, hotness[t]); each
//                                 entry's array starts 64-byte aligned in the
//                                 file (padding in its local extra field), so
//                                 readers map it in place; numpy reads it
//   PREFIX_labels.npy             '<i4' (N, 1)
// The three files are staged: they appear together at commit() (a failed
// commit removes the ones already renamed); destroying the writer before
// leaves none of them. Every byte depends only on the samples written (zip
// timestamps are fixed at 1980-01-01).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

namespace dlrm::datasets {

class MultiHotWriter {
 public:
  // `out`: an existing directory (writes DIR/day_0_*) or a prefix (/x/day_23).
  MultiHotWriter(const std::filesystem::path& out, int64_t samples, int dense_features, std::vector<int> hotness);
  ~MultiHotWriter();
  MultiHotWriter(const MultiHotWriter&) = delete;
  MultiHotWriter& operator=(const MultiHotWriter&) = delete;

  // The next n samples: dense [n, F], labels [n], bags[t] [n, hotness[t]].
  void write(int64_t n, const float* dense, const int32_t* labels, const std::vector<const int32_t*>& bags);
  // After exactly `samples` samples were written.
  void commit();
  // The prefix written to (DIR/day_0 for a directory).
  const std::filesystem::path& prefix() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dlrm::datasets
