// Sizes given by people on command lines and in files.
#pragma once

#include <cstdint>
#include <string>

namespace dlrm {

// "4096", "64K", "1.5G", "2T", "64KiB" (K, M, G, T, KiB .. TiB: powers of 1024)
// and "64KB", "64GB" (powers of 1000), case-insensitive. Throws dlrm::Error
// naming `what` (the option or field) with an example of the form.
uint64_t parse_byte_size(const std::string& text, const std::string& what);

}  // namespace dlrm
