#include "dlrm/datasets/criteo.h"

#include <spdlog/spdlog.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>

#include "dlrm/datasets/npz.h"
#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/progress.h"
#include "dlrm/common/staged_output.h"

namespace fs = std::filesystem;

namespace dlrm::datasets {

namespace {

constexpr size_t kMaxLineBytes = 1u << 20;
constexpr size_t kReadBytes = 4u << 20;
constexpr int64_t kBatchSamples = 16384;
constexpr size_t kMaxExamples = 5;

bool parse_int32(std::string_view s, int32_t& out) {
  if (s.empty()) {
    out = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    i = 1;
  }
  if (i == s.size() || s.size() - i > 10) return false;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (negative) v = -v;
  if (v < INT32_MIN || v > INT32_MAX) return false;
  out = static_cast<int32_t>(v);
  return true;
}

bool parse_hash(std::string_view s, uint32_t& out) {
  if (s.empty()) {
    out = 0;
    return true;
  }
  if (s.size() > 8) return false;
  uint32_t v = 0;
  for (const char c : s) {
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  out = v;
  return true;
}

std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return s.size() > 40 ? out + "..." : out;
}

}  // namespace

const char* to_string(LineStatus status) {
  switch (status) {
    case LineStatus::kOk: return "ok";
    case LineStatus::kFieldCount: return "wrong field count";
    case LineStatus::kBadLabel: return "bad label";
    case LineStatus::kBadDense: return "non-integer dense";
    case LineStatus::kBadCategorical: return "non-hex categorical";
    case LineStatus::kUnknownCategorical: return "categorical not in dictionary";
    case LineStatus::kTooLong: return "line too long";
  }
  return "?";
}

std::string criteo_field_name(int field) {
  if (field == 0) return "label";
  if (field >= 1 && field <= kCriteoDense) return fmt::format("I{}", field);
  if (field > kCriteoDense && field < kCriteoFields) return fmt::format("C{}", field - kCriteoDense);
  return fmt::format("field {}", field);
}

LineParse parse_criteo_line(std::string_view line, CriteoLine& out) noexcept {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::array<std::string_view, kCriteoFields> fields;
  int count = 0;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == '\t') {
      if (count < kCriteoFields) fields[count] = line.substr(start, i - start);
      ++count;
      start = i + 1;
    }
  }
  if (count != kCriteoFields) return {LineStatus::kFieldCount, count};
  if (fields[0] == "0" || fields[0] == "1") {
    out.label = fields[0][0] - '0';
  } else {
    return {LineStatus::kBadLabel, 0};
  }
  for (int f = 0; f < kCriteoDense; ++f) {
    if (!parse_int32(fields[1 + f], out.dense[f])) return {LineStatus::kBadDense, 1 + f};
  }
  for (int c = 0; c < kCriteoCategorical; ++c) {
    if (!parse_hash(fields[1 + kCriteoDense + c], out.hashes[c])) {
      return {LineStatus::kBadCategorical, 1 + kCriteoDense + c};
    }
  }
  return {LineStatus::kOk, -1};
}

CategoricalDictionary CategoricalDictionary::load(const fs::path& path) {
  NpzFile npz = NpzFile::open(path);
  CategoricalDictionary dict;
  std::vector<std::string> missing;
  for (int c = 0; c < kCriteoCategorical; ++c) {
    if (!npz.has(fmt::format("C{}", c + 1))) missing.push_back(fmt::format("C{}", c + 1));
  }
  DLRM_CHECK(missing.empty(),
             "dictionary {}: missing array{} {} (found: {}); a dictionary holds one 1-D integer array per "
             "categorical feature, named C1 .. C26",
             path.string(), missing.size() == 1 ? "" : "s", fmt::join(missing, ", "), fmt::join(npz.names(), ", "));
  for (int c = 0; c < kCriteoCategorical; ++c) {
    const std::string name = fmt::format("C{}", c + 1);
    const NpyHeader& h = npz.header(name);
    DLRM_CHECK(h.shape.size() == 1, "dictionary {}: array {} has shape {}; expected 1-D", path.string(), name,
               h.shape_str());
    DLRM_CHECK(h.count() <= INT32_MAX, "dictionary {}: array {} has {} values; at most 2^31-1 fit an int32 index",
               path.string(), name, h.count());
    std::vector<int64_t> values = npz.read_ints(name);
    if (!std::is_sorted(values.begin(), values.end())) {
      std::vector<int32_t> order(values.size());
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return values[a] < values[b]; });
      std::vector<int64_t> sorted(values.size());
      for (size_t i = 0; i < order.size(); ++i) sorted[i] = values[order[i]];
      values = std::move(sorted);
      dict.positions_[c] = std::move(order);
    }
    const auto dup = std::adjacent_find(values.begin(), values.end());
    DLRM_CHECK(dup == values.end(), "dictionary {}: array {} holds value {} twice; each value needs one index",
               path.string(), name, dup == values.end() ? 0 : *dup);
    dict.values_[c] = std::move(values);
  }
  return dict;
}

