// Criteo TSV: the line parser's corner cases, conversion of plain and gzip
// files (modulo, dictionary, negatives), malformed lines counted or fatal
// with --strict, and nothing written on failure.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>

#include "dlrm/datasets/criteo.h"
#include "dlrm/common/error.h"
#include "fixtures.h"

namespace fs = std::filesystem;

namespace dlrm::datasets {
namespace {

// A valid line: label, dense 0..12 (I2 = -3, I5 empty), categoricals "%08x" of 0x10000 * c + 0xabc.
std::string good_line(int label = 1) {
  std::string s = std::to_string(label);
  for (int f = 0; f < kCriteoDense; ++f) {
    s.push_back('\t');
    if (f == 1) s.append("-3");
    if (f != 1 && f != 4) s.append(std::to_string(f * 7));
  }
  for (int c = 0; c < kCriteoCategorical; ++c) {
    s.push_back('\t');
    if (c != 3) s.append(fmt::format("{:08x}", 0x10000u * c + 0xabcu));
  }
  return s;
}

TEST(CriteoLine, ParsesAValidLine) {
  CriteoLine out;
  LineParse r = parse_criteo_line(good_line(), out);
  ASSERT_EQ(r.status, LineStatus::kOk);
  EXPECT_EQ(out.label, 1);
  EXPECT_EQ(out.dense[0], 0);
  EXPECT_EQ(out.dense[1], -3);
  EXPECT_EQ(out.dense[4], 0);
  EXPECT_EQ(out.dense[12], 84);
  EXPECT_EQ(out.hashes[0], 0xabcu);
  EXPECT_EQ(out.hashes[3], 0u);
  EXPECT_EQ(out.hashes[25], 0x190abcu);
  // CRLF line endings and upper-case hex.
  std::string crlf = good_line(0) + "\r";
  ASSERT_EQ(parse_criteo_line(crlf, out).status, LineStatus::kOk);
  EXPECT_EQ(out.label, 0);
  std::string upper = good_line();
  upper.replace(upper.rfind('\t') + 1, 8, "FFFFFFFF");
  ASSERT_EQ(parse_criteo_line(upper, out).status, LineStatus::kOk);
  EXPECT_EQ(out.hashes[25], 0xffffffffu);
}

TEST(CriteoLine, ReportsTheFirstBadField) {
  CriteoLine out;
  EXPECT_EQ(parse_criteo_line("", out).status, LineStatus::kFieldCount);
  LineParse r = parse_criteo_line(good_line() + "\textra", out);
  EXPECT_EQ(r.status, LineStatus::kFieldCount);
  EXPECT_EQ(r.field, 41);
  r = parse_criteo_line(good_line().substr(0, good_line().rfind('\t')), out);
  EXPECT_EQ(r.field, 39);
  std::string s = good_line();
  s[0] = '2';
  EXPECT_EQ(parse_criteo_line(s, out).status, LineStatus::kBadLabel);
  s = good_line();
  s.replace(s.find("-3"), 2, "3.5");
  r = parse_criteo_line(s, out);
  EXPECT_EQ(r.status, LineStatus::kBadDense);
  EXPECT_EQ(criteo_field_name(r.field), "I2");
  s = good_line();
  s.replace(s.find("-3"), 2, "99999999999");
  EXPECT_EQ(parse_criteo_line(s, out).status, LineStatus::kBadDense);
  s = good_line();
  s.replace(s.find("00010abc"), 8, "0001zabc");
  r = parse_criteo_line(s, out);
  EXPECT_EQ(r.status, LineStatus::kBadCategorical);
  EXPECT_EQ(criteo_field_name(r.field), "C2");
  s = good_line();
  s.replace(s.find("00010abc"), 8, "100010abc");  // 9 hex digits: more than 32 bits
  EXPECT_EQ(parse_criteo_line(s, out).status, LineStatus::kBadCategorical);
}

void write_gz(const fs::path& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
  gzclose(f);
}

std::vector<int32_t> read_records(const fs::path& path) {
  std::string bytes = test::read_file(path);
  std::vector<int32_t> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

TEST(CriteoConvert, PlainAndGzipGiveTheSameRecords) {
  test::TempDir dir;
  std::string text;
  for (int i = 0; i < 1000; ++i) text += good_line(i % 2) + "\n";
  text += good_line(1);  // last line without '\n'
  test::write_file(dir / "day_0", text);
  write_gz(dir / "day_0.gz", text);
  ConvertOptions o;
  o.max_ind_range = 1000;
  o.progress = false;
  o.from = dir / "day_0";
  o.out = dir / "plain.bin";
  ConvertStats stats = convert_criteo(o);
  EXPECT_EQ(stats.samples, 1001);
  EXPECT_EQ(stats.skipped, 0);
  EXPECT_EQ(stats.negative_dense, 1001);
  o.from = dir / "day_0.gz";
  o.out = dir / "gz.bin";
  convert_criteo(o);
  EXPECT_EQ(test::read_file(dir / "plain.bin"), test::read_file(dir / "gz.bin"));
  std::vector<int32_t> r = read_records(dir / "plain.bin");
  ASSERT_EQ(r.size(), 1001u * 40);
  EXPECT_EQ(r[0], 0);           // label of line 0
  EXPECT_EQ(r[40], 1);          // label of line 1
  EXPECT_EQ(r[1 + 1], 0);       // I2 = -3 clipped to 0
  EXPECT_EQ(r[1 + 12], 84);     // I13
  EXPECT_EQ(r[14 + 0], 0xabc % 1000);
  EXPECT_EQ(r[14 + 3], 0);      // empty categorical
  EXPECT_EQ(r[14 + 25], (0x10000 * 25 + 0xabc) % 1000);
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(CriteoConvert, MalformedLinesAreCountedOrFatal) {
  test::TempDir dir;
  std::string bad_hex = good_line();
  bad_hex.replace(bad_hex.find("00010abc"), 8, "xyz");
  std::string text = good_line() + "\n" + "1\t2\t3\n" + bad_hex + "\n" + good_line(0) + "\n" + "7" +
                     good_line().substr(1) + "\n";
  test::write_file(dir / "day_1", text);
  ConvertOptions o;
  o.from = dir / "day_1";
  o.out = dir / "out.bin";
  o.max_ind_range = 100;
  o.progress = false;
  ConvertStats stats = convert_criteo(o);
  EXPECT_EQ(stats.lines, 5);
  EXPECT_EQ(stats.samples, 2);
  EXPECT_EQ(stats.skipped, 3);
  EXPECT_EQ(stats.by_status[static_cast<int>(LineStatus::kFieldCount)], 1);
  EXPECT_EQ(stats.by_status[static_cast<int>(LineStatus::kBadCategorical)], 1);
  EXPECT_EQ(stats.by_status[static_cast<int>(LineStatus::kBadLabel)], 1);
  ASSERT_EQ(stats.examples.size(), 3u);
  EXPECT_NE(stats.examples[0].find("line 2: 3 fields, expected 40"), std::string::npos) << stats.examples[0];
  EXPECT_NE(stats.examples[1].find("line 3: field C2 'xyz' is not a 32-bit hexadecimal hash"), std::string::npos)
      << stats.examples[1];
  EXPECT_EQ(fs::file_size(dir / "out.bin"), 2u * 160);

  o.strict = true;
  o.out = dir / "strict.bin";
  EXPECT_ERROR_WITH(convert_criteo(o), (dir / "day_1").string(), "line 2", "--strict");
  EXPECT_FALSE(fs::exists(dir / "strict.bin"));
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(CriteoConvert, DictionaryRemapsAndCountsUnknownValues) {
  REQUIRE_FIXTURES();  // the dictionary .npz is written with numpy by the test itself
  test::TempDir dir;
  // Dictionary: feature c holds {hash_c mod 1000, 0} in reverse-sorted order;
  // C2 of the second line is unknown.
  std::string script = "import numpy as np\nd = {}\nfor c in range(26):\n"
                       "    d[f'C{c+1}'] = np.array(sorted({(0x10000 * c + 0xabc) % 1000, 0}, reverse=True))\n"
                       "np.savez('" + (dir / "dict.npz").string() + "', **d)\n";
  test::write_file(dir / "make_dict.py", script);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + (dir / "make_dict.py").string()).c_str()), 0);
  std::string unknown = good_line();
  unknown.replace(unknown.find("00010abc"), 8, "00000777");
  test::write_file(dir / "day", good_line() + "\n" + unknown + "\n");
  ConvertOptions o;
  o.from = dir / "day";
  o.out = dir / "out.bin";
  o.max_ind_range = 1000;
  o.dict = dir / "dict.npz";
  o.progress = false;
  ConvertStats stats = convert_criteo(o);
  EXPECT_EQ(stats.samples, 1);
  EXPECT_EQ(stats.by_status[static_cast<int>(LineStatus::kUnknownCategorical)], 1);
  std::vector<int32_t> r = read_records(dir / "out.bin");
  ASSERT_EQ(r.size(), 40u);
  for (int c = 0; c < 26; ++c) {
    const int value = (0x10000 * c + 0xabc) % 1000;
    // Reverse-sorted {value, 0}: value sits at 0 unless it is 0 itself; empty (C4) is 0 -> index of 0.
    const int expect = c == 3 ? (value == 0 ? 0 : 1) : 0;
    EXPECT_EQ(r[14 + c], expect) << "C" << c + 1;
  }
  CategoricalDictionary dict = CategoricalDictionary::load(dir / "dict.npz");
  EXPECT_EQ(dict.size(0), 2);
  EXPECT_EQ(dict.lookup(0, 0xabc % 1000), 0);
  EXPECT_EQ(dict.lookup(0, 0), 1);
  EXPECT_EQ(dict.lookup(0, 5), -1);
}

TEST(CriteoConvert, BadOptionsAndInputs) {
  test::TempDir dir;
  test::write_file(dir / "day", good_line() + "\n");
  ConvertOptions o;
  o.from = dir / "day";
  o.out = dir / "out.bin";
  o.progress = false;
  EXPECT_ERROR_WITH(convert_criteo(o), "--max-ind-range", "--dict");
  o.max_ind_range = int64_t{1} << 32;
  EXPECT_ERROR_WITH(convert_criteo(o), "--max-ind-range must be in [0, 2^31]");
  o.max_ind_range = 10;
  o.from = dir / "nope";
  EXPECT_ERROR_WITH(convert_criteo(o), "nope", "does not exist");
  // Every line bad: an error, and no output.
  test::write_file(dir / "junk", "a\tb\nc\n");
  o.from = dir / "junk";
  EXPECT_ERROR_WITH(convert_criteo(o), "no valid samples", "nothing written");
  EXPECT_FALSE(fs::exists(o.out));
  // A gzip file cut short.
  std::string text;
  for (int i = 0; i < 2000; ++i) text += good_line() + "\n";
  write_gz(dir / "full.gz", text);
  test::copy_prefix(dir / "full.gz", dir / "cut.gz", fs::file_size(dir / "full.gz") / 2);
  o.from = dir / "cut.gz";
  EXPECT_ERROR_WITH(convert_criteo(o), "cut.gz", "truncated");
  EXPECT_FALSE(fs::exists(o.out));
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(CriteoConvert, OverlongLinesAreSkipped) {
  test::TempDir dir;
  std::string text = good_line() + "\n" + std::string(3u << 20, 'x') + "\n" + good_line(0) + "\n";
  test::write_file(dir / "day", text);
  ConvertOptions o;
  o.from = dir / "day";
  o.out = dir / "out.bin";
  o.max_ind_range = 10;
  o.progress = false;
  ConvertStats stats = convert_criteo(o);
  EXPECT_EQ(stats.samples, 2);
  EXPECT_EQ(stats.by_status[static_cast<int>(LineStatus::kTooLong)], 1);
  o.limit = 1;
  o.out = dir / "one.bin";
  EXPECT_EQ(convert_criteo(o).samples, 1);
  EXPECT_EQ(fs::file_size(dir / "one.bin"), 160u);
}

}  // namespace
}  // namespace dlrm::datasets
