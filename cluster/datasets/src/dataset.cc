#include "dlrm/datasets/dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "dlrm/common/error.h"

namespace fs = std::filesystem;

namespace dlrm::datasets {

namespace {

void check_layout(const RecordLayout& layout) {
  DLRM_CHECK(layout.dense_features >= 0 && layout.tables > 0,
             "record layout needs at least one table and no negative feature count (got {} dense, {} tables)",
             layout.dense_features, layout.tables);
}

// Closes a file descriptor on every path out of Dataset::open.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Dataset Dataset::open(const fs::path& path, const RecordLayout& layout) {
  check_layout(layout);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    DLRM_CHECK(err != ENOENT, "data file {} does not exist; create it with dlrm-data synth or convert",
               path.string());
    DLRM_FAIL("cannot open data file {}: {}", path.string(), std::strerror(err));
  }
  FdCloser closer{fd};
  struct stat st {};
  DLRM_CHECK(::fstat(fd, &st) == 0, "cannot stat data file {}: {}", path.string(), std::strerror(errno));
  DLRM_CHECK(S_ISREG(st.st_mode), "data file {} is not a regular file", path.string());
  const uint64_t bytes = static_cast<uint64_t>(st.st_size);
  const uint64_t record_bytes = static_cast<uint64_t>(layout.record_bytes());
  DLRM_CHECK(bytes > 0, "data file {} is empty; re-create it (dlrm-data synth) or check the path",
             path.string());
  DLRM_CHECK(bytes % record_bytes == 0,
             "data file {} has {} bytes, not a whole number of {}-byte records ({} bytes over); it is "
             "truncated or was written for another model (records here hold 1 label, {} dense features "
             "and {} indices)",
             path.string(), bytes, record_bytes, bytes % record_bytes, layout.dense_features, layout.tables);

  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  DLRM_CHECK(map != MAP_FAILED, "cannot map data file {} ({} bytes): {}", path.string(), bytes,
             std::strerror(errno));
  // Readers stream the file front to back; the advice only tunes read-ahead.
  ::madvise(map, bytes, MADV_SEQUENTIAL);

  Dataset data;
  data.path_ = path;
  data.layout_ = layout;
  data.maps_.push_back({map, bytes});
  data.base_ = static_cast<const int32_t*>(map);
  data.samples_ = static_cast<int64_t>(bytes / record_bytes);
  data.end_ = data.samples_;
  return data;
}

Dataset Dataset::from_records(const int32_t* records, int64_t samples, const RecordLayout& layout,
                              fs::path name) {
  check_layout(layout);
  DLRM_CHECK(samples >= 0, "record view of {} has a negative sample count {}", name.string(), samples);
  DLRM_CHECK(records != nullptr || samples == 0, "record view of {} has no records", name.string());
  Dataset data;
  data.path_ = std::move(name);
  data.layout_ = layout;
  data.base_ = records;
  data.samples_ = samples;
  data.end_ = samples;
  return data;
}

Dataset Dataset::part_of(const int32_t* records, int64_t first, int64_t count, int64_t total,
                         const RecordLayout& layout, fs::path name) {
  DLRM_CHECK(first >= 0 && count >= 0 && first + count <= total,
             "record view of {}: samples [{}, {}) are not part of its {} samples", name.string(), first, first + count,
             total);
  Dataset data = from_records(records, count, layout, std::move(name));
  data.samples_ = total;
  data.first_ = first;
  data.end_ = first + count;
  return data;
}

Dataset Dataset::from_multi_hot(const MultiHotColumns& columns, int dense_features, int64_t first, int64_t count,
                                int64_t total, fs::path name) {
  const int tables = static_cast<int>(columns.bags.size());
  DLRM_CHECK(dense_features >= 0 && tables > 0 && columns.hotness.size() == columns.bags.size(),
             "multi-hot view of {}: {} dense features, {} bag columns and {} hotness values", name.string(),
             dense_features, tables, columns.hotness.size());
  DLRM_CHECK(first >= 0 && count >= 0 && first + count <= total,
             "multi-hot view of {}: samples [{}, {}) are not part of its {} samples", name.string(), first,
             first + count, total);
  for (int t = 0; t < tables; ++t) {
    DLRM_CHECK(columns.hotness[t] >= 1, "multi-hot view of {}: table {} has hotness {}", name.string(), t,
               columns.hotness[t]);
  }
  Dataset data;
  data.path_ = std::move(name);
  data.layout_ = RecordLayout{dense_features, tables};
  data.samples_ = total;
  data.first_ = first;
  data.end_ = first + count;
  data.multi_hot_ = true;
  data.dense_values_ = columns.dense;
  data.labels_ = columns.labels;
  data.bags_ = columns.bags;
  data.hotness_ = columns.hotness;
  return data;
}

