// The checks every inference request passes, whatever carried it: REST JSON,
// the binary-data extension, gRPC contents or raw_input_contents. protocol.cc
// and grpc_codec.cc decode their format and hand each input to RequestCheck,
// which owns the rules and their messages:
//
//   RequestCheck check(model, request);
//   for each input of the request:
//     Input in = check.input(name);                 known to the model, given once
//     DataType t = check.datatype(in, datatype);    accepted for that input
//     check.shape(in, shape);                       [N, cols], N >= 1, the same N in both
//     check.store(in, values)                       elements(in) values of t's C++ type,
//       or check.store_bytes(in, t, bytes, where)   or as little-endian bytes
//   check.finish();                                 both inputs given
//   check.output(name) for each requested output
//
// store() transforms dense values (datasets::dense_feature) and checks that
// FP values are finite and sparse indices lie in their tables. Each check
// throws BadRequest naming the input (and row and column) and what is wrong.
// Private to dlrm_serve.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "dlrm/serve/protocol.h"

namespace dlrm::serve::detail {

enum class Input { kDense, kSparse };
enum class DataType { kInt32, kInt64, kFp32, kFp64 };

// The model's tensors, as the metadata (REST and gRPC) describes them: [-1, cols].
struct TensorMetadata {
  bool input;
  const char* name;
  const char* datatype;  // the one advertised; datatype() accepts others too
  int64_t cols;
};
std::array<TensorMetadata, 3> tensor_metadata(const ModelSignature& model);
constexpr const char* kOutputName = "probability";
constexpr const char* kServerName = "dlrm-serve";
constexpr const char* kServerExtension = "binary_tensor_data";  // the protocol extensions the server speaks

const char* input_name(Input input);       // "dense", "sparse"
const char* datatype_name(DataType type);  // "INT32", ...
size_t element_size(DataType type);        // 4 or 8

// The largest N a request may declare (bounds N * cols * 8 far from overflow;
// the body-size limit of the endpoint is the practical bound).
constexpr int64_t kMaxPairs = int64_t{1} << 30;

// The length of the well-formed UTF-8 sequence at s[i], or 0 when there is
// none (a stray byte, an overlong form, a surrogate, a code point > U+10FFFF).
size_t utf8_sequence(std::string_view s, size_t i);
// `text` for a message: one line of valid UTF-8 (control bytes and bytes
// that are not UTF-8 as '?'), cut after about 64 bytes ("...") so that a
// hostile name cannot make the message long.
std::string printable(std::string_view text);
std::string quote(std::string_view text);  // "'" + printable(text) + "'"
// "[4,25]" for a message, at most 8 dimensions shown.
std::string format_shape(std::span<const int64_t> shape);

class RequestCheck {
 public:
  RequestCheck(const ModelSignature& model, InferRequest& request) : model_(model), request_(request) {}

  // The input called `name`; throws for a name the model lacks or one given twice.
  Input input(std::string_view name);
  // `datatype` as a DataType; throws unless `input` accepts it.
  DataType datatype(Input input, std::string_view datatype) const;
  // Checks shape == [N, columns(input)] with 1 <= N <= kMaxPairs, and N equal
  // to the other input's when that came first; sets request.pairs.
  void shape(Input input, std::span<const int64_t> shape);
  int64_t columns(Input input) const;   // F or T
  int64_t elements(Input input) const;  // N * columns(input), after shape()
  // Throws unless `count` (the values found in `where`: "data",
  // "int64_contents") is elements(input).
  void count(Input input, std::string_view where, size_t count) const;

  // Stores the input's values, row-major, exactly elements(input) of them
  // (the caller checked with count()); T is int32_t, int64_t, float or
  // double, the datatype's C++ type.
  template <class T>
  void store(Input input, std::span<const T> values);
  // The same from bytes: elements(input) little-endian values of `type`
  // (a size mismatch throws, naming `where`: "binary data", "raw_input_contents[1]").
  void store_bytes(Input input, DataType type, std::string_view bytes, std::string_view where);

  // Throws unless both inputs were given.
  void finish() const;
  // Throws unless `name` is an output of the model ("probability").
  void output(std::string_view name) const;

  // BadRequest "input 'dense': <what>".
  [[noreturn]] void fail(Input input, std::string_view what) const;
  // BadRequest "input 'dense' row 1, feature 4: <what>" for the input's flat element `index`.
  [[noreturn]] void fail_element(Input input, int64_t index, std::string_view what) const;

 private:
  std::string declared(Input input) const;  // "[N,F]" as declared

  const ModelSignature& model_;
  InferRequest& request_;
  std::array<bool, 2> given_{};
  std::array<bool, 2> shaped_{};
};

}  // namespace dlrm::serve::detail
