// parse_http_request: accepted requests (every datatype, flat and nested data,
// the binary-data extension, id, parameters, outputs), the dense transform
// against the datasets' one, and a refused request of every kind, with its message.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "dlrm/datasets/dataset.h"
#include "dlrm/serve/protocol.h"
#include "serve_test.h"

namespace dlrm::serve::test {
namespace {

using datasets::dense_feature;

const std::vector<int32_t> kSparse2 = {0, 1, 2, 9, 99, 999999};

std::vector<float> features(const std::vector<int64_t>& counts) {
  std::vector<float> out;
  for (int64_t c : counts) out.push_back(dense_feature(c));
  return out;
}

TEST(HttpRequest, FlatIntegersOfEveryIntegerType) {
  for (const char* dense_type : {"INT32", "INT64"}) {
    for (const char* sparse_type : {"INT32", "INT64"}) {
      SCOPED_TRACE(fmt::format("dense {} sparse {}", dense_type, sparse_type));
      const InferRequest r = parse_http_request(request({dense2(dense_type), sparse2(sparse_type)}), {}, small_model());
      EXPECT_EQ(r.pairs, 2);
      EXPECT_EQ(r.dense, features({0, 1, 2, 3, 4, 5, 6, 7}));
      EXPECT_EQ(r.sparse, kSparse2);
      EXPECT_EQ(r.id, "");
      EXPECT_FALSE(r.binary_output);
      EXPECT_FALSE(r.raw_output);
    }
  }
}

TEST(HttpRequest, NestedRealsInEitherOrder) {
  // sparse first; dense as rows of FP32 and FP64 reals, negative counts clamp to 0.
  for (const char* type : {"FP32", "FP64"}) {
    const std::string body = request({tensor("sparse", "INT64", 2, 3, "[0,1,2],[9,99,999999]"),
                                      tensor("dense", type, 2, 4, "[0.5,-3,2.25,1e3],[7,0,1.5e-3,65535]")});
    const InferRequest r = parse_http_request(body, {}, small_model());
    ASSERT_EQ(r.pairs, 2);
    EXPECT_EQ(r.sparse, kSparse2);
    const bool fp32 = std::string_view(type) == "FP32";
    std::vector<float> want;
    for (double x : {0.5, -3.0, 2.25, 1e3, 7.0, 0.0, 1.5e-3, 65535.0}) {
      want.push_back(dense_feature(fp32 ? static_cast<double>(static_cast<float>(x)) : x));
    }
    EXPECT_EQ(r.dense, want) << type;
  }
}

TEST(HttpRequest, IdParametersAndOutputs) {
  const std::string inputs = R"("inputs":[)" + dense2() + "," + sparse2() + "]";
  InferRequest r =
      parse_http_request(R"({"id":"req-7","parameters":{"other":[1,{}]},)" + inputs + "}", {}, small_model());
  EXPECT_EQ(r.id, "req-7");
  EXPECT_FALSE(r.binary_output);
  r = parse_http_request(R"({"parameters":{"binary_data_output":true},)" + inputs + "}", {}, small_model());
  EXPECT_TRUE(r.binary_output);
  // A per-output binary_data wins over the request's binary_data_output.
  r = parse_http_request(R"({"parameters":{"binary_data_output":true},"outputs":[{"name":"probability",)"
                         R"("parameters":{"binary_data":false}}],)" +
                             inputs + "}",
                         {}, small_model());
  EXPECT_FALSE(r.binary_output);
  r = parse_http_request(R"({"outputs":[{"name":"probability","parameters":{"binary_data":true}}],)" + inputs + "}", {},
                         small_model());
  EXPECT_TRUE(r.binary_output);
  r = parse_http_request(R"({"outputs":[],"unknown":null,)" + inputs + "}", {}, small_model());
  EXPECT_EQ(r.pairs, 2);
}

TEST(HttpRequest, OnePairAndManyPairs) {
  InferRequest r = parse_http_request(
      request({tensor("dense", "INT32", 1, 4, "1,2,3,4"), tensor("sparse", "INT32", 1, 3, "9,99,999")}), {},
      small_model());
  EXPECT_EQ(r.pairs, 1);
  EXPECT_EQ(r.sparse, (std::vector<int32_t>{9, 99, 999}));
  std::vector<int64_t> dense(4 * 300), sparse(3 * 300);
  for (size_t i = 0; i < dense.size(); ++i) dense[i] = static_cast<int64_t>(i);
  for (size_t i = 0; i < sparse.size(); ++i) sparse[i] = static_cast<int64_t>(i % 10);
  r = parse_http_request(
      request({tensor("dense", "INT64", 300, 4, join(dense)), tensor("sparse", "INT64", 300, 3, join(sparse))}), {},
      small_model());
  EXPECT_EQ(r.pairs, 300);
  EXPECT_EQ(r.dense, features(dense));
  EXPECT_EQ(std::vector<int64_t>(r.sparse.begin(), r.sparse.end()), sparse);
}

// The endpoint's transform is the one the data files get: dense_transform of
// records holding the same counts, bit for bit, for integer and real inputs.
TEST(HttpRequest, DenseTransformIsTheDatasetsOne) {
  const int pairs = 64, F = 4, T = 3;
  std::mt19937_64 rng(20240607);
  std::printf("seed 20240607\n");
  std::vector<int32_t> records;
  std::vector<int64_t> counts;
  for (int b = 0; b < pairs; ++b) {
    records.push_back(0);  // label
    for (int f = 0; f < F; ++f) {
      // Small counts (the table of the transform), negative ones and large ones.
      const int32_t x = b % 3 == 0 ? static_cast<int32_t>(rng() % 50) - 5 : static_cast<int32_t>(rng() % 5000000);
      records.push_back(x);
      counts.push_back(x);
    }
    for (int t = 0; t < T; ++t) records.push_back(0);
  }
  const datasets::Dataset data = datasets::Dataset::from_records(records.data(), pairs, {F, T});
  std::vector<float> want(pairs * F);
  datasets::dense_transform(data, 0, pairs, want.data());
  const std::string sparse = tensor("sparse", "INT32", pairs, 3, join(std::vector<int>(pairs * 3, 1)));
  for (const char* type : {"INT32", "INT64", "FP32", "FP64"}) {
    const InferRequest r =
        parse_http_request(request({tensor("dense", type, pairs, F, join(counts)), sparse}), {}, small_model());
    EXPECT_EQ(r.dense, want) << type;
  }
}

TEST(HttpRequest, BinaryDataExtension) {
  const std::vector<float> dense = {0.5f, 1, 2, 3, 4, 5, 6, 7e6f};
  const std::vector<int64_t> sparse = {0, 1, 2, 9, 99, 999999};
  // Both inputs binary, in input order.
  const std::string json =
      request({R"({"name":"dense","datatype":"FP32","shape":[2,4],"parameters":{"binary_data_size":32}})",
               R"({"name":"sparse","datatype":"INT64","shape":[2,3],"parameters":{"binary_data_size":48}})"});
  InferRequest r = parse_http_request(json + bytes_of(dense) + bytes_of(sparse), json.size(), small_model());
  EXPECT_EQ(r.pairs, 2);
  std::vector<float> want;
  for (float x : dense) want.push_back(dense_feature(static_cast<double>(x)));
  EXPECT_EQ(r.dense, want);
  EXPECT_EQ(r.sparse, kSparse2);
  EXPECT_FALSE(r.binary_output);
  // One binary (INT32 sparse, at an odd offset), one in JSON; a header length with no binary part.
  const std::string mixed = request(
      {dense2(), R"({"name":"sparse","datatype":"INT32","shape":[2,3],"parameters":{"binary_data_size":24}})"}, " ");
  r = parse_http_request(mixed + bytes_of(std::vector<int32_t>(kSparse2)), mixed.size(), small_model());
  EXPECT_EQ(r.sparse, kSparse2);
  const std::string plain = request({dense2(), sparse2()});
  r = parse_http_request(plain, plain.size(), small_model());
  EXPECT_EQ(r.pairs, 2);
}

}  // namespace
}  // namespace dlrm::serve::test

