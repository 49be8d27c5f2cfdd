// Small libzip helpers shared by the readers of zip archives (PyTorch
// checkpoints, .npz data).
#pragma once

#include <zip.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace dlrm {

// The text of a libzip error code (as zip_open reports it).
std::string zip_message(int code);

// Throws the Error of a zip_fread of `what` in `archive` that returned `got`
// (< 0: an error of `f`, 0: the entry ends early): truncated or damaged.
[[noreturn]] void zip_read_failed(zip_file_t* f, zip_int64_t got, const std::filesystem::path& archive,
                                  std::string_view what);

// Reads exactly `bytes` from the open entry `f` of `archive` or throws naming
// the archive and what_of() (e.g. "member x.npy"; built only on failure).
template <class WhatOf>
void zip_read_exact(zip_file_t* f, void* dst, uint64_t bytes, const std::filesystem::path& archive,
                    const WhatOf& what_of) {
  auto* out = static_cast<uint8_t*>(dst);
  while (bytes > 0) {
    const zip_int64_t got = zip_fread(f, out, bytes);
    if (got <= 0) zip_read_failed(f, got, archive, what_of());
    out += got;
    bytes -= static_cast<uint64_t>(got);
  }
}

}  // namespace dlrm
