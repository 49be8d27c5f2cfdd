// libFuzzer target: the Criteo TSV line parser. Each line of the input is
// parsed; the result must agree with an independent count of the fields, an
// accepted line must reformat and re-parse to the same values, and nothing may
// crash or read out of bounds (ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "dlrm/datasets/criteo.h"

using dlrm::datasets::CriteoLine;
using dlrm::datasets::LineStatus;

namespace {

void check_line(std::string_view line) {
  CriteoLine parsed;
  const dlrm::datasets::LineParse r = dlrm::datasets::parse_criteo_line(line, parsed);
  std::string_view body = line;
  if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
  int fields = 1;
  for (char c : body) fields += c == '\t';
  if ((fields != dlrm::datasets::kCriteoFields) != (r.status == LineStatus::kFieldCount)) __builtin_trap();
  if (r.status == LineStatus::kFieldCount && r.field != fields) __builtin_trap();
  if (r.status != LineStatus::kOk) {
    if (r.status != LineStatus::kFieldCount && (r.field < 0 || r.field >= dlrm::datasets::kCriteoFields)) __builtin_trap();
    return;
  }
  if (parsed.label != 0 && parsed.label != 1) __builtin_trap();
  std::string again = std::to_string(parsed.label);
  for (int32_t d : parsed.dense) again += "\t" + std::to_string(d);
  char hex[16];
  for (uint32_t h : parsed.hashes) {
    std::snprintf(hex, sizeof hex, "%x", h);
    again += "\t";
    again += hex;
  }
  CriteoLine reparsed;
  if (dlrm::datasets::parse_criteo_line(again, reparsed).status != LineStatus::kOk) __builtin_trap();
  if (reparsed.label != parsed.label || reparsed.dense != parsed.dense || reparsed.hashes != parsed.hashes) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  while (start <= input.size()) {
    size_t nl = input.find('\n', start);
    if (nl == std::string_view::npos) nl = input.size();
    check_line(input.substr(start, nl - start));
    start = nl + 1;
  }
  return 0;
}
