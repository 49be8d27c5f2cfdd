// Numbers for people: byte sizes read from command lines and files, and
// sizes, counts and shapes written in messages and tables. Every program
// prints sizes and counts through these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlrm {

// "4096", "64K", "1.5G", "2T", "64KiB" (K, M, G, T, KiB .. TiB: powers of 1024)
// and "64KB", "64GB" (powers of 1000), case-insensitive. Throws dlrm::Error
// naming `what` (the option or field) with an example of the form.
uint64_t parse_byte_size(const std::string& text, const std::string& what);

// "4.00 GB", "1.50 MB", "512 B": decimal units (powers of 1000, up to TB),
// two decimals; whole bytes below 1000.
std::string format_bytes(double bytes);

// "192.0 GiB", "1.5 GiB", "512.0 MiB", "100 B": binary units (powers of
// 1024, up to TiB), one decimal; whole bytes below 1024.
std::string format_binary_bytes(uint64_t bytes);

// "187,767,399": decimal digits grouped by three with commas.
std::string group_digits(uint64_t n);

// "1 shard", "3 shards": n and the word, with an "s" unless n == 1.
std::string plural(int64_t n, const std::string& word);

// "(3, 4)", "(5,)": a tensor shape as Python prints it.
std::string shape_string(const std::vector<int64_t>& shape);

// One CSV field (RFC 4180): as is, or quoted with inner quotes doubled when it
// holds a comma, a quote or a line break.
std::string csv_field(const std::string& text);

}  // namespace dlrm
