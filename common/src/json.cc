#include "dlrm/common/json.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dlrm/common/error.h"
#include "dlrm/common/json_exact.h"

namespace dlrm {

// ---- writing ----

struct JsonWriter::Impl {
  JsonWriterOptions options;
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer{buffer};
};

JsonWriter::JsonWriter(JsonWriterOptions options) : impl_(std::make_unique<Impl>()) {
  DLRM_ASSERT(options.indent >= 0);
  impl_->options = options;
  impl_->writer.SetIndent(' ', static_cast<unsigned>(options.indent));
  if (options.max_decimal_places >= 0) impl_->writer.SetMaxDecimalPlaces(options.max_decimal_places);
}

JsonWriter::~JsonWriter() = default;

void JsonWriter::begin_object() { DLRM_ASSERT(impl_->writer.StartObject()); }

void JsonWriter::begin_object(std::string_view key) {
  key_(key);
  begin_object();
}

void JsonWriter::end_object() { DLRM_ASSERT(impl_->writer.EndObject()); }

void JsonWriter::begin_array() { DLRM_ASSERT(impl_->writer.StartArray()); }

void JsonWriter::begin_array(std::string_view key) {
  key_(key);
  begin_array();
}

void JsonWriter::end_array() { DLRM_ASSERT(impl_->writer.EndArray()); }

// PrettyWriter reads its format options at every value, so they can be
// switched for the elements of one array.
void JsonWriter::begin_vector() {
  begin_array();
  if (impl_->options.inline_vectors) impl_->writer.SetFormatOptions(rapidjson::kFormatSingleLineArray);
}

void JsonWriter::end_vector() {
  end_array();
  impl_->writer.SetFormatOptions(rapidjson::kFormatDefault);
}

void JsonWriter::key_(std::string_view key) {
  DLRM_ASSERT(impl_->writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size())));
}

void JsonWriter::value(std::string_view v) {
  DLRM_ASSERT(impl_->writer.String(v.data(), static_cast<rapidjson::SizeType>(v.size())));
}

void JsonWriter::value(bool v) { DLRM_ASSERT(impl_->writer.Bool(v)); }

void JsonWriter::value(double v) {
  if (std::isfinite(v)) {
    DLRM_ASSERT(impl_->writer.Double(v));
  } else {
    null();
  }
}

void JsonWriter::value_int(int64_t v) { DLRM_ASSERT(impl_->writer.Int64(v)); }

void JsonWriter::value_uint(uint64_t v) { DLRM_ASSERT(impl_->writer.Uint64(v)); }

void JsonWriter::null() { DLRM_ASSERT(impl_->writer.Null()); }

void JsonWriter::field_fixed(std::string_view key, double v, int decimals) {
  key_(key);
  if (!std::isfinite(v)) {
    null();
    return;
  }
  std::string text = fmt::format("{:.{}f}", v, decimals);
  DLRM_ASSERT(impl_->writer.RawValue(text.data(), text.size(), rapidjson::kNumberType));
}

std::string JsonWriter::str() const {
  DLRM_ASSERT(impl_->writer.IsComplete());
  return std::string(impl_->buffer.GetString(), impl_->buffer.GetSize()) + "\n";
}

// ---- reading ----

JsonDocument::JsonDocument() : doc_(std::make_unique<rapidjson::Document>()) {}
JsonDocument::JsonDocument(JsonDocument&&) noexcept = default;
JsonDocument& JsonDocument::operator=(JsonDocument&&) noexcept = default;
JsonDocument::~JsonDocument() = default;

JsonDocument JsonDocument::parse(std::string_view text, const std::string& source_name, JsonSource source) {
  JsonDocument doc;
  doc.name_ = source_name;
  doc.source_ = std::move(source);
  rapidjson::ParseResult ok = parse_json_exact(*doc.doc_, text);  // numbers to the nearest double
  if (!ok) {
    std::string error = rapidjson::GetParseError_En(ok.Code());  // "The document is empty."
    if (!error.empty() && error.back() == '.') error.pop_back();
    doc.fail(fmt::format("{} at byte {}", error, ok.Offset()));
  }
  return doc;
}

