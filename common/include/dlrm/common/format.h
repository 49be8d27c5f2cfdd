// Numbers for people: byte sizes read from command lines and files, and
// sizes, counts and shapes written in messages and tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlrm {

// "4096", "64K", "1.5G", "2T", "64KiB" (K, M, G, T, KiB .. TiB: powers of 1024)
// and "64KB", "64GB" (powers of 1000), case-insensitive. Throws dlrm::Error
// naming `what` (the option or field) with an example of the form.
uint64_t parse_byte_size(const std::string& text, const std::string& what);

// "4.00 GB", "512 B" (decimal units, two decimals).
std::string format_bytes(double bytes);

// "(3, 4)", "(5,)": a tensor shape as Python prints it.
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace dlrm
