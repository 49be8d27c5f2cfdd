// parse_http_request refuses every kind of bad request with a message naming
// the input or field and what is wrong (one case per kind, parameterised).
#include <gtest/gtest.h>

#include <limits>

#include "serve_test.h"

namespace dlrm::serve::test {
namespace {

struct Refused {
  const char* kind;  // the test's name
  std::string body;
  std::string message;  // a part of the BadRequest message
  std::optional<size_t> header_length = std::nullopt;
};

void PrintTo(const Refused& r, std::ostream* os) { *os << r.kind; }

std::string dense_with(std::string_view datatype, std::string_view shape, std::string_view data) {
  return fmt::format(R"({{"name":"dense","datatype":"{}","shape":{},"data":{}}})", datatype, shape, data);
}
std::string sparse_with(std::string_view data, std::string_view datatype = "INT64") {
  return tensor("sparse", datatype, 2, 3, data);
}
std::string binary_input(std::string_view name, std::string_view datatype, std::string_view size) {
  return fmt::format(R"({{"name":"{}","datatype":"{}","shape":[2,{}],"parameters":{{"binary_data_size":{}}}}})", name,
                     datatype, name == "dense" ? 4 : 3, size);
}

// A request whose JSON header is followed by `binary`, with the header length set.
Refused with_binary(const char* kind, const std::string& json, const std::string& binary, std::string message) {
  return {kind, json + binary, std::move(message), json.size()};
}

std::vector<Refused> refused_cases() {
  const std::string d = dense2(), s = sparse2();
  const std::string nan = bytes_of(std::vector<float>{0, NAN, 2, 3, 4, 5, 6, 7});
  const std::string inf = bytes_of(std::vector<double>{0, 1, 2, 3, 4, 5, -INFINITY, 7});
  return {
      // The document.
      {"NotJson", R"({"inputs": [}])", "request body is not valid JSON: Invalid value. (at byte 12)"},
      {"MissingMemberName", R"({"inputs": [{,}]})",
       "request body is not valid JSON: Missing a name for object member. (at byte 13)"},
      {"Empty", "", "request body is not valid JSON: The document is empty. (at byte 0)"},
      {"TrailingGarbage", request({d, s}) + "x", "The document root must not be followed by other values"},
      {"NulByte", request({d, s}) + std::string(1, '\0') + "x", "a NUL byte (at byte"},
      {"BadUtf8", R"({"id":")" + std::string("\xC3\x28") + R"(","inputs":[]})", "Invalid encoding in string"},
      {"DeeplyNested", std::string(100000, '['), "request body is not valid JSON"},
      {"RootArray", "[" + d + "]", "request body must be a JSON object, found an array"},
      {"NoInputs", R"({"outputs":[]})", "request has no 'inputs'"},
      {"InputsNotArray", R"({"inputs":{}})", "'inputs' must be an array, found an object"},
      {"InputNotObject", request({"7", s}), "inputs[0] must be an object, found a number"},
      {"InputWithoutName", request({d, R"({"datatype":"INT64"})"}), "inputs[1] has no 'name' string"},
      {"IdNotString", R"({"id":5,"inputs":[]})", "'id' must be a string, found a number"},
      // Names.
      {"UnknownInput", request({d, s, tensor("wide", "FP32", 2, 1, "1,2")}),
       "input 'wide' is not an input of model 'dlrm' (inputs: dense, sparse)"},
      {"InputTwice", request({d, s, d}), "input 'dense': given twice"},
      {"MissingSparse", request({d}), "input 'sparse' is missing (model 'dlrm' takes dense [N,4] and sparse [N,3])"},
      {"NoInputAtAll", request({}), "input 'dense' is missing"},
      // Datatypes.
      {"DenseBool", request({dense2("BOOL"), s}),
       "input 'dense': datatype BOOL is not accepted (INT32, INT64, FP32, FP64)"},
      {"SparseReal", request({d, sparse2("FP32")}), "input 'sparse': datatype FP32 is not accepted (INT32, INT64)"},
      {"LowerCaseType", request({dense2("int64"), s}), "datatype int64 is not accepted"},
      {"NoDatatype", request({R"({"name":"dense","shape":[2,4],"data":[]})", s}),
       "input 'dense': 'datatype' is missing or not a string"},
      // Shapes.
      {"WrongColumns", request({d, tensor("sparse", "INT64", 2, 2, "0,1,2,3")}),
       "input 'sparse': shape [2,2] does not match [N,3]"},
      {"FlatShape", request({dense_with("INT64", "[8]", "[0,1,2,3,4,5,6,7]"), s}),
       "input 'dense': shape [8] does not match [N,4]"},
      {"ThreeDims", request({dense_with("INT64", "[2,4,1]", "[0,1,2,3,4,5,6,7]"), s}),
       "shape [2,4,1] does not match [N,4]"},
      {"NoRows", request({dense_with("INT64", "[0,4]", "[]"), s}),
       "input 'dense': shape [0,4] has no rows (N must be at least 1)"},
      {"NegativeRows", request({dense_with("INT64", "[-1,4]", "[]"), s}), "shape [-1,4] has no rows"},
      {"HugeRows", request({dense_with("INT64", "[4611686018427387904,4]", "[]"), s}),
       "has more rows than a request may have"},
      {"ShapeOfStrings", request({dense_with("INT64", R"(["2","4"])", "[]"), s}),
       "input 'dense': 'shape' must be an array of integers, it holds a string"},
      {"ShapeMissing", request({R"({"name":"dense","datatype":"INT64","data":[]})", s}),
       "input 'dense': 'shape' is missing"},
      {"RowsDiffer", request({d, tensor("sparse", "INT64", 3, 3, "0,0,0,0,0,0,0,0,0")}),
       "input 'sparse': shape [3,3] has 3 rows but input 'dense' has 2"},
      // Data: count and layout.
      {"TooFewValues", request({tensor("dense", "INT64", 2, 4, "0,1,2,3,4,5,6"), s}),
       "input 'dense': data holds 7 values, shape [2,4] needs 8"},
      {"TooManyValues", request({d, sparse_with("0,0,0,0,0,0,0")}),
       "input 'sparse': data holds 7 values, shape [2,3] needs 6"},
      {"NestedRowCount", request({tensor("dense", "INT64", 2, 4, "[0,1,2,3],[4,5,6,7],[0,0,0,0]"), s}),
       "input 'dense': 'data' holds 3 rows, shape [2,4] needs 2"},
      {"NestedRowLength", request({tensor("dense", "INT64", 2, 4, "[0,1,2,3],[4,5,6]"), s}),
       "'data' row 1 holds 3 values, shape [2,4] needs 4 per row"},
      {"MixedNesting", request({tensor("dense", "INT64", 2, 4, "[0,1,2,3],4"), s}),
       "'data' row 1 is a number, not a row of 4 values"},
      {"DeeperNesting", request({tensor("dense", "INT64", 2, 4, "[[0,1,2,3]],[[4,5,6,7]]"), s}),
       "'data' row 0 holds 1 values"},
      {"DataNotArray", request({dense_with("INT64", "[2,4]", "{}"), s}),
       "input 'dense': 'data' must be an array, found an object"},
      {"NoData", request({R"({"name":"dense","datatype":"INT64","shape":[2,4]})", s}), "input 'dense': has no 'data'"},
      // Data: elements.
      {"StringElement", request({tensor("dense", "INT64", 2, 4, R"(0,1,"2",3,4,5,6,7)"), s}),
       "input 'dense' row 0, feature 2: expected a number, found a string"},
      {"NullElement", request({d, sparse_with("0,1,2,9,null,0")}),
       "input 'sparse' row 1, table 1: expected a number, found null"},
      {"BoolElement", request({tensor("dense", "FP32", 2, 4, "0,1,2,3,4,5,6,true"), s}),
       "input 'dense' row 1, feature 3: expected a number, found a boolean"},
      {"RealForInteger", request({d, sparse_with("0,1,2,1.5,0,0")}),
       "input 'sparse' row 1, table 0: 1.5 is a real number; datatype INT64 takes integers"},
      {"IntegralRealForInteger", request({d, sparse_with("0,1,2.0,0,0,0")}),
       "table 2: 2.0 is a real number; datatype INT64 takes integers"},
      {"Int32Range", request({tensor("dense", "INT32", 2, 4, "0,3000000000,2,3,4,5,6,7"), s}),
       "input 'dense' row 0, feature 1: 3000000000 is outside INT32's range"},
      {"Int32RangeNegative", request({tensor("dense", "INT32", 2, 4, "0,1,2,3,4,5,-2147483649,7"), s}),
       "row 1, feature 2: -2147483649 is outside INT32's range"},
      {"Int64Range", request({d, sparse_with("0,1,18446744073709551615,0,0,0")}),
       "table 2: 18446744073709551615 is outside INT64's range"},
      {"Fp32Range", request({tensor("dense", "FP32", 2, 4, "0,1,2,3e39,4,5,6,7"), s}),
       "input 'dense' row 0, feature 3: 3e+39 is outside FP32's range"},
      {"Fp64TooBig", request({tensor("dense", "FP64", 2, 4, "0,1,2,1e999,4,5,6,7"), s}),
       "request body is not valid JSON: Number too big"},
      {"IndexPastTable", request({d, sparse_with("0,1,2,9,99,1000000")}),
       "input 'sparse' row 1, table 2: index 1000000 is outside the table's 1000000 rows (0..999999)"},
      {"IndexNegative", request({d, sparse_with("-1,1,2,9,99,0")}),
       "input 'sparse' row 0, table 0: index -1 is outside the table's 10 rows (0..9)"},
      {"Index32Bit", request({d, sparse_with("0,100,0,0,0,0", "INT32")}),
       "row 0, table 1: index 100 is outside the table's 100 rows"},
      // Parameters and outputs.
      {"ParametersNotObject", request({d, s}, R"(,"parameters":[])"), "'parameters' must be an object"},
      {"BinaryOutputNotBool", request({d, s}, R"(,"parameters":{"binary_data_output":1})"),
       "parameters.binary_data_output must be a boolean, found a number"},
      {"UnknownOutput", request({d, s}, R"(,"outputs":[{"name":"score"}])"),
       "output 'score' is not an output of model 'dlrm' (outputs: probability)"},
      {"OutputsNotArray", request({d, s}, R"(,"outputs":"probability")"), "'outputs' must be an array, found a string"},
      {"OutputWithoutName", request({d, s}, R"(,"outputs":[{}])"), "outputs[0] must be an object with a 'name' string"},
      {"OutputBinaryNotBool",
       request({d, s}, R"(,"outputs":[{"name":"probability","parameters":{"binary_data":"yes"}}])"),
       "output 'probability': parameters.binary_data must be a boolean, found a string"},
      {"InputParametersNotObject", request({d, tensor("sparse", "INT64", 2, 3, "0,0,0,0,0,0", R"(,"parameters":5)")}),
       "input 'sparse': 'parameters' must be an object"},
      // The binary-data extension.
      {"BinaryWithoutHeader", request({d, binary_input("sparse", "INT64", "48")}),
       "input 'sparse': parameters.binary_data_size needs the Inference-Header-Content-Length header"},
      {"DataAndBinary",
       request({d, tensor("sparse", "INT64", 2, 3, "0,0,0,0,0,0", R"(,"parameters":{"binary_data_size":48})")}),
       "input 'sparse': gives both 'data' and parameters.binary_data_size"},
      {"BinarySizeNegative", request({d, binary_input("sparse", "INT64", "-48")}),
       "parameters.binary_data_size must be a non-negative integer"},
      with_binary("BinarySizeWrong", request({binary_input("dense", "FP32", "28"), s}), std::string(28, '\0'),
                  "input 'dense': binary data holds 28 bytes, shape [2,4] FP32 needs 32"),
      with_binary("BinaryPastEnd", request({binary_input("dense", "FP32", "32"), s}), std::string(31, '\0'),
                  "input 'dense': binary_data_size 32 is more than the 31 bytes of binary data left"),
      with_binary("BinaryLeftOver", request({binary_input("dense", "FP32", "32"), s}), std::string(40, '\0'),
                  "40 bytes follow the JSON header but the inputs' binary_data_size add up to 32"),
      with_binary("BinaryNaN", request({binary_input("dense", "FP32", "32"), s}), nan,
                  "input 'dense' row 0, feature 1: nan is not a finite number"),
      with_binary("BinaryInfinity", request({binary_input("dense", "FP64", "64"), s}), inf,
                  "input 'dense' row 1, feature 2: -inf is not a finite number"),
      with_binary("BinaryIndexOutOfRange", request({d, binary_input("sparse", "INT32", "24")}),
                  bytes_of(std::vector<int32_t>{0, 0, 0, 10, 0, 0}),
                  "input 'sparse' row 1, table 0: index 10 is outside the table's 10 rows (0..9)"),
      {"HeaderLongerThanBody", request({d, s}), "Inference-Header-Content-Length 100000 is more than the body's",
       100000},
      {"HeaderCutsJson", request({d, s}), "request body is not valid JSON", 10},
  };
}

class HttpRefused : public ::testing::TestWithParam<Refused> {};

TEST_P(HttpRefused, WithItsMessage) { expect_refused(GetParam().body, GetParam().message, GetParam().header_length); }

INSTANTIATE_TEST_SUITE_P(Kinds, HttpRefused, ::testing::ValuesIn(refused_cases()),
                         [](const auto& info) { return std::string(info.param.kind); });

TEST(HttpRefusedNames, ALongOrMultiLineNameIsCutAndFlattened) {
  // The JSON escape "\n" in the name; the message shows a '?' and at most 64 bytes of it.
  const std::string escaped = R"(a\nb)" + std::string(5000, 'x');
  const std::string json = request({dense2(), sparse2(), tensor(escaped, "FP32", 2, 1, "1,2")});
  expect_refused(json, "input 'a?bxxxxxxxx");
  expect_refused(json, "xxx...' is not an input of model 'dlrm'");
}

TEST(HttpRefusedNames, ALoneSurrogateBecomesAQuestionMark) {
  // rapidjson lets a lone low surrogate escape through as the bytes ED B7 9D,
  // which are not UTF-8: the message shows '?' for each, and stays UTF-8.
  expect_refused(request({dense2(), tensor(R"(w\uDDDDide)", "FP32", 2, 1, "1,2")}), "input 'w???ide' is not an input");
  // Valid multi-byte characters pass, and a cut never splits one.
  const std::string name = std::string(63, 'a') + "\xC3\xA9tail";
  expect_refused(request({dense2(), tensor(name, "FP32", 2, 1, "1,2")}),
                 "input '" + std::string(63, 'a') + "\xC3\xA9...'");
}

TEST(HttpRefusedNames, AnotherModelsNameInMessages) {
  ModelSignature model = small_model();
  model.name = "ctr";
  expect_refused(request({dense2(), tensor("wide", "FP32", 2, 1, "1,2")}), "not an input of model 'ctr'", {}, model);
}

}  // namespace
}  // namespace dlrm::serve::test
