#include "tensor_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/datasets/dataset.h"

namespace dlrm::serve::detail {

static_assert(std::endian::native == std::endian::little, "binary tensor data is little-endian: add byte swaps");

namespace {

int index_of(Input input) { return input == Input::kDense ? 0 : 1; }
Input other(Input input) { return input == Input::kDense ? Input::kSparse : Input::kDense; }

}  // namespace

std::array<TensorMetadata, 3> tensor_metadata(const ModelSignature& model) {
  return {{{true, "dense", "FP32", model.dense_features},
           {true, "sparse", "INT64", model.lookups()},
           {false, kOutputName, "FP32", 1}}};
}

const char* input_name(Input input) { return input == Input::kDense ? "dense" : "sparse"; }

const char* datatype_name(DataType type) {
  switch (type) {
    case DataType::kInt32: return "INT32";
    case DataType::kInt64: return "INT64";
    case DataType::kFp32: return "FP32";
    case DataType::kFp64: return "FP64";
  }
  return "?";
}

size_t element_size(DataType type) { return type == DataType::kInt32 || type == DataType::kFp32 ? 4 : 8; }

size_t utf8_sequence(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

std::string printable(std::string_view text) {
  constexpr size_t kMax = 64;
  std::string out;
  out.reserve(std::min(text.size(), kMax) + 3);
  size_t i = 0;
  while (i < text.size() && out.size() < kMax) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = c < 0x80 ? 1 : utf8_sequence(text, i);
    if (n <= 1) {
      // Control bytes and bytes that are not UTF-8 (rapidjson lets a lone
      // surrogate escape through as one): '?', so the message is one line of UTF-8.
      out += c < 0x20 || c >= 0x7F ? '?' : static_cast<char>(c);
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  if (i < text.size()) out += "...";
  return out;
}

std::string quote(std::string_view text) {
  // Appended, not "'" + printable(text) + "'", which GCC 12 misreads (-Wrestrict, GCC bug 105329).
  std::string out = "'";
  out += printable(text);
  out += '\'';
  return out;
}

std::string format_shape(std::span<const int64_t> shape) {
  constexpr size_t kShown = 8;
  std::string out = "[";
  for (size_t i = 0; i < shape.size() && i < kShown; ++i) out += fmt::format("{}{}", i ? "," : "", shape[i]);
  if (shape.size() > kShown) out += ",...";
  return out + "]";
}

Input RequestCheck::input(std::string_view name) {
  Input input;
  if (name == "dense") {
    input = Input::kDense;
  } else if (name == "sparse") {
    input = Input::kSparse;
  } else {
    throw BadRequest(
        fmt::format("input {} is not an input of model '{}' (inputs: dense, sparse)", quote(name), model_.name));
  }
  if (given_[index_of(input)]) fail(input, "given twice");
  given_[index_of(input)] = true;
  return input;
}

DataType RequestCheck::datatype(Input input, std::string_view datatype) const {
  const bool dense = input == Input::kDense;
  // A model taking transformed features takes them as reals only.
  const bool integers = !dense || !model_.dense_transformed;
  if (integers && datatype == "INT32") return DataType::kInt32;
  if (integers && datatype == "INT64") return DataType::kInt64;
  if (dense && datatype == "FP32") return DataType::kFp32;
  if (dense && datatype == "FP64") return DataType::kFp64;
  fail(input, fmt::format("datatype {} is not accepted ({})", printable(datatype),
                          !dense ? "INT32, INT64"
                          : integers ? "INT32, INT64, FP32, FP64"
                                     : "FP32, FP64: this model takes the transformed dense features"));
}

int64_t RequestCheck::columns(Input input) const {
  return input == Input::kDense ? model_.dense_features : model_.lookups();
}

std::string RequestCheck::declared(Input input) const { return fmt::format("[{},{}]", request_.pairs, columns(input)); }

int64_t RequestCheck::elements(Input input) const {
  DLRM_ASSERT(shaped_[index_of(input)]);
  return request_.pairs * columns(input);
}

void RequestCheck::shape(Input input, std::span<const int64_t> shape) {
  if (shape.size() != 2 || shape[1] != columns(input)) {
    fail(input, fmt::format("shape {} does not match [N,{}]", format_shape(shape), columns(input)));
  }
  if (shape[0] < 1) fail(input, fmt::format("shape {} has no rows (N must be at least 1)", format_shape(shape)));
  if (shape[0] > kMaxPairs) {
    fail(input, fmt::format("shape {} has more rows than a request may have ({})", format_shape(shape), kMaxPairs));
  }
  const Input first = other(input);
  if (shaped_[index_of(first)] && shape[0] != request_.pairs) {
    fail(input, fmt::format("shape {} has {} rows but input '{}' has {}", format_shape(shape), shape[0],
                            input_name(first), request_.pairs));
  }
  request_.pairs = shape[0];
  shaped_[index_of(input)] = true;
}

void RequestCheck::count(Input input, std::string_view where, size_t count) const {
  if (count != static_cast<size_t>(elements(input))) {
    fail(input, fmt::format("{} holds {} values, shape {} needs {}", where, count, declared(input), elements(input)));
  }
}

template <class T>
void RequestCheck::store(Input input, std::span<const T> values) {
  DLRM_ASSERT(values.size() == static_cast<size_t>(elements(input)));  // the caller's count()
  if (input == Input::kDense) {
    request_.dense.resize(values.size());
    float* dst = request_.dense.data();
    for (size_t i = 0; i < values.size(); ++i) {
      if constexpr (std::is_floating_point_v<T>) {
        if (!std::isfinite(values[i])) [[unlikely]] {
          fail_element(input, static_cast<int64_t>(i), fmt::format("{} is not a finite number", values[i]));
        }
        if (!model_.dense_transformed) {
          dst[i] = datasets::dense_feature(static_cast<double>(values[i]));
        } else if (std::abs(static_cast<double>(values[i])) <= std::numeric_limits<float>::max()) {
          dst[i] = static_cast<float>(values[i]);
        } else [[unlikely]] {  // an FP64 beyond FP32: the model computes in FP32
          fail_element(input, static_cast<int64_t>(i),
                       fmt::format("{} is beyond the range of FP32 ({:g}), in which the model computes", values[i],
                                   std::numeric_limits<float>::max()));
        }
      } else {
        dst[i] = datasets::dense_feature(static_cast<int64_t>(values[i]));
      }
    }
    return;
  }
  if constexpr (std::is_integral_v<T>) {
    request_.sparse.resize(values.size());
    int32_t* dst = request_.sparse.data();
    const int64_t* rows = model_.table_rows.data();
    const int tables = model_.tables();
    // Column by column: lookup k of table t's bag (k < hotness of t).
    for (size_t i = 0, t = 0, k = 0; i < values.size(); ++i, ++k) {
      while (k == static_cast<size_t>(model_.table_hotness(static_cast<int>(t)))) {
        k = 0;
        if (++t == static_cast<size_t>(tables)) t = 0;
      }
      const int64_t index = values[i];
      if (index < 0 || index >= rows[t]) [[unlikely]] {
        fail_element(input, static_cast<int64_t>(i),
                     fmt::format("index {} is outside the table's {} rows (0..{})", index, rows[t], rows[t] - 1));
      }
      if (index > std::numeric_limits<int32_t>::max()) [[unlikely]] {
        fail_element(input, static_cast<int64_t>(i), fmt::format("index {} is beyond 32-bit row indices", index));
      }
      dst[i] = static_cast<int32_t>(index);
    }
  } else {
    DLRM_ASSERT(!"datatype() accepts only integer types for sparse");
  }
}

template void RequestCheck::store(Input, std::span<const int32_t>);
template void RequestCheck::store(Input, std::span<const int64_t>);
template void RequestCheck::store(Input, std::span<const float>);
template void RequestCheck::store(Input, std::span<const double>);

namespace {

// Copies the bytes into T-aligned memory (the bytes may sit anywhere in a body).
template <class T>
void store_copy(RequestCheck& check, Input input, std::string_view bytes) {
  std::vector<T> values(bytes.size() / sizeof(T));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
  check.store(input, std::span<const T>(values));
}

}  // namespace

void RequestCheck::store_bytes(Input input, DataType type, std::string_view bytes, std::string_view where) {
  const int64_t need = elements(input) * static_cast<int64_t>(element_size(type));
  if (static_cast<int64_t>(bytes.size()) != need) {
    fail(input, fmt::format("{} holds {} bytes, shape {} {} needs {}", where, bytes.size(), declared(input),
                            datatype_name(type), need));
  }
  switch (type) {
    case DataType::kInt32: return store_copy<int32_t>(*this, input, bytes);
    case DataType::kInt64: return store_copy<int64_t>(*this, input, bytes);
    case DataType::kFp32: return store_copy<float>(*this, input, bytes);
    case DataType::kFp64: return store_copy<double>(*this, input, bytes);
  }
}

void RequestCheck::finish() const {
  for (Input input : {Input::kDense, Input::kSparse}) {
    if (!given_[index_of(input)]) {
      throw BadRequest(fmt::format("input '{}' is missing (model '{}' takes dense [N,{}] and sparse [N,{}])",
                                   input_name(input), model_.name, columns(Input::kDense), columns(Input::kSparse)));
    }
  }
}

void RequestCheck::output(std::string_view name) const {
  if (name != kOutputName) {
    throw BadRequest(
        fmt::format("output {} is not an output of model '{}' (outputs: {})", quote(name), model_.name, kOutputName));
  }
}

void RequestCheck::fail(Input input, std::string_view what) const {
  throw BadRequest(fmt::format("input '{}': {}", input_name(input), what));
}

void RequestCheck::fail_element(Input input, int64_t index, std::string_view what) const {
  const int64_t cols = std::max<int64_t>(columns(input), 1);
  int64_t column = index % cols;
  if (input == Input::kSparse && !model_.hotness.empty()) {  // "table 20 lookup 5"
    int t = 0;
    while (t + 1 < model_.tables() && column >= model_.table_hotness(t)) column -= model_.table_hotness(t++);
    throw BadRequest(
        fmt::format("input 'sparse' row {}, table {} lookup {}: {}", index / cols, t, column, what));
  }
  throw BadRequest(fmt::format("input '{}' row {}, {} {}: {}", input_name(input), index / cols,
                               input == Input::kDense ? "feature" : "table", column, what));
}

}  // namespace dlrm::serve::detail
