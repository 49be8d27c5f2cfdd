// Protocol 0 text arguments of the restricted unpickler (see unpickler.h):
// decimal integers, quoted Python 2 str literals and raw-unicode-escape text.
#include <charconv>

#include "dlrm/common/error.h"
#include "unpickler.h"

namespace dlrm::import::pickle {

namespace {

// UTF-8 encoding of code point `cp`.
void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | ((cp >> 18) & 0x07)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

uint32_t Unpickler::parse_hex(const std::string& s, size_t pos, size_t digits) {
  if (pos + digits > s.size()) fail("truncated escape sequence");
  uint32_t v = 0;
  for (size_t k = 0; k < digits; ++k) {
    int d = hex_digit(s[pos + k]);
    if (d < 0) fail("bad hex digit in an escape sequence");
    v = v * 16 + static_cast<uint32_t>(d);
  }
  return v;
}

std::string Unpickler::raw_unicode_escape(const std::string& s) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '\\' && k + 1 < s.size() && (s[k + 1] == 'u' || s[k + 1] == 'U')) {
      size_t digits = s[k + 1] == 'u' ? 4 : 8;
      uint32_t cp = parse_hex(s, k + 2, digits);
      if (cp > 0x10ffff) fail("code point out of range");
      put_utf8(out, cp);
      k += 1 + digits;
    } else {
      put_utf8(out, static_cast<unsigned char>(s[k]));
    }
  }
  return out;
}

std::string Unpickler::quoted_string(const std::string& s) {
  if (s.size() < 2 || (s[0] != '\'' && s[0] != '"') || s.back() != s[0]) fail("STRING argument is not quoted");
  std::string out;
  for (size_t k = 1; k + 1 < s.size(); ++k) {
    char c = s[k];
    if (c != '\\' || k + 2 >= s.size()) {
      out.push_back(c);
      continue;
    }
    char e = s[++k];
    switch (e) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case '\\': out.push_back('\\'); break;
      case '\'': out.push_back('\''); break;
      case '"': out.push_back('"'); break;
      case 'x':
        out.push_back(static_cast<char>(parse_hex(s, k + 1, 2)));
        k += 2;
        break;
      default:
        out.push_back('\\');
        out.push_back(e);
    }
  }
  return out;
}

int64_t Unpickler::parse_decimal(std::string s, const char* what) {
  if (!s.empty() && s.back() == 'L') s.pop_back();
  int64_t v = 0;
  const char* first = s.data();
  if (!s.empty() && s[0] == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || first == s.data() + s.size()) {
    fail(fmt::format("{} '{}' is not an integer that fits 64 bits", what, s.substr(0, 40)));
  }
  return v;
}

}  // namespace dlrm::import::pickle