Dataset::Dataset(Dataset&& other) noexcept { *this = std::move(other); }

void Dataset::release() {
  for (const Mapping& m : maps_) ::munmap(m.addr, m.bytes);
  maps_.clear();
}

Dataset& Dataset::operator=(Dataset&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    layout_ = other.layout_;
    maps_ = std::exchange(other.maps_, {});
    base_ = std::exchange(other.base_, nullptr);
    samples_ = std::exchange(other.samples_, 0);
    first_ = std::exchange(other.first_, 0);
    end_ = std::exchange(other.end_, 0);
    multi_hot_ = std::exchange(other.multi_hot_, false);
    dense_values_ = std::exchange(other.dense_values_, nullptr);
    labels_ = std::exchange(other.labels_, nullptr);
    bags_ = std::exchange(other.bags_, {});
    hotness_ = std::exchange(other.hotness_, {});
    copies_ = std::exchange(other.copies_, {});  // moving keeps the copies' buffers (and pointers into them)
    dense_copy_ = std::exchange(other.dense_copy_, {});
    mapped_columns_ = std::exchange(other.mapped_columns_, {});
  }
  return *this;
}

Dataset::~Dataset() { release(); }

void Dataset::check_held(int64_t begin, int64_t end, const char* who) const {
  if (begin >= first_ && begin <= end && end <= end_) return;
  if (first_ == 0 && end_ == samples_) {
    DLRM_FAIL("{}: samples [{}, {}) are outside the {} samples of {}", who, begin, end, samples_, path_.string());
  }
  DLRM_FAIL("{}: samples [{}, {}) are outside the part [{}, {}) held of the {} samples of {}", who, begin, end, first_,
            end_, samples_, path_.string());
}

namespace {

// madvise(WILLNEED) of bytes [first, last) of a mapping, widened to pages.
void will_need(const uint8_t* base, uint64_t first, uint64_t last) {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(base) + first) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(base) + last;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_WILLNEED);
}

}  // namespace

void Dataset::prefetch(int64_t begin, int64_t n) const {
  begin = std::max(begin, first_);
  n = std::min(n, end_ - begin);
  if (maps_.empty() || n <= 0) return;
  const uint64_t b = static_cast<uint64_t>(begin), e = static_cast<uint64_t>(begin + n);
  if (!multi_hot_) {
    const uint64_t rb = static_cast<uint64_t>(layout_.record_bytes());
    will_need(static_cast<const uint8_t*>(maps_[0].addr), b * rb, e * rb);
    return;
  }
  for (const MappedColumn& c : mapped_columns_) {
    const uint64_t rb = static_cast<uint64_t>(c.row_bytes);
    will_need(c.base, b * rb, e * rb);
  }
}

namespace {

// log(max(x, 0) + 1) rounded to float: log1p in double is correctly rounded
// to float for every int32 input, so this is the nearest float to log(x + 1).
inline float log1p_feature(int32_t x) {
  return static_cast<float>(std::log1p(static_cast<double>(std::max<int32_t>(x, 0))));
}

// The same for the small counts that most dense features are (16 KiB): the
// table holds exactly what log1p_feature returns, so results are unchanged.
constexpr int32_t kLog1pTableSize = 4096;
const std::array<float, kLog1pTableSize>& log1p_table() {
  static const auto table = [] {
    std::array<float, kLog1pTableSize> t{};
    for (int32_t x = 0; x < kLog1pTableSize; ++x) t[x] = log1p_feature(x);
    return t;
  }();
  return table;
}

}  // namespace

void dense_transform(const Dataset& data, int64_t begin, int n, float* dst) {
  data.check_held(begin, begin + n, "dense_transform");
  const int features = data.layout().dense_features;
  if (data.multi_hot()) {
    if (n > 0) std::memcpy(dst, data.dense_values(begin), sizeof(float) * static_cast<size_t>(n) * features);
    return;
  }
  const auto& table = log1p_table();
  for (int b = 0; b < n; ++b) {
    const int32_t* src = data.dense(begin + b);
    for (int f = 0; f < features; ++f) {
      const int32_t x = std::max<int32_t>(src[f], 0);
      dst[static_cast<int64_t>(b) * features + f] = x < kLog1pTableSize ? table[x] : log1p_feature(x);
    }
  }
}

float dense_feature(int64_t count) {
  const int64_t x = std::max<int64_t>(count, 0);
  if (x < kLog1pTableSize) return log1p_table()[x];
  return static_cast<float>(std::log1p(static_cast<double>(x)));
}