int64_t CategoricalDictionary::lookup(int feature, uint64_t value) const {
  const std::vector<int64_t>& v = values_[feature];
  auto it = std::lower_bound(v.begin(), v.end(), static_cast<int64_t>(value));
  if (it == v.end() || *it != static_cast<int64_t>(value)) return -1;
  const auto pos = static_cast<size_t>(it - v.begin());
  return positions_[feature].empty() ? static_cast<int64_t>(pos) : positions_[feature][pos];
}

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

class Converter {
 public:
  explicit Converter(const ConvertOptions& options) : opt_(options) {}

  ConvertStats run() {
    check_options();
    if (!opt_.dict.empty()) dict_ = std::make_unique<CategoricalDictionary>(CategoricalDictionary::load(opt_.dict));
    std::error_code ec;
    const uint64_t file_bytes = fs::file_size(opt_.from, ec);
    errno = 0;
    std::unique_ptr<gzFile_s, GzCloser> in(gzopen(opt_.from.c_str(), "rb"));
    DLRM_CHECK(in != nullptr, "cannot open {}: {}", opt_.from.string(),
               errno ? std::strerror(errno) : "out of memory");
    gzbuffer(in.get(), 1u << 20);
    StagedFile out(opt_.out);
    out_ = &out;
    Progress progress("convert " + opt_.from.filename().string(), file_bytes, "B", opt_.progress);
    std::vector<char> block(kReadBytes);
    std::string carry;
    bool overlong = false;
    uint64_t reported = 0;
    records_.reserve(static_cast<size_t>(kBatchSamples) * kCriteoFields);
    bool done = false;
    while (!done) {
      const int n = gzread(in.get(), block.data(), static_cast<unsigned>(block.size()));
      if (n < 0) {
        int code = 0;
        const char* msg = gzerror(in.get(), &code);
        DLRM_FAIL("{}: cannot read: {}; the file is damaged{}", opt_.from.string(), msg,
                  code == Z_ERRNO ? fmt::format(" ({})", std::strerror(errno)) : "");
      }
      if (n == 0) {
        int code = 0;
        const char* msg = gzerror(in.get(), &code);
        DLRM_CHECK(code == Z_OK, "{}: {}; the gzip file is truncated or damaged (copy it again)", opt_.from.string(),
                   msg);
        break;
      }
      std::string_view data(block.data(), static_cast<size_t>(n));
      while (!data.empty() && !done) {
        const size_t nl = data.find('\n');
        if (nl == std::string_view::npos) {
          if (!overlong) carry.append(data);
          if (carry.size() > kMaxLineBytes) {
            overlong = true;
            carry.clear();
          }
          break;
        }
        std::string_view piece = data.substr(0, nl);
        data.remove_prefix(nl + 1);
        if (overlong) {
          done = line(std::string_view(), true);
          overlong = false;
        } else if (!carry.empty()) {
          carry.append(piece);
          done = carry.size() > kMaxLineBytes ? line(std::string_view(), true) : line(carry, false);
          carry.clear();
        } else {
          done = line(piece, piece.size() > kMaxLineBytes);
        }
      }
      const uint64_t offset = static_cast<uint64_t>(std::max<z_off_t>(0, gzoffset(in.get())));
      if (offset > reported) {
        progress.add(offset - reported);
        reported = offset;
      }
    }
    if (!done && (overlong || !carry.empty())) line(carry, overlong);  // last line without '\n'
    flush();
    DLRM_CHECK(stats_.samples > 0, "{}: no valid samples ({} lines, {} skipped: {}); nothing written", opt_.from.string(),
               stats_.lines, stats_.skipped, stats_.examples.empty() ? "empty input" : stats_.examples.front());
    out.commit();
    progress.finish();
    return stats_;
  }

 private:
  void check_options() {
    std::error_code ec;
    DLRM_CHECK(fs::is_regular_file(opt_.from, ec), "--from {} does not exist or is not a file", opt_.from.string());
    DLRM_CHECK(!fs::is_directory(opt_.out, ec), "--out {} is a directory; give a file name", opt_.out.string());
    DLRM_CHECK(!fs::exists(opt_.out, ec) || !fs::equivalent(opt_.from, opt_.out, ec),
               "--out {} is the input file", opt_.out.string());
    DLRM_CHECK(opt_.max_ind_range >= 0 && opt_.max_ind_range <= (int64_t{1} << 31),
               "--max-ind-range must be in [0, 2^31] so that indices fit int32, got {}", opt_.max_ind_range);
    DLRM_CHECK(opt_.max_ind_range > 0 || !opt_.dict.empty(),
               "give --max-ind-range N (the MLPerf terabyte model uses 40000000) or --dict FILE: raw 32-bit hashes "
               "do not fit the int32 binary layout");
    DLRM_CHECK(opt_.limit >= 0, "--limit must be >= 0, got {}", opt_.limit);
  }

