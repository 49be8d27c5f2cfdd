// The gRPC messages: ModelInferRequest by typed contents and by
// raw_input_contents, the refusals of each (the same rules and messages as
// REST), the response in either form, and the metadata.
#include "dlrm/serve/grpc_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "dlrm/datasets/dataset.h"
#include "inference.pb.h"
#include "serve_test.h"

namespace dlrm::serve::test {
namespace {

using inference::ModelInferRequest;
using Tensor = inference::ModelInferRequest::InferInputTensor;

const std::vector<int64_t> kDense = {0, 1, 2, 3, 4, 5, 6, 7};
const std::vector<int64_t> kSparse = {0, 1, 2, 9, 99, 999999};

Tensor* add_input(ModelInferRequest& m, const std::string& name, const std::string& datatype, int64_t rows,
                  int64_t cols) {
  Tensor* t = m.add_inputs();
  t->set_name(name);
  t->set_datatype(datatype);
  t->add_shape(rows);
  t->add_shape(cols);
  return t;
}

// Two pairs: dense INT64 and sparse INT32 in contents.
ModelInferRequest contents_request() {
  ModelInferRequest m;
  m.set_model_name("dlrm");
  m.set_id("g-1");
  Tensor* dense = add_input(m, "dense", "INT64", 2, 4);
  for (int64_t x : kDense) dense->mutable_contents()->add_int64_contents(x);
  Tensor* sparse = add_input(m, "sparse", "INT32", 2, 3);
  for (int64_t x : kSparse) sparse->mutable_contents()->add_int_contents(static_cast<int32_t>(x));
  return m;
}

// The same pairs as raw_input_contents: dense FP32, sparse INT64.
ModelInferRequest raw_request() {
  ModelInferRequest m;
  m.set_model_name("dlrm");
  add_input(m, "dense", "FP32", 2, 4);
  add_input(m, "sparse", "INT64", 2, 3);
  m.add_raw_input_contents(bytes_of(std::vector<float>(kDense.begin(), kDense.end())));
  m.add_raw_input_contents(bytes_of(kSparse));
  return m;
}

std::vector<float> features() {
  std::vector<float> out;
  for (int64_t c : kDense) out.push_back(datasets::dense_feature(c));
  return out;
}

void expect_refused(const ModelInferRequest& m, std::string_view message) {
  try {
    (void)parse_grpc_request(m, small_model());
    ADD_FAILURE() << "accepted: " << m.ShortDebugString().substr(0, 300);
  } catch (const BadRequest& e) {
    EXPECT_NE(std::string_view(e.what()).find(message), std::string_view::npos)
        << "message: " << e.what() << "\nexpected: " << message;
    EXPECT_EQ(std::string_view(e.what()).find('\n'), std::string_view::npos) << e.what();
  }
}

TEST(GrpcRequest, Contents) {
  const InferRequest r = parse_grpc_request(contents_request(), small_model());
  EXPECT_EQ(r.pairs, 2);
  EXPECT_EQ(r.id, "g-1");
  EXPECT_EQ(r.dense, features());
  EXPECT_EQ(std::vector<int64_t>(r.sparse.begin(), r.sparse.end()), kSparse);
  EXPECT_FALSE(r.raw_output);
  EXPECT_FALSE(r.binary_output);
}

TEST(GrpcRequest, ContentsOfEveryDatatype) {
  for (const char* type : {"INT32", "INT64", "FP32", "FP64"}) {
    ModelInferRequest m = contents_request();
    Tensor* dense = m.mutable_inputs(0);
    dense->set_datatype(type);
    dense->clear_contents();
    auto* c = dense->mutable_contents();
    for (int64_t x : kDense) {
      const std::string_view t = type;
      if (t == "INT32") c->add_int_contents(static_cast<int32_t>(x));
      if (t == "INT64") c->add_int64_contents(x);
      if (t == "FP32") c->add_fp32_contents(static_cast<float>(x));
      if (t == "FP64") c->add_fp64_contents(static_cast<double>(x));
    }
    m.mutable_inputs(1)->set_datatype("INT64");
    m.mutable_inputs(1)->clear_contents();
    for (int64_t x : kSparse) m.mutable_inputs(1)->mutable_contents()->add_int64_contents(x);
    m.add_outputs()->set_name("probability");
    m.set_model_version("1");
    EXPECT_EQ(parse_grpc_request(m, small_model()).dense, features()) << type;
  }
}

TEST(GrpcRequest, Raw) {
  const InferRequest r = parse_grpc_request(raw_request(), small_model());
  EXPECT_EQ(r.pairs, 2);
  EXPECT_EQ(r.dense, features());
  EXPECT_EQ(std::vector<int64_t>(r.sparse.begin(), r.sparse.end()), kSparse);
  EXPECT_TRUE(r.raw_output);
}

// Each refusal: a change to a good request, and a part of the message.
struct GrpcRefused {
  const char* kind;
  std::function<void(ModelInferRequest&)> change;
  std::string message;
  bool raw = false;  // start from raw_request() rather than contents_request()
};
void PrintTo(const GrpcRefused& r, std::ostream* os) { *os << r.kind; }

std::vector<GrpcRefused> grpc_refused_cases() {
  return {
      {"OtherModel", [](auto& m) { m.set_model_name("wide"); }, "unknown model 'wide'; this server serves 'dlrm'"},
      {"OtherVersion", [](auto& m) { m.set_model_version("2"); }, "model 'dlrm' has no version '2'; it has '1'"},
      {"UnknownInput", [](auto& m) { add_input(m, "wide", "FP32", 2, 1); },
       "input 'wide' is not an input of model 'dlrm' (inputs: dense, sparse)"},
      {"InputTwice", [](auto& m) { *m.add_inputs() = m.inputs(0); }, "input 'dense': given twice"},
      {"MissingInput", [](auto& m) { m.mutable_inputs()->RemoveLast(); }, "input 'sparse' is missing"},
      {"Datatype", [](auto& m) { m.mutable_inputs(0)->set_datatype("UINT8"); },
       "input 'dense': datatype UINT8 is not accepted (INT32, INT64, FP32, FP64)"},
      {"Shape", [](auto& m) { m.mutable_inputs(1)->set_shape(1, 4); },
       "input 'sparse': shape [2,4] does not match [N,3]"},
      {"ShapeOneDim", [](auto& m) { m.mutable_inputs(1)->mutable_shape()->RemoveLast(); },
       "input 'sparse': shape [2] does not match [N,3]"},
      {"RowsDiffer", [](auto& m) { m.mutable_inputs(1)->set_shape(0, 1); },
       "input 'sparse': shape [1,3] has 1 rows but input 'dense' has 2"},
      {"TooFew", [](auto& m) { m.mutable_inputs(0)->mutable_contents()->mutable_int64_contents()->RemoveLast(); },
       "input 'dense': int64_contents holds 7 values, shape [2,4] needs 8"},
      {"WrongField", [](auto& m) { m.mutable_inputs(1)->set_datatype("INT64"); },
       "input 'sparse': contents has int_contents but datatype INT64 takes int64_contents"},
      {"ExtraField", [](auto& m) { m.mutable_inputs(0)->mutable_contents()->add_bytes_contents("x"); },
       "input 'dense': contents has bytes_contents but datatype INT64 takes int64_contents"},
      {"IndexOutOfRange", [](auto& m) { m.mutable_inputs(1)->mutable_contents()->set_int_contents(5, 1000000); },
       "input 'sparse' row 1, table 2: index 1000000 is outside the table's 1000000 rows (0..999999)"},
      {"NegativeIndex", [](auto& m) { m.mutable_inputs(1)->mutable_contents()->set_int_contents(1, -5); },
       "row 0, table 1: index -5 is outside the table's 100 rows (0..99)"},
      {"NaN",
       [](auto& m) {
         auto* t = m.mutable_inputs(0);
         t->set_datatype("FP32");
         t->clear_contents();
         for (int i = 0; i < 8; ++i) t->mutable_contents()->add_fp32_contents(i == 6 ? NAN : 1.0f);
       },
       "input 'dense' row 1, feature 2: nan is not a finite number"},
      {"UnknownOutput", [](auto& m) { m.add_outputs()->set_name("logit"); },
       "output 'logit' is not an output of model 'dlrm' (outputs: probability)"},
      {"RawCount", [](auto& m) { m.mutable_raw_input_contents()->RemoveLast(); },
       "raw_input_contents has 1 entries for 2 inputs", true},
      {"RawSize", [](auto& m) { m.mutable_raw_input_contents(1)->pop_back(); },
       "input 'sparse': raw_input_contents[1] holds 47 bytes, shape [2,3] INT64 needs 48", true},
      {"RawAndContents", [](auto& m) { m.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1); },
       "input 'dense': contents must be empty when raw_input_contents is used", true},
      {"RawInfinity",
       [](auto& m) { m.mutable_raw_input_contents(0)->replace(4, 4, bytes_of(std::vector<float>{INFINITY})); },
       "input 'dense' row 0, feature 1: inf is not a finite number", true},
      {"RawIndex", [](auto& m) { m.mutable_raw_input_contents(1)->replace(0, 8, bytes_of(std::vector<int64_t>{10})); },
       "input 'sparse' row 0, table 0: index 10 is outside the table's 10 rows (0..9)", true},
      {"RawDatatype", [](auto& m) { m.mutable_inputs(1)->set_datatype("FP64"); },
       "input 'sparse': datatype FP64 is not accepted (INT32, INT64)", true},
  };
}

class GrpcRefusedTest : public ::testing::TestWithParam<GrpcRefused> {};

TEST_P(GrpcRefusedTest, WithItsMessage) {
  ModelInferRequest m = GetParam().raw ? raw_request() : contents_request();
  ASSERT_NO_THROW((void)parse_grpc_request(m, small_model()));  // good before the change
  GetParam().change(m);
  expect_refused(m, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Kinds, GrpcRefusedTest, ::testing::ValuesIn(grpc_refused_cases()),
                         [](const auto& info) { return std::string(info.param.kind); });

TEST(GrpcResponse, ContentsAndRaw) {
  const std::vector<float> p = {0.125f, 0.875f};
  for (bool raw : {false, true}) {
    const InferRequest r = parse_grpc_request(raw ? raw_request() : contents_request(), small_model());
    inference::ModelInferResponse out;
    out.add_raw_output_contents("stale");  // cleared first
    grpc_response(small_model(), r, p, out);
    // Through the wire and back.
    inference::ModelInferResponse back;
    ASSERT_TRUE(back.ParseFromString(out.SerializeAsString()));
    EXPECT_EQ(back.model_name(), "dlrm");
    EXPECT_EQ(back.model_version(), "1");
    EXPECT_EQ(back.id(), raw ? "" : "g-1");
    ASSERT_EQ(back.outputs_size(), 1);
    const auto& o = back.outputs(0);
    EXPECT_EQ(o.name(), "probability");
    EXPECT_EQ(o.datatype(), "FP32");
    ASSERT_EQ(o.shape_size(), 2);
    EXPECT_EQ(o.shape(0), 2);
    EXPECT_EQ(o.shape(1), 1);
    if (raw) {
      ASSERT_EQ(back.raw_output_contents_size(), 1);
      EXPECT_EQ(back.raw_output_contents(0), bytes_of(p));
      EXPECT_EQ(o.contents().fp32_contents_size(), 0);
    } else {
      EXPECT_EQ(back.raw_output_contents_size(), 0);
      EXPECT_EQ(std::vector<float>(o.contents().fp32_contents().begin(), o.contents().fp32_contents().end()), p);
    }
  }
}

TEST(GrpcMetadata, ModelAndServer) {
  inference::ModelMetadataResponse model;
  grpc_metadata(small_model(), model);
  EXPECT_EQ(model.name(), "dlrm");
  ASSERT_EQ(model.versions_size(), 1);
  EXPECT_EQ(model.versions(0), "1");
  EXPECT_EQ(model.platform(), "dlrm-cluster");
  ASSERT_EQ(model.inputs_size(), 2);
  EXPECT_EQ(model.inputs(0).name(), "dense");
  EXPECT_EQ(model.inputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(model.inputs(0).shape().begin(), model.inputs(0).shape().end()),
            (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(model.inputs(1).name(), "sparse");
  EXPECT_EQ(model.inputs(1).datatype(), "INT64");
  EXPECT_EQ(std::vector<int64_t>(model.inputs(1).shape().begin(), model.inputs(1).shape().end()),
            (std::vector<int64_t>{-1, 3}));
  ASSERT_EQ(model.outputs_size(), 1);
  EXPECT_EQ(model.outputs(0).name(), "probability");
  EXPECT_EQ(std::vector<int64_t>(model.outputs(0).shape().begin(), model.outputs(0).shape().end()),
            (std::vector<int64_t>{-1, 1}));
  inference::ServerMetadataResponse server;
  grpc_server_metadata(server);
  EXPECT_EQ(server.name(), "dlrm-serve");
  EXPECT_EQ(server.version(), DLRM_VERSION);
  ASSERT_EQ(server.extensions_size(), 1);
  EXPECT_EQ(server.extensions(0), "binary_tensor_data");
}

}  // namespace
}  // namespace dlrm::serve::test
