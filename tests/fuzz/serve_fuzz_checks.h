// What both serve fuzz targets check (serve_http_fuzzer.cc, serve_grpc_fuzzer.cc):
// the small model they fuzz against, the rules an accepted request keeps,
// and the form of a refusal's message. A broken rule traps.
#pragma once

#include <rapidjson/document.h>

#include <cmath>
#include <string_view>
#include <vector>

#include "dlrm/common/json_exact.h"
#include "dlrm/serve/protocol.h"

namespace serve_fuzz {

namespace serve = dlrm::serve;

// F = 2, T = 2 tables of 4 and 100000 rows: small enough that mutations find accepted requests.
inline const serve::ModelSignature& model() {
  static const serve::ModelSignature m = [] {
    serve::ModelSignature s;
    s.dense_features = 2;
    s.table_rows = {4, 100000};
    return s;
  }();
  return m;
}

// The same tables multi-hot, as a dcn model takes them: 2 and 1 lookups per
// pair (sparse [N, 3]), dense features already transformed (FP32/FP64 only).
inline const serve::ModelSignature& multi_hot_model() {
  static const serve::ModelSignature m = [] {
    serve::ModelSignature s = model();
    s.hotness = {2, 1};
    s.dense_transformed = true;
    return s;
  }();
  return m;
}

// The text as JSON; a parse error traps.
inline rapidjson::Document parse_json(std::string_view text) {
  rapidjson::Document doc;
  if (!dlrm::parse_json_exact<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(doc, text)) {
    __builtin_trap();
  }
  return doc;
}

// pairs >= 1, [pairs, F] features (finite; >= 0 when the model applies
// log(max(x, 0) + 1) to counts), [pairs, lookups] indices, column by column
// in the table whose bag it belongs to.
inline void check_request(const serve::InferRequest& r, const serve::ModelSignature& m = model()) {
  if (r.pairs < 1) __builtin_trap();
  if (r.dense.size() != static_cast<size_t>(r.pairs * m.dense_features)) __builtin_trap();
  if (r.sparse.size() != static_cast<size_t>(r.pairs * m.lookups())) __builtin_trap();
  for (float x : r.dense) {
    if (!std::isfinite(x) || (!m.dense_transformed && !(x >= 0))) __builtin_trap();
  }
  std::vector<int> table_of_column;
  for (int t = 0; t < m.tables(); ++t) table_of_column.insert(table_of_column.end(), m.table_hotness(t), t);
  for (size_t i = 0; i < r.sparse.size(); ++i) {
    const int t = table_of_column[i % table_of_column.size()];
    if (r.sparse[i] < 0 || r.sparse[i] >= m.table_rows[static_cast<size_t>(t)]) __builtin_trap();
  }
}

// Probabilities to answer with: each pair's first feature, scaled.
inline std::vector<float> probabilities(const serve::InferRequest& r) {
  std::vector<float> p(r.pairs);
  for (int64_t i = 0; i < r.pairs; ++i) p[i] = r.dense[i * model().dense_features] / 3;
  return p;
}

// One short line of valid UTF-8, which error_json therefore carries unchanged.
inline void check_refusal(const serve::BadRequest& e) {
  const std::string_view message = e.what();
  if (message.empty() || message.size() > 600 || message.find('\n') != std::string_view::npos) __builtin_trap();
  const rapidjson::Document doc = parse_json(serve::error_json(message));
  if (!doc.IsObject() || !doc["error"].IsString()) __builtin_trap();
  if (std::string_view(doc["error"].GetString(), doc["error"].GetStringLength()) != message) __builtin_trap();
}

}  // namespace serve_fuzz
