// JSON documents: written with JsonWriter, read with JsonDocument / JsonValue.
//
// Writing (pretty-printed, keys in call order):
//   JsonWriter w;                       // or JsonWriter w({.indent = 2, .max_decimal_places = 9})
//   w.begin_object();
//   w.field("model", dir.string());     // "model": "..."
//   w.field("auc", std::optional<double>{});   // "auc": null
//   w.begin_object("latency_ms"); w.field("p50", 1.5); w.end_object();
//   w.begin_array("ranks"); w.begin_object(); ...; w.end_object(); w.end_array();
//   w.end_object();
//   std::string text = w.str();         // the document and a final "\n"
// Numbers: integers exactly; doubles as rapidjson's Grisu2 digits, which read
// back to the same double ("100.0", "0.1"), cut to max_decimal_places when
// that is set (trailing zeros dropped); floats as the double they convert to;
// NaN, infinities and empty optionals as null. field_fixed writes "%.Nf".
//
// Reading:
//   JsonDocument doc = JsonDocument::read_file(path, {"manifest", "re-create the model with dlrm-shard"});
//   JsonValue m = doc.root()["dlrm_model"];
//   int version = m["format_version"].get<int>();
//   for (JsonValue shard : m["shards"].items()) ...
// A file that cannot be read throws dlrm::Error "<path> cannot be read (...); <fix>";
// every other failure throws
//   "<source> is not a valid <what> (<detail>); <fix>"
// where detail is the parse error and its byte offset, or the field's path
// and what was wrong with it: "field dlrm_model.shards[1].file: expected a
// string, found an integer", "field dlrm_model.arch.dim is missing".
#pragma once

#include <rapidjson/fwd.h>

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dlrm {

struct JsonWriterOptions {
  int indent = 4;                    // spaces per nesting level
  int max_decimal_places = -1;       // -1: as many as the double needs
  bool inline_vectors = false;       // std::vector values on one line, [1, 2, 3]
};

class JsonWriter {
 public:
  explicit JsonWriter(JsonWriterOptions options = {});
  ~JsonWriter();
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // Objects and arrays: the keyed forms open one as a field of the enclosing
  // object, the others as the document or an array element.
  void begin_object();
  void begin_object(std::string_view key);
  void end_object();
  void begin_array();
  void begin_array(std::string_view key);
  void end_array();

  // An array element (or the whole document).
  void value(std::string_view v);
  void value(const char* v) { value(std::string_view(v)); }
  void value(bool v);
  void value(double v);  // null unless finite
  void value(float v) { value(static_cast<double>(v)); }
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  void value(T v) {
    if constexpr (std::is_signed_v<T>) {
      value_int(static_cast<int64_t>(v));
    } else {
      value_uint(static_cast<uint64_t>(v));
    }
  }
  template <class T>
  void value(const std::optional<T>& v) {
    if (v) {
      value(*v);
    } else {
      null();
    }
  }
  // An array of the elements (numbers, strings, booleans).
  template <class T>
  void value(const std::vector<T>& v) {
    begin_vector();
    for (const T& item : v) value(item);
    end_vector();
  }
  void null();

  // "key": value inside an object, for every value() above.
  template <class T>
  void field(std::string_view key, const T& v) {
    key_(key);
    value(v);
  }
  void field(std::string_view key, const char* v) {
    key_(key);
    value(std::string_view(v));
  }
  // "key": v printed as fmt's {:.<decimals>f} ("imbalance": 1.250000); null unless finite.
  void field_fixed(std::string_view key, double v, int decimals);

  // The text written so far followed by "\n"; complete once every object and
  // array is closed (checked).
  std::string str() const;

 private:
  void key_(std::string_view key);
  void begin_vector();
  void end_vector();
  void value_int(int64_t v);
  void value_uint(uint64_t v);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Names a document in errors: "<source> is not a valid <what> (...); <fix>".
struct JsonSource {
  std::string what = "JSON document";  // "manifest", "calibration file"
  std::string fix;                     // what the user should do: "re-create the model with dlrm-shard"
};

class JsonDocument;

// A value inside a JsonDocument, with its path for error messages. Does not
// own anything: valid while its document lives.
class JsonValue {
 public:
  // Member `key` of this object; throws unless this is an object holding it.
  JsonValue operator[](std::string_view key) const;
  bool has(std::string_view key) const;  // false for non-objects
  // The elements of this array; throws unless this is an array.
  std::vector<JsonValue> items() const;

  bool is_null() const;
  // This value as T: std::string, bool, any integer type (throws unless the
  // number is an integer that fits T), double or float (any number), or
  // std::vector of one of these (an array).
  template <class T>
  T get() const;

  // "dlrm_model.shards[1].file" ("" for the root).
  const std::string& path() const { return path_; }
  // Throws "<source> is not a valid <what> (field <path>: <problem>); <fix>".
  [[noreturn]] void fail(const std::string& problem) const;

 private:
  friend class JsonDocument;
  JsonValue(const rapidjson::Value* value, const JsonDocument* doc, std::string path)
      : value_(value), doc_(doc), path_(std::move(path)) {}
  const char* type_name() const;
  int64_t get_int64() const;
  uint64_t get_uint64() const;
  const rapidjson::Value* value_;
  const JsonDocument* doc_;
  std::string path_;
};

class JsonDocument {
 public:
  // Parses `text`; `source_name` (a file name, an option) starts every error.
  static JsonDocument parse(std::string_view text, const std::string& source_name, JsonSource source = {});
  // Reads and parses a file; throws naming it when it cannot be read.
  static JsonDocument read_file(const std::filesystem::path& path, JsonSource source = {});
  JsonDocument(JsonDocument&&) noexcept;
  JsonDocument& operator=(JsonDocument&&) noexcept;
  ~JsonDocument();

  JsonValue root() const;
  // Throws "<source_name> is not a valid <what> (<detail>); <fix>".
  [[noreturn]] void fail(const std::string& detail) const;

 private:
  JsonDocument();
  std::unique_ptr<rapidjson::Document> doc_;
  std::string name_;
  JsonSource source_;
};

template <>
std::string JsonValue::get<std::string>() const;
template <>
bool JsonValue::get<bool>() const;
template <>
double JsonValue::get<double>() const;
template <>
float JsonValue::get<float>() const;

template <class T>
T JsonValue::get() const {
  if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_signed_v<T>) {
      int64_t v = get_int64();
      if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          v > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        fail("the integer " + std::to_string(v) + " is out of range");
      }
      return static_cast<T>(v);
    } else {
      uint64_t v = get_uint64();
      if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        fail("the integer " + std::to_string(v) + " is out of range");
      }
      return static_cast<T>(v);
    }
  } else {
    // std::vector<U>
    using U = typename T::value_type;
    T out;
    for (const JsonValue& item : items()) out.push_back(item.get<U>());
    return out;
  }
}

}  // namespace dlrm
