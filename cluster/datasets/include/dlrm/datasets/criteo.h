// Raw Criteo day files (TSV) to the MLPerf binary layout, streaming.
//
// A line is 40 tab-separated fields: label, I1..I13 (decimal integers),
// C1..C26 (32-bit hashes as up to 8 hex digits); any dense or categorical
// field may be empty. A trailing '\r' is ignored. The conversion follows the
// reference preprocessing (DESIGN.md):
//   label          0 or 1 (required)
//   dense          empty -> 0; negative -> 0 (counted); must fit int32
//   categorical    empty -> 0; value = int(hex) mod max_ind_range (when > 0);
//                  with a dictionary, value -> its position in the feature's
//                  dictionary array (0 .. count-1)
// and writes 40 native int32 per sample (label, 13 dense, 26 indices).
//
// Malformed lines (wrong field count, bad label, non-integer dense, non-hex
// categorical, longer than 1 MiB) and lines with a categorical value missing
// from the dictionary are counted and skipped, with a warning naming the first
// ones (file, line number, field); with `strict` the first one is fatal.
// Never silent. Input may be gzip-compressed (zlib reads plain files too);
// output goes through StagedFile, so a failure leaves nothing behind.
//
// Dictionary file (--dict): an .npz with one 1-D integer array per
// categorical feature, named C1 .. C26, holding that feature's distinct
// values after the modulo (numpy.unique order, i.e. sorted; any order is
// accepted); a value's index in its array is its remapped index. E.g.
//   np.savez("dict.npz", **{f"C{j+1}": np.unique(values[j]) for j in range(26)})
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dlrm::datasets {

inline constexpr int kCriteoDense = 13;
inline constexpr int kCriteoCategorical = 26;
inline constexpr int kCriteoFields = 1 + kCriteoDense + kCriteoCategorical;

enum class LineStatus : uint8_t {
  kOk = 0,
  kFieldCount,      // not 40 fields
  kBadLabel,        // label not 0 or 1
  kBadDense,        // dense not a decimal integer fitting int32
  kBadCategorical,  // categorical not 1..8 hex digits
  kUnknownCategorical,  // (conversion) value not in the dictionary
  kTooLong,         // (conversion) line longer than kMaxLineBytes
};
inline constexpr int kLineStatusCount = 7;
const char* to_string(LineStatus status);

struct CriteoLine {
  int32_t label = 0;
  std::array<int32_t, kCriteoDense> dense{};         // as written (negatives kept)
  std::array<uint32_t, kCriteoCategorical> hashes{};  // 0 for empty fields
};

struct LineParse {
  LineStatus status = LineStatus::kOk;
  int field = -1;  // 0-based field of the first problem (kFieldCount: fields found)
};

// Parses one line (without its '\n'). Never throws, never allocates.
LineParse parse_criteo_line(std::string_view line, CriteoLine& out) noexcept;
// "I3", "C12", "label" for field index 0..39.
std::string criteo_field_name(int field);

// Per-feature dictionaries (see above).
class CategoricalDictionary {
 public:
  static CategoricalDictionary load(const std::filesystem::path& npz);
  // Index of `value` for categorical feature f (0-based), or -1 when absent.
  int64_t lookup(int feature, uint64_t value) const;
  int64_t size(int feature) const { return static_cast<int64_t>(values_[feature].size()); }

 private:
  // Sorted values and, when the file's order was not sorted, their original positions.
  std::array<std::vector<int64_t>, kCriteoCategorical> values_;
  std::array<std::vector<int32_t>, kCriteoCategorical> positions_;
};

struct ConvertOptions {
  std::filesystem::path from;  // day_N, day_N.gz, or an accuracy .npz (see npz.h)
  std::filesystem::path out;
  int64_t max_ind_range = 0;   // 0: no modulo (then --dict is required: raw hashes do not fit int32)
  std::filesystem::path dict;  // optional .npz of C1..C26
  bool strict = false;         // first malformed line is fatal
  bool progress = true;
  int64_t limit = 0;                     // stop after this many samples (0: all)
  std::filesystem::path reference_out;   // .npz input only: write its 'reference' array here
};

struct ConvertStats {
  int64_t lines = 0;    // lines read (blank lines excluded)
  int64_t samples = 0;  // records written
  int64_t skipped = 0;  // malformed or unknown-categorical lines
  std::array<int64_t, kLineStatusCount> by_status{};
  int64_t negative_dense = 0;  // dense values clipped to 0
  std::vector<std::string> examples;  // first few problems, "day_0 line 12: field C3 ..."
};

// Converts options.from into options.out. Throws dlrm::Error (nothing
// written) on bad options, unreadable or damaged input, --strict violations,
// or when no line is valid.
ConvertStats convert_criteo(const ConvertOptions& options);

// The `dlrm-data convert` subcommand: converts (TSV or .npz by extension),
// logs a summary and warnings; returns the exit code (0), throws on errors.
int run_convert(const ConvertOptions& options);

}  // namespace dlrm::datasets
