// The REST bodies the server writes, read back with rapidjson: the answer
// (floats bit-exact, JSON and binary), metadata, errors, status codes.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "dlrm/common/json_exact.h"
#include "dlrm/serve/protocol.h"
#include "serve_test.h"

namespace dlrm::serve::test {
namespace {

rapidjson::Document parse(std::string_view text) {
  rapidjson::Document doc;
  const rapidjson::ParseResult ok = parse_json_exact<rapidjson::kParseValidateEncodingFlag>(doc, text);
  EXPECT_FALSE(ok.IsError()) << "offset " << ok.Offset() << " in " << text.substr(0, 300);
  return doc;
}

InferRequest request_of(int64_t pairs, std::string id = "", bool binary = false) {
  InferRequest r;
  r.pairs = pairs;
  r.id = std::move(id);
  r.binary_output = binary;
  return r;
}

TEST(HttpBody, AnswerFloatsReadBackBitExact) {
  // Random finite floats of every exponent, and the corner values.
  std::mt19937 rng(99);
  std::printf("seed 99\n");
  std::vector<float> p = {0.0f,
                          -0.0f,
                          1.0f,
                          0.5f,
                          0.1f,
                          1e-45f,
                          std::numeric_limits<float>::min(),
                          std::numeric_limits<float>::max(),
                          0.99999994f,
                          1.0f / 3};
  while (p.size() < 200000) {
    const float x = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (std::isfinite(x)) p.push_back(x);
  }
  const HttpBody body = http_response(small_model(), request_of(static_cast<int64_t>(p.size()), "q1"), p);
  EXPECT_EQ(body.content_type, "application/json; charset=utf-8");
  EXPECT_FALSE(body.header_length);
  const rapidjson::Document doc = parse(body.body);
  EXPECT_STREQ(doc["model_name"].GetString(), "dlrm");
  EXPECT_STREQ(doc["model_version"].GetString(), "1");
  EXPECT_STREQ(doc["id"].GetString(), "q1");
  ASSERT_EQ(doc["outputs"].Size(), 1u);
  const auto& out = doc["outputs"][0];
  EXPECT_STREQ(out["name"].GetString(), "probability");
  EXPECT_STREQ(out["datatype"].GetString(), "FP32");
  EXPECT_EQ(out["shape"][0].GetInt64(), static_cast<int64_t>(p.size()));
  EXPECT_EQ(out["shape"][1].GetInt64(), 1);
  ASSERT_EQ(out["data"].Size(), p.size());
  int differ = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    // As a client reads them: the JSON number as a double, then to float.
    const float back = static_cast<float>(out["data"][static_cast<rapidjson::SizeType>(i)].GetDouble());
    differ += std::bit_cast<uint32_t>(back) != std::bit_cast<uint32_t>(p[i]);
  }
  EXPECT_EQ(differ, 0);
}

TEST(HttpBody, NonFiniteProbabilitiesAreNull) {
  const HttpBody body = http_response(small_model(), request_of(2), {NAN, 0.25f});
  EXPECT_EQ(body.body, R"({"model_name":"dlrm","model_version":"1","outputs":[{"name":"probability","datatype":"FP32",)"
                       R"("shape":[2,1],"data":[null,0.25]}]})");
}

TEST(HttpBody, BinaryAnswer) {
  const std::vector<float> p = {0.125f, 0.7f, 1e-30f};
  const HttpBody body = http_response(small_model(), request_of(3, "", true), p);
  EXPECT_EQ(body.content_type, "application/octet-stream");
  ASSERT_TRUE(body.header_length);
  ASSERT_EQ(body.body.size(), *body.header_length + 12);
  const rapidjson::Document doc = parse(std::string_view(body.body).substr(0, *body.header_length));
  EXPECT_FALSE(doc.HasMember("id"));
  const auto& out = doc["outputs"][0];
  EXPECT_FALSE(out.HasMember("data"));
  EXPECT_EQ(out["parameters"]["binary_data_size"].GetInt(), 12);
  EXPECT_EQ(out["shape"][0].GetInt(), 3);
  EXPECT_EQ(body.body.substr(*body.header_length), bytes_of(p));
}

TEST(HttpBody, RequestParsedThenAnswered) {
  // The id travels from request to answer, escaped as JSON needs.
  const std::string id = "q\"\\\t\x01 \xC3\xA9";
  const std::string body = request({dense2(), sparse2()}, R"(,"id":"q\"\\\t\u0001 é")");
  const InferRequest r = parse_http_request(body, {}, small_model());
  EXPECT_EQ(r.id, id);
  const rapidjson::Document doc = parse(http_response(small_model(), r, {0.5f, 0.25f}).body);
  EXPECT_EQ(std::string(doc["id"].GetString(), doc["id"].GetStringLength()), id);
  EXPECT_EQ(doc["outputs"][0]["data"][1].GetDouble(), 0.25);
}

TEST(HttpBody, ErrorJsonIsValidForAnyBytes) {
  const std::string message =
      std::string("input 'x\"': bad \\ \n\x7f ") + "\xC3\xA9 \xFF \xE2\x82 \xED\xA0\x80 \xF0\x9F\x98\x80";
  const rapidjson::Document doc = parse(error_json(message));
  ASSERT_TRUE(doc["error"].IsString());
  // Valid UTF-8 passes, each invalid byte becomes U+FFFD (EF BF BD).
  const std::string want = std::string("input 'x\"': bad \\ \n\x7f ") +
                           "\xC3\xA9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD " +
                           "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \xF0\x9F\x98\x80";
  EXPECT_EQ(std::string(doc["error"].GetString(), doc["error"].GetStringLength()), want);
  EXPECT_EQ(error_json("simple"), R"({"error":"simple"})");
}

TEST(HttpBody, ModelMetadata) {
  ModelSignature model = small_model();
  model.name = "ctr";
  model.version = "3";
  EXPECT_EQ(metadata_json(model),
            R"({"name":"ctr","versions":["3"],"platform":"dlrm-cluster","inputs":[{"name":"dense","datatype":"FP32",)"
            R"("shape":[-1,4]},{"name":"sparse","datatype":"INT64","shape":[-1,3]}],"outputs":[{"name":"probability",)"
            R"("datatype":"FP32","shape":[-1,1]}]})");
  (void)parse(metadata_json(model));
}

TEST(HttpBody, ServerMetadata) {
  const rapidjson::Document doc = parse(server_metadata_json());
  EXPECT_STREQ(doc["name"].GetString(), "dlrm-serve");
  EXPECT_STREQ(doc["version"].GetString(), DLRM_VERSION);
  ASSERT_EQ(doc["extensions"].Size(), 1u);
  EXPECT_STREQ(doc["extensions"][0].GetString(), "binary_tensor_data");
}

TEST(HttpBody, StatusCodesAndLabels) {
  const std::vector<std::tuple<Status, int, std::string>> table = {{Status::kOk, 200, "ok"},
                                                                   {Status::kBadRequest, 400, "bad_request"},
                                                                   {Status::kOverloaded, 429, "overloaded"},
                                                                   {Status::kUnavailable, 503, "unavailable"},
                                                                   {Status::kInternal, 500, "error"}};
  for (const auto& [status, code, label] : table) {
    EXPECT_EQ(http_status(status), code) << label;
    EXPECT_EQ(status_label(status), label);
  }
}

}  // namespace
}  // namespace dlrm::serve::test