JsonDocument JsonDocument::read_file(const std::filesystem::path& path, JsonSource source) {
  std::ifstream in(path, std::ios::binary);
  DLRM_CHECK(in.good(), "{} cannot be read ({}){}{}", path.string(), std::strerror(errno),
             source.fix.empty() ? "" : "; ", source.fix);
  std::ostringstream text;
  text << in.rdbuf();
  DLRM_CHECK(!in.bad(), "{} cannot be read{}{}", path.string(), source.fix.empty() ? "" : "; ", source.fix);
  return parse(text.str(), path.string(), std::move(source));
}

JsonValue JsonDocument::root() const { return JsonValue(doc_.get(), this, ""); }

void JsonDocument::fail(const std::string& detail) const {
  DLRM_FAIL("{} is not a valid {} ({}){}{}", name_, source_.what, detail, source_.fix.empty() ? "" : "; ",
            source_.fix);
}

void JsonValue::fail(const std::string& problem) const {
  doc_->fail(path_.empty() ? "the document: " + problem : "field " + path_ + ": " + problem);
}

const char* JsonValue::type_name() const {
  switch (value_->GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "a boolean";
    case rapidjson::kObjectType: return "an object";
    case rapidjson::kArrayType: return "an array";
    case rapidjson::kStringType: return "a string";
    case rapidjson::kNumberType: return value_->IsDouble() ? "a fractional number" : "an integer";
  }
  return "?";
}

JsonValue JsonValue::operator[](std::string_view key) const {
  if (!value_->IsObject()) fail(fmt::format("expected an object, found {}", type_name()));
  std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  auto it = value_->FindMember(rapidjson::Value(rapidjson::StringRef(key.data(), key.size())));
  if (it == value_->MemberEnd()) doc_->fail("field " + path + " is missing");
  return JsonValue(&it->value, doc_, std::move(path));
}

bool JsonValue::has(std::string_view key) const {
  return value_->IsObject() &&
         value_->FindMember(rapidjson::Value(rapidjson::StringRef(key.data(), key.size()))) != value_->MemberEnd();
}

std::vector<JsonValue> JsonValue::items() const {
  if (!value_->IsArray()) fail(fmt::format("expected an array, found {}", type_name()));
  std::vector<JsonValue> out;
  out.reserve(value_->Size());
  for (rapidjson::SizeType i = 0; i < value_->Size(); ++i) {
    out.push_back(JsonValue(&(*value_)[i], doc_, fmt::format("{}[{}]", path_, i)));
  }
  return out;
}

bool JsonValue::is_null() const { return value_->IsNull(); }

int64_t JsonValue::get_int64() const {
  if (!value_->IsInt64()) {
    fail(value_->IsUint64() ? "the integer " + std::to_string(value_->GetUint64()) + " is out of range"
                            : fmt::format("expected an integer, found {}", type_name()));
  }
  return value_->GetInt64();
}

uint64_t JsonValue::get_uint64() const {
  if (!value_->IsUint64()) {
    fail(value_->IsInt64() ? "the integer " + std::to_string(value_->GetInt64()) + " is out of range"
                           : fmt::format("expected a non-negative integer, found {}", type_name()));
  }
  return value_->GetUint64();
}

template <>
std::string JsonValue::get<std::string>() const {
  if (!value_->IsString()) fail(fmt::format("expected a string, found {}", type_name()));
  return std::string(value_->GetString(), value_->GetStringLength());
}

template <>
bool JsonValue::get<bool>() const {
  if (!value_->IsBool()) fail(fmt::format("expected true or false, found {}", type_name()));
  return value_->GetBool();
}

template <>
double JsonValue::get<double>() const {
  if (!value_->IsNumber()) fail(fmt::format("expected a number, found {}", type_name()));
  return value_->GetDouble();
}

template <>
float JsonValue::get<float>() const {
  return static_cast<float>(get<double>());
}

}  // namespace dlrm
