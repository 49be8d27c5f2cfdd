// JSON text into a rapidjson::Document with every number read exactly:
// integers as rapidjson reads them (int, unsigned, 64-bit), every other
// number to the nearest double (std::from_chars).
//
// Why not rapidjson's own parse: rapidjson 1.1 (Debian 12) reads doubles
// with a fast method that can miss the nearest double by an ulp, so the
// shortest digits JsonWriter writes may not read back to the same value; and
// its kParseFullPrecisionFlag reads out of bounds on a long run of zeros
// (both found by fuzz.tuned_config). Here rapidjson checks the grammar and
// hands over each number's text (kParseNumbersAsStringsFlag).
//
//   rapidjson::Document doc;
//   rapidjson::ParseResult ok = parse_json_exact<rapidjson::kParseIterativeFlag>(doc, text);
//
// Errors are rapidjson's, with its offsets; a number beyond the double range
// is kParseErrorNumberTooBig (as rapidjson's own parse), one below it reads as
// zero or a subnormal (as strtod).
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/error/error.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

namespace dlrm {
namespace detail {

// SAX events passed on to the document, numbers converted from their text.
class ExactNumbers {
 public:
  using Ch = char;
  explicit ExactNumbers(rapidjson::Document& doc) : doc_(doc) {}
  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool String(const Ch* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
  bool StartObject() { return doc_.StartObject(); }
  bool Key(const Ch* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
  bool EndObject(rapidjson::SizeType members) { return doc_.EndObject(members); }
  bool StartArray() { return doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) { return doc_.EndArray(elements); }

  // The text passed rapidjson's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool RawNumber(const Ch* s, rapidjson::SizeType n, bool) {
    const char* end = s + n;
    if (std::none_of(s, end, [](char c) { return c == '.' || c == 'e' || c == 'E'; })) {
      if (*s == '-') {
        int64_t v = 0;
        const auto r = std::from_chars(s, end, v);
        if (r.ec == std::errc() && r.ptr == end) return doc_.Int64(v);
      } else {
        uint64_t v = 0;
        const auto r = std::from_chars(s, end, v);
        if (r.ec == std::errc() && r.ptr == end) return doc_.Uint64(v);
      }
      // Past 64 bits: a double, as rapidjson reads it.
    }
    double d = 0;
    const auto r = std::from_chars(s, end, d);
    if (r.ec == std::errc() && r.ptr == end) return doc_.Double(d);
    // Out of range: strtod tells overflow (HUGE_VAL) from underflow (zero
    // or a subnormal). The grammar has no locale-dependent characters, and
    // the programs keep the "C" locale.
    const std::string text(s, n);
    d = std::strtod(text.c_str(), nullptr);
    if (std::isinf(d)) {
      too_big_ = true;
      return false;
    }
    return doc_.Double(d);
  }
  bool too_big() const { return too_big_; }

 private:
  rapidjson::Document& doc_;
  bool too_big_ = false;
};

}  // namespace detail

template <unsigned Flags = rapidjson::kParseDefaultFlags>
rapidjson::ParseResult parse_json_exact(rapidjson::Document& doc, std::string_view text) {
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document& handler) {
    detail::ExactNumbers exact(handler);
    rapidjson::MemoryStream memory(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(memory);
    rapidjson::Reader reader;
    result = reader.Parse<Flags | rapidjson::kParseNumbersAsStringsFlag>(in, exact);
    if (result.Code() == rapidjson::kParseErrorTermination && exact.too_big()) {
      result.Set(rapidjson::kParseErrorNumberTooBig, result.Offset());
    }
    return !result.IsError();
  };
  doc.Populate(generate);
  return result;
}

}  // namespace dlrm
