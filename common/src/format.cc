#include "dlrm/common/format.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "dlrm/common/error.h"

namespace dlrm {

uint64_t parse_byte_size(const std::string& text, const std::string& what) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  std::string number = text.substr(0, i), unit = text.substr(i);
  double value = 0;
  bool ok = !number.empty() && std::count(number.begin(), number.end(), '.') <= 1 && number != ".";
  if (ok) value = std::stod(number);
  std::string upper;
  for (char c : unit) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 0;
  const std::string prefixes = "KMGT";
  if (upper.empty() || upper == "B") {
    scale = 1;
  } else if (auto p = prefixes.find(upper[0]); p != std::string::npos) {
    std::string rest = upper.substr(1);
    if (rest.empty() || rest == "I" || rest == "IB") scale = std::pow(1024.0, static_cast<double>(p + 1));
    if (rest == "B") scale = std::pow(1000.0, static_cast<double>(p + 1));
  }
  DLRM_CHECK(ok && scale > 0, "{}: '{}' is not a size; write e.g. 64G (GiB), 64GB (10^9 bytes) or 4096", what,
             text);
  double bytes = value * scale;
  DLRM_CHECK(bytes < 1.8e19, "{}: {} is too large", what, text);
  return static_cast<uint64_t>(bytes);
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 4) {
    bytes /= 1000.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.2f} {}", bytes, units[u]);
}

std::string format_binary_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int u = 0;
  while (value >= 1024.0 && u < 4) {
    value /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[u]);
}

std::string group_digits(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string plural(int64_t n, const std::string& word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char ch : text) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

}  // namespace dlrm