namespace dlrm::serve::test {
namespace {

// A multi-hot dcn model: tables of 10, 100 and 1000 rows with 2, 1 and 3
// lookups per pair, so `sparse` has 6 columns, and transformed dense features.
ModelSignature multi_hot_model() {
  ModelSignature model = small_model();
  model.table_rows = {10, 100, 1000};
  model.hotness = {2, 1, 3};
  model.dense_transformed = true;
  return model;
}

TEST(HttpRequest, MultiHotBagsAndTransformedFeatures) {
  const ModelSignature model = multi_hot_model();
  EXPECT_EQ(model.lookups(), 6);
  const std::string body = request({tensor("dense", "FP32", 2, 4, "0.5,-3,2.25,1e3,7,0,1.5,2"),
                                    tensor("sparse", "INT64", 2, 6, "0,9,99,0,500,999,1,2,3,4,5,6")});
  const InferRequest r = parse_http_request(body, {}, model);
  ASSERT_EQ(r.pairs, 2);
  // The features are taken as they are (no log), the bags column by column.
  EXPECT_EQ(r.dense, (std::vector<float>{0.5f, -3.0f, 2.25f, 1e3f, 7.0f, 0.0f, 1.5f, 2.0f}));
  EXPECT_EQ(r.sparse, (std::vector<int32_t>{0, 9, 99, 0, 500, 999, 1, 2, 3, 4, 5, 6}));
}

TEST(HttpRequest, MultiHotRefusals) {
  const ModelSignature model = multi_hot_model();
  const std::string dense = tensor("dense", "FP32", 1, 4, "0,0,0,0");
  // Column 2 is table 1's only lookup (100 rows); column 5 is table 2's third.
  expect_refused(request({dense, tensor("sparse", "INT64", 1, 6, "0,0,100,0,0,0")}),
                 "input 'sparse' row 0, table 1 lookup 0: index 100 is outside the table's 100 rows", {}, model);
  expect_refused(request({dense, tensor("sparse", "INT64", 1, 6, "0,0,0,0,0,1000")}),
                 "input 'sparse' row 0, table 2 lookup 2: index 1000 is outside", {}, model);
  expect_refused(request({dense, tensor("sparse", "INT64", 1, 3, "0,0,0")}), "shape [1,3] does not match [N,6]", {},
                 model);
  // Transformed features come as reals.
  expect_refused(request({tensor("dense", "INT64", 1, 4, "0,0,0,0"), tensor("sparse", "INT64", 1, 6, "0,0,0,0,0,0")}),
                 "datatype INT64 is not accepted (FP32, FP64: this model takes the transformed dense features)", {},
                 model);
  // An FP64 feature that FP32 cannot hold is refused, not served as inf (found
  // by fuzz.serve_http). FLT_MAX itself still fits.
  const std::string sparse = tensor("sparse", "INT64", 1, 6, "0,0,0,0,0,0");
  expect_refused(request({tensor("dense", "FP64", 1, 4, "0,-1e39,0,0"), sparse}),
                 "input 'dense' row 0, feature 1: -1e+39 is beyond the range of FP32 (3.40282e+38)", {}, model);
  const InferRequest edge =
      parse_http_request(request({tensor("dense", "FP64", 1, 4, "3.4028234663852886e38,0,0,0"), sparse}), {}, model);
  EXPECT_EQ(edge.dense[0], std::numeric_limits<float>::max());
}

}  // namespace
}  // namespace dlrm::serve::test
