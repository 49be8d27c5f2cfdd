// JsonWriter's text (layout, numbers, nulls, escapes) and JsonDocument's
// typed getters and their errors (file, field path, what to do).
#include "dlrm/common/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dlrm/common/error.h"
#include "test_files.h"

namespace dlrm {
namespace {

TEST(JsonWriter, NestedDocumentLayout) {
  JsonWriter w;
  w.begin_object();
  w.field("name", "a \"quoted\" \\ name\n");
  w.field("count", 3);
  w.field("flag", true);
  w.begin_object("inner");
  w.field("widths", std::vector<int>{64, 16});
  w.field("empty", std::vector<int>{});
  w.end_object();
  w.begin_array("items");
  w.begin_object();
  w.field("x", 1.5);
  w.end_object();
  w.end_array();
  w.end_object();
  EXPECT_EQ(w.str(),
            "{\n"
            "    \"name\": \"a \\\"quoted\\\" \\\\ name\\n\",\n"
            "    \"count\": 3,\n"
            "    \"flag\": true,\n"
            "    \"inner\": {\n"
            "        \"widths\": [\n"
            "            64,\n"
            "            16\n"
            "        ],\n"
            "        \"empty\": []\n"
            "    },\n"
            "    \"items\": [\n"
            "        {\n"
            "            \"x\": 1.5\n"
            "        }\n"
            "    ]\n"
            "}\n");
}

TEST(JsonWriter, InlineVectorsAndIndent) {
  JsonWriter w({.indent = 2, .inline_vectors = true});
  w.begin_object();
  w.field("rows", std::vector<int64_t>{1000, 3, 63});
  w.begin_array("slices");
  w.begin_object();
  w.field("table", 0);
  w.end_object();
  w.end_array();
  w.end_object();
  EXPECT_EQ(w.str(),
            "{\n"
            "  \"rows\": [1000, 3, 63],\n"
            "  \"slices\": [\n"
            "    {\n"
            "      \"table\": 0\n"
            "    }\n"
            "  ]\n"
            "}\n");
}

TEST(JsonWriter, NumbersAndNulls) {
  JsonWriter w({.indent = 0});
  w.begin_array();
  w.value(std::numeric_limits<int64_t>::min());
  w.value(std::numeric_limits<uint64_t>::max());
  w.value(100.0);
  w.value(0.1f);  // the double the float converts to
  w.value(1.0 / 3.0);
  w.value(std::nan(""));
  w.value(-std::numeric_limits<double>::infinity());
  w.value(std::optional<double>{});
  w.value(std::optional<bool>{false});
  w.end_array();
  EXPECT_EQ(w.str(),
            "[\n-9223372036854775808,\n18446744073709551615,\n100.0,\n0.10000000149011612,\n"
            "0.3333333333333333,\nnull,\nnull,\nnull,\nfalse\n]\n");

  JsonWriter rounded({.indent = 0, .max_decimal_places = 3});
  rounded.begin_object();
  rounded.field("third", 1.0 / 3.0);
  rounded.field("half", 0.5);
  rounded.field_fixed("fixed", 1.25, 6);
  rounded.field_fixed("nan", std::nan(""), 6);
  rounded.end_object();
  EXPECT_EQ(rounded.str(), "{\n\"third\": 0.333,\n\"half\": 0.5,\n\"fixed\": 1.250000,\n\"nan\": null\n}\n");
}

TEST(JsonDocument, TypedGettersReadWhatTheWriterWrote) {
  JsonWriter w;
  w.begin_object();
  w.begin_object("doc");
  w.field("name", std::string("x\"y"));
  w.field("int", -7);
  w.field("big", std::numeric_limits<uint64_t>::max());
  w.field("ratio", 0.1);
  w.field("f", 0.1f);
  w.field("yes", true);
  w.field("rows", std::vector<int64_t>{5, 6});
  w.field("none", std::optional<double>{});
  w.end_object();
  w.end_object();
  JsonDocument doc = JsonDocument::parse(w.str(), "mem.json");
  JsonValue v = doc.root()["doc"];
  EXPECT_EQ(v["name"].get<std::string>(), "x\"y");
  EXPECT_EQ(v["int"].get<int>(), -7);
  EXPECT_EQ(v["big"].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(v["ratio"].get<double>(), 0.1);
  EXPECT_EQ(v["f"].get<float>(), 0.1f);
  EXPECT_EQ(v["int"].get<double>(), -7.0);  // any number reads as a double
  EXPECT_TRUE(v["yes"].get<bool>());
  EXPECT_EQ(v["rows"].get<std::vector<int64_t>>(), (std::vector<int64_t>{5, 6}));
  EXPECT_TRUE(v["none"].is_null());
  EXPECT_TRUE(v.has("rows"));
  EXPECT_FALSE(v.has("cols"));
  EXPECT_FALSE(v["rows"].has("x"));
  EXPECT_EQ(v["rows"].items()[1].path(), "doc.rows[1]");
}

// Numbers read to the nearest double (glibc's strtod rounds correctly), long
// digit strings included, so what the writer writes reads back to itself.
// rapidjson's default parse missed by an ulp on the first of these (the
// input fuzz.tuned_config found).
TEST(JsonDocument, NumbersReadToTheNearestDouble) {
  std::vector<std::string> numbers = {
      "2490305.97433333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333"
      "333333333333333333187039",
      "0.1", "2.2250738585072011e-308", "1.7976931348623157e308", "9007199254740993", "3985798.795677346"};
  const unsigned seed = 20261206;
  std::printf("seed %u\n", seed);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 2000; ++i) {  // 20 to 40 significant digits, exponents -30..30
    std::string digits = std::to_string(1 + rng() % 9);
    const int count = 19 + static_cast<int>(rng() % 21);
    for (int d = 0; d < count; ++d) digits += static_cast<char>('0' + rng() % 10);
    numbers.push_back(digits.substr(0, 1) + "." + digits.substr(1) + "e" + std::to_string(static_cast<int>(rng() % 61) - 30));
  }
  for (const std::string& text : numbers) {
    const double expected = std::strtod(text.c_str(), nullptr);
    JsonDocument doc = JsonDocument::parse("{\"x\": " + text + "}", "mem.json");
    const double read = doc.root()["x"].get<double>();
    ASSERT_EQ(read, expected) << text;
    JsonWriter w;
    w.begin_object();
    w.field("x", read);
    w.end_object();
    ASSERT_EQ(JsonDocument::parse(w.str(), "again").root()["x"].get<double>(), read) << w.str();
  }
}

// Integers keep rapidjson's types; past 64 bits, below the double range and
// long runs of zeros (rapidjson's full-precision parse read out of bounds on
// those) read as doubles; past the double range is refused.
TEST(JsonDocument, NumberEdges) {
  std::vector<JsonDocument> docs;  // a JsonValue refers into its document
  auto read = [&docs](const std::string& number) {
    docs.push_back(JsonDocument::parse("{\"x\": " + number + "}", "mem.json"));
    return docs.back().root()["x"];
  };
  EXPECT_EQ(read("18446744073709551615").get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(read("-9223372036854775808").get<int64_t>(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(read("-7").get<int>(), -7);
  EXPECT_EQ(read("-0").get<int>(), 0);
  EXPECT_EQ(read("18446744073709551616").get<double>(), 18446744073709551616.0);
  EXPECT_THROW(read("18446744073709551616").get<uint64_t>(), Error);  // a double, not an integer
  EXPECT_EQ(read("1e-400").get<double>(), 0.0);
  EXPECT_EQ(read("4e-324").get<double>(), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(read("0." + std::string(3000, '0') + "184073709").get<double>(), 0.0);
  EXPECT_EQ(read("1" + std::string(300, '0') + "e-300").get<double>(), 1.0);
  // rapidjson refuses more integer digits than a double's range, whatever the exponent.
  EXPECT_THROW(read("1" + std::string(400, '0') + "e-400"), Error);
  try {
    read("1e999");
    ADD_FAILURE() << "1e999 was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mem.json is not a valid"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Number too big"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read("01"), Error);  // the grammar is still rapidjson's
  EXPECT_THROW(read("1."), Error);
  EXPECT_THROW(read("-"), Error);
}

TEST(JsonDocument, ErrorsNameTheSourceTheFieldAndWhatToDo) {
  const JsonSource source{"manifest", "re-create the model"};
  EXPECT_ERROR_WITH(JsonDocument::parse("{\"a\": ", "m.json", source), "m.json is not a valid manifest (",
                    "at byte", "); re-create the model");
  EXPECT_ERROR_WITH(JsonDocument::parse("", "m.json", source), "m.json", "empty");
  EXPECT_ERROR_WITH(JsonDocument::parse("{} {}", "m.json", source), "m.json", "not a valid manifest");

  JsonDocument doc = JsonDocument::parse(
      R"({"m": {"dim": "16", "rows": [1, -2, 3.5], "small": 3000000000, "shards": {}}})", "m.json", source);
  JsonValue m = doc.root()["m"];
  EXPECT_ERROR_WITH(m["cols"], "m.json is not a valid manifest (field m.cols is missing); re-create the model");
  EXPECT_ERROR_WITH(m["dim"].get<int>(), "field m.dim: expected an integer, found a string");
  EXPECT_ERROR_WITH(m["dim"]["x"], "field m.dim: expected an object, found a string");
  EXPECT_ERROR_WITH(m["shards"].items(), "field m.shards: expected an array, found an object");
  EXPECT_ERROR_WITH(m["rows"].get<std::vector<uint64_t>>(), "field m.rows[1]: the integer -2 is out of range");
  EXPECT_ERROR_WITH(m["rows"].items()[2].get<int64_t>(), "field m.rows[2]: expected an integer, found a fractional");
  EXPECT_ERROR_WITH(m["small"].get<int>(), "field m.small: the integer 3000000000 is out of range");
  EXPECT_EQ(m["small"].get<int64_t>(), 3000000000);
  EXPECT_ERROR_WITH(m["rows"].get<bool>(), "field m.rows: expected true or false, found an array");
  EXPECT_ERROR_WITH(m["dim"].fail("unknown size"), "m.json is not a valid manifest (field m.dim: unknown size)");
  EXPECT_ERROR_WITH(doc.root().get<std::string>(), "(the document: expected a string, found an object)");
}

TEST(JsonDocument, ReadFile) {
  test::TempDir dir;
  test::write_file(dir / "a.json", "{\"k\": [1, 2]}");
  JsonDocument doc = JsonDocument::read_file(dir / "a.json");
  EXPECT_EQ(doc.root()["k"].get<std::vector<int>>(), (std::vector<int>{1, 2}));
  EXPECT_ERROR_WITH(JsonDocument::read_file(dir / "b.json", {"report", "run it again"}),
                    (dir / "b.json").string(), "cannot be read", "run it again");
  test::write_file(dir / "a.json", "[1, 2");
  EXPECT_ERROR_WITH(JsonDocument::read_file(dir / "a.json"), (dir / "a.json").string(),
                    "is not a valid JSON document");
}

}  // namespace
}  // namespace dlrm