float dense_feature(double count) {
  const double x = std::max(count, 0.0);
  if (x < kLog1pTableSize && x == std::floor(x)) return log1p_table()[static_cast<int>(x)];
  return static_cast<float>(std::log1p(x));
}

std::optional<BadIndex> find_bad_index(const Dataset& data, int64_t begin, int64_t end,
                                       const std::vector<int64_t>& table_rows) {
  const int tables = data.layout().tables;
  DLRM_CHECK(static_cast<int>(table_rows.size()) == tables,
             "data file {} has {} indices per record but the model has {} tables", data.path().string(),
             tables, table_rows.size());
  begin = std::max<int64_t>(begin, 0);
  end = std::min(end, data.samples());
  if (begin >= end) return std::nullopt;
  data.check_held(begin, end, "find_bad_index");
  if (!data.multi_hot()) {
    for (int64_t i = begin; i < end; ++i) {
      const int32_t* idx = data.indices(i);
      for (int t = 0; t < tables; ++t) {
        if (idx[t] < 0 || idx[t] >= table_rows[t]) [[unlikely]] {
          return BadIndex{i, t, idx[t], table_rows[t]};
        }
      }
    }
    return std::nullopt;
  }
  // Multi-hot: each table's bags of [begin, end) are one contiguous run; its
  // first bad element is that table's earliest (sample, position). The
  // earliest sample over the tables (then the lowest table) is the answer.
  std::optional<BadIndex> first;
  for (int t = 0; t < tables; ++t) {
    const int h = data.hotness(t);
    const int32_t* src = data.bag(begin, t);
    const int64_t count = (end - begin) * h, rows = table_rows[t];
    int64_t k = 0;
    while (k < count && src[k] >= 0 && src[k] < rows) ++k;
    if (k == count) continue;
    const int64_t sample = begin + k / h;
    if (!first || sample < first->sample) {
      first = BadIndex{sample, t, src[k], rows, static_cast<int>(k % h), h};
    }
  }
  return first;
}

std::string describe(const BadIndex& bad, const fs::path& path) {
  const std::string where = bad.hotness > 1 ? fmt::format(" bag position {} of {}", bad.position, bad.hotness) : "";
  return fmt::format(
      "sample {} table {}{}: index {} outside [0, {}) in {}; re-create the data for this model or pass "
      "--fold-indices to map indices modulo the table size",
      bad.sample, bad.table, where, bad.value, bad.rows, path.string());
}

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kFeatureStream = 0;
constexpr uint64_t kLabelStream = 1;
constexpr uint64_t kBagStream = 2;  // + table

// splitmix64's finaliser: a bijection of 64-bit words with good avalanche.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