  void problem(LineStatus status, const std::string& what) {
    ++stats_.skipped;
    ++stats_.by_status[static_cast<int>(status)];
    const std::string text = fmt::format("{} line {}: {}", opt_.from.string(), stats_.lines, what);
    DLRM_CHECK(!opt_.strict, "{} (--strict stops at the first bad line; without it such lines are counted and "
               "skipped)",
               text);
    if (stats_.examples.size() < kMaxExamples) stats_.examples.push_back(text);
  }

  // Handles one line; returns true when the sample limit is reached.
  bool line(std::string_view text, bool too_long) {
    ++stats_.lines;
    if (too_long) {
      problem(LineStatus::kTooLong, fmt::format("longer than {} bytes", kMaxLineBytes));
      return false;
    }
    CriteoLine parsed;
    const LineParse r = parse_criteo_line(text, parsed);
    if (r.status != LineStatus::kOk) {
      std::string_view field;
      if (r.status != LineStatus::kFieldCount) {
        size_t start = 0;
        for (int f = 0; f < r.field; ++f) start = text.find('\t', start) + 1;
        field = text.substr(start, text.find('\t', start) - start);
      }
      switch (r.status) {
        case LineStatus::kFieldCount:
          problem(r.status, fmt::format("{} field{}, expected {} (label, I1..I13, C1..C26 separated by tabs)", r.field,
                                        r.field == 1 ? "" : "s", kCriteoFields));
          break;
        case LineStatus::kBadLabel:
          problem(r.status, fmt::format("label '{}' is not 0 or 1", shown(field)));
          break;
        case LineStatus::kBadDense:
          problem(r.status, fmt::format("field {} '{}' is not an integer that fits int32",
                                        criteo_field_name(r.field), shown(field)));
          break;
        default:
          problem(r.status, fmt::format("field {} '{}' is not a 32-bit hexadecimal hash (1 to 8 hex digits)",
                                        criteo_field_name(r.field), shown(field)));
      }
      return false;
    }
    int32_t record[kCriteoFields];
    record[0] = parsed.label;
    for (int f = 0; f < kCriteoDense; ++f) {
      const int32_t v = parsed.dense[f];
      if (v < 0) ++stats_.negative_dense;
      record[1 + f] = std::max(v, 0);
    }
    for (int c = 0; c < kCriteoCategorical; ++c) {
      uint64_t v = parsed.hashes[c];
      if (opt_.max_ind_range > 0) v %= static_cast<uint64_t>(opt_.max_ind_range);
      if (dict_) {
        const int64_t index = dict_->lookup(c, v);
        if (index < 0) {
          problem(LineStatus::kUnknownCategorical,
                  fmt::format("field {} value {} (hash {:08x}) is not in the dictionary {}",
                              criteo_field_name(1 + kCriteoDense + c), v, parsed.hashes[c], opt_.dict.string()));
          return false;
        }
        v = static_cast<uint64_t>(index);
      }
      record[1 + kCriteoDense + c] = static_cast<int32_t>(v);  // < 2^31 by the option checks
    }
    records_.insert(records_.end(), record, record + kCriteoFields);
    ++stats_.samples;
    if (static_cast<int64_t>(records_.size()) >= kBatchSamples * kCriteoFields) flush();
    return opt_.limit > 0 && stats_.samples >= opt_.limit;
  }

  void flush() {
    if (records_.empty()) return;
    out_->write(records_.data(), records_.size() * sizeof(int32_t));
    records_.clear();
  }

  const ConvertOptions& opt_;
  std::unique_ptr<CategoricalDictionary> dict_;
  ConvertStats stats_;
  std::vector<int32_t> records_;
  StagedFile* out_ = nullptr;
};

}  // namespace

ConvertStats convert_criteo(const ConvertOptions& options) { return Converter(options).run(); }

int run_convert(const ConvertOptions& options) {
  if (is_npz(options.from)) {
    convert_npz(options.from, options.out, options.reference_out);
    return 0;
  }
  DLRM_CHECK(options.reference_out.empty(), "--reference-out applies to .npz input only");
  const ConvertStats stats = convert_criteo(options);
  std::vector<std::string> counts;
  for (int s = 1; s < kLineStatusCount; ++s) {
    if (stats.by_status[s]) counts.push_back(fmt::format("{} {}", stats.by_status[s], to_string(static_cast<LineStatus>(s))));
  }
  spdlog::info("wrote {}: {} samples ({}) from {} lines of {}; {} dense values were negative (clipped to 0)",
               options.out.string(), stats.samples, format_bytes(static_cast<double>(stats.samples) * 4 * kCriteoFields),
               stats.lines, options.from.string(), stats.negative_dense);
  if (stats.skipped > 0) {
    spdlog::warn("skipped {} of {} lines ({}); --strict makes them fatal", stats.skipped, stats.lines,
                 fmt::join(counts, ", "));
    for (const std::string& e : stats.examples) spdlog::warn("  {}", e);
  }
  return 0;
}

}  // namespace dlrm::datasets
