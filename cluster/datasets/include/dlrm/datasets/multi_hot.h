// MLPerf's preprocessed multi-hot Criteo (dlrm-v2) on disk, for one day N:
//   day_N_dense.npy               float32 [S, F]  already transformed (log(x + 3))
//   day_N_sparse_multi_hot.npz    stored (uncompressed) entries "0" .. "T-1",
//                                 entry t int32 [S, h_t]: the bag of each sample
//   day_N_labels.npy              int32 [S, 1] (or [S])
// Dataset::open_multi_hot maps all three read-only. An entry's array is used
// in place (at its data offset in the archive) when it starts 4-byte aligned;
// numpy's savez does not align its entries, so otherwise the held samples of
// that entry are copied into memory (logged once per file, with the size),
// which is what a dense rank's part costs anyway. dlrm-data synth writes every
// array 64-byte aligned.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dlrm/datasets/dataset.h"

namespace dlrm::datasets {

struct MultiHotFiles {
  std::filesystem::path dense, sparse, labels;
};

// The files of PREFIX (PREFIX_dense.npy, PREFIX_sparse_multi_hot.npz,
// PREFIX_labels.npy).
MultiHotFiles multi_hot_files(const std::filesystem::path& prefix);

// --data as multi-hot data: a directory holding exactly one day_*_dense.npy
// (its prefix; throws listing what it holds otherwise), one of the three file
// names, or a prefix (/x/day_23). Throws naming every missing file.
MultiHotFiles find_multi_hot_files(const std::filesystem::path& path_or_prefix);

// Whether --data names multi-hot data: a directory, a path ending in
// _dense.npy, _sparse_multi_hot.npz or _labels.npy, or a prefix whose
// PREFIX_dense.npy exists.
bool is_multi_hot(const std::filesystem::path& path);

// A member of a zip archive whose bytes are used in place.
struct StoredEntry {
  std::string name;          // as in the archive ("3.npy")
  uint16_t method = 0;       // 0 stored, 8 deflated, ...
  uint64_t data_offset = 0;  // of the member's first byte in the archive
  uint64_t bytes = 0;        // compressed size (= size when stored)
  uint64_t size = 0;         // uncompressed size
};

// Every member of the zip archive `bytes` (its central directory, ZIP64 or
// not), each checked against its local header and to lie inside the archive.
// Throws naming `path` when the archive is not a well-formed zip.
std::vector<StoredEntry> zip_entries(const uint8_t* bytes, uint64_t size, const std::filesystem::path& path);

}  // namespace dlrm::datasets
