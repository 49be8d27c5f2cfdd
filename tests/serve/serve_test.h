// Helpers of the dlrm_serve tests: a small model, request bodies built from
// parts, and the check that a request is refused with a given message.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dlrm/serve/protocol.h"

namespace dlrm::serve::test {

// F = 4 dense features, T = 3 tables of 10, 100 and 1,000,000 rows.
inline ModelSignature small_model() {
  ModelSignature model;
  model.dense_features = 4;
  model.table_rows = {10, 100, 1000000};
  return model;
}

template <class T>
std::string join(const std::vector<T>& values) {
  return fmt::format("{}", fmt::join(values, ","));
}

// {"name":..,"datatype":..,"shape":[rows,cols],"data":[..]} with `data` the
// JSON text of the elements (flat) or rows (nested: [[..],[..]]); `extra` is
// appended inside the object (",\"parameters\":{..}").
inline std::string tensor(std::string_view name, std::string_view datatype, int64_t rows, int64_t cols,
                          std::string_view data, std::string_view extra = "") {
  return fmt::format(R"({{"name":"{}","datatype":"{}","shape":[{},{}],"data":[{}]{}}})", name, datatype, rows, cols,
                     data, extra);
}

// {"inputs":[tensors...]<extra>}
inline std::string request(const std::vector<std::string>& tensors, std::string_view extra = "") {
  return fmt::format(R"({{"inputs":[{}]{}}})", fmt::join(tensors, ","), extra);
}

// Two pairs for small_model(): dense INT64 counts and in-range sparse indices.
inline std::string dense2(std::string_view datatype = "INT64") {
  return tensor("dense", datatype, 2, 4, "0,1,2,3,4,5,6,7");
}
inline std::string sparse2(std::string_view datatype = "INT64") {
  return tensor("sparse", datatype, 2, 3, "0,1,2,9,99,999999");
}

// Little-endian bytes of the values (the host is little-endian: tensor_check.cc asserts it).
template <class T>
std::string bytes_of(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// Expects parse_http_request to refuse `body` with a one-line message holding `message`.
inline void expect_refused(std::string_view body, std::string_view message,
                           std::optional<size_t> header_length = std::nullopt,
                           const ModelSignature& model = small_model()) {
  try {
    (void)parse_http_request(body, header_length, model);
    ADD_FAILURE() << "accepted: " << body.substr(0, 300);
  } catch (const BadRequest& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(message), std::string::npos) << "message: " << what << "\nexpected: " << message;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_LT(what.size(), 400u) << what;
  }
}

}  // namespace dlrm::serve::test