// A counter-based stream of draws for one (seed, sample, stream): record i's
// values never depend on any other record's, so chunks can be made in any
// order, by any number of threads.
class SampleStream {
 public:
  SampleStream(uint64_t seed, int64_t sample, uint64_t stream)
      : state_(mix64(mix64(seed + kGolden * (stream + 1)) ^ static_cast<uint64_t>(sample))) {}
  uint64_t next() {
    state_ += kGolden;
    return mix64(state_);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {  // Box-Muller
    double u1 = 1.0 - uniform();  // (0, 1]
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  uint64_t state_;
};

bool is_prime(uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

uint64_t next_prime(uint64_t n) {
  while (!is_prime(n)) ++n;
  return n;
}

constexpr double kNegativeShare = 0.02;  // Criteo's -1 values
constexpr double kDenseSigma = 1.2;

double zero_share(int f) { return 0.10 + 0.30 * ((f * 7) % 13) / 13.0; }
double dense_mu(int f, int features) { return 0.5 + 3.6 * f / std::max(1, features - 1); }

}  // namespace

SynthRecords::SynthRecords(const RecordLayout& layout, std::vector<int64_t> table_rows, uint64_t seed,
                           double zipf)
    : layout_(layout), seed_(seed), zipf_(zipf) {
  check_layout(layout);
  DLRM_CHECK(static_cast<int>(table_rows.size()) == layout.tables,
             "synthetic records need {} table sizes, got {}", layout.tables, table_rows.size());
  DLRM_CHECK(std::isfinite(zipf) && zipf >= 0, "--zipf must be a finite exponent >= 0 (0: uniform), got {}",
             zipf);
  for (int t = 0; t < layout.tables; ++t) {
    const int64_t rows = table_rows[t];
    DLRM_CHECK(rows > 0 && rows <= INT32_MAX, "table {} has {} rows; synthetic indices need 1 to {}", t, rows,
               INT32_MAX);
    Table table;
    table.rows = rows;
    // A prime above rows is coprime with it, so multiplying by it mod rows is a
    // bijection; near the golden ratio times rows it spreads neighbours apart.
    uint64_t prime = next_prime(static_cast<uint64_t>(static_cast<double>(rows) * 1.6180339887) + 1);
    table.multiplier = prime % static_cast<uint64_t>(rows);
    table.offset = mix64(seed ^ (kGolden * static_cast<uint64_t>(t + 1))) % static_cast<uint64_t>(rows);
    // CDF of x^-s on [1, R + 1): F(x) = ((x^(1-s)) - 1) / ((R+1)^(1-s) - 1); expm1/log1p
    // keep it accurate for s near 1, where it tends to log(x) / log(R + 1).
    const double log_end = std::log(static_cast<double>(rows) + 1.0);
    table.span = std::abs(1.0 - zipf) < 1e-12 ? log_end : std::expm1((1.0 - zipf) * log_end);
    tables_.push_back(table);
  }
}

int64_t SynthRecords::rank_of_uniform(int table, double u) const {
  const Table& tab = tables_[table];
  double x;
  if (std::abs(1.0 - zipf_) < 1e-12) {
    x = std::exp(u * tab.span);
  } else {
    x = std::exp(std::log1p(u * tab.span) / (1.0 - zipf_));
  }
  double rank = std::floor(x) - 1.0;
  return static_cast<int64_t>(std::clamp(rank, 0.0, static_cast<double>(tab.rows - 1)));
}

int64_t SynthRecords::index_of_rank(int table, int64_t rank) const {
  const Table& tab = tables_[table];
  // rank and multiplier are below 2^31, so the product fits 64 bits.
  return static_cast<int64_t>((static_cast<uint64_t>(rank) * tab.multiplier + tab.offset) %
                              static_cast<uint64_t>(tab.rows));
}

void SynthRecords::fill(int64_t begin, int64_t n, int32_t* dst) const {
  const int features = layout_.dense_features;
  const int num_tables = layout_.tables;
  const int ints = layout_.record_ints();
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; ++b) {
    SampleStream stream(seed_, begin + b, kFeatureStream);
    int32_t* rec = dst + b * ints;
    rec[0] = 0;
    for (int f = 0; f < features; ++f) {
      double u = stream.uniform();
      double z = stream.normal();  // drawn always, so each feature takes a fixed number of draws
      int32_t value;
      if (u < kNegativeShare) {
        value = -1;
      } else if (u < kNegativeShare + (1.0 - kNegativeShare) * zero_share(f)) {
        value = 0;
      } else {
        double count = std::floor(std::exp(dense_mu(f, features) + kDenseSigma * z));
        value = static_cast<int32_t>(std::min(count, static_cast<double>(INT32_MAX)));
      }
      rec[1 + f] = value;
    }
    for (int t = 0; t < num_tables; ++t) {
      rec[1 + features + t] = static_cast<int32_t>(index_of_rank(t, rank_of_uniform(t, stream.uniform())));
    }
  }
}

void SynthRecords::fill_multi_hot(int64_t begin, int64_t n, const std::vector<int>& hotness, float* dense,
                                  const std::vector<int32_t*>& bags) const {
  const int features = layout_.dense_features;
  const int num_tables = layout_.tables;
  DLRM_CHECK(static_cast<int>(hotness.size()) == num_tables && static_cast<int>(bags.size()) == num_tables,
             "synthetic multi-hot samples need {} hotness values and bag columns, got {} and {}", num_tables,
             hotness.size(), bags.size());
  constexpr int64_t kPart = 256;  // records drawn at a time for their dense counts
  const int ints = layout_.record_ints();
#pragma omp parallel for schedule(static)
  for (int64_t part = 0; part < n; part += kPart) {
    const int64_t m = std::min(kPart, n - part);
    std::vector<int32_t> records(static_cast<size_t>(m) * ints);
    fill(begin + part, m, records.data());
    for (int64_t b = part; b < part + m; ++b) {
      const int32_t* counts = records.data() + (b - part) * ints + 1;
      for (int f = 0; f < features; ++f) {
        dense[b * features + f] = static_cast<float>(std::log(static_cast<double>(counts[f]) + 3.0));
      }
      for (int t = 0; t < num_tables; ++t) {
        SampleStream stream(seed_, begin + b, kBagStream + static_cast<uint64_t>(t));
        int32_t* dst = bags[t] + b * hotness[t];
        for (int k = 0; k < hotness[t]; ++k) {
          dst[k] = static_cast<int32_t>(index_of_rank(t, rank_of_uniform(t, stream.uniform())));
        }
      }
    }
  }
}

double SynthRecords::label_uniform(int64_t sample) const {
  return SampleStream(seed_, sample, kLabelStream).uniform();
}

}  // namespace dlrm::datasets
