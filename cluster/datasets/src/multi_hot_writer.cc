#include "dlrm/datasets/multi_hot_writer.h"

#include <zlib.h>

#include <optional>
#include <string>

#include "dlrm/common/error.h"
#include "dlrm/common/npy.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/datasets/multi_hot.h"

namespace fs = std::filesystem;

namespace dlrm::datasets {

namespace {

void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v & 0xffff));
  put16(s, static_cast<uint16_t>(v >> 16));
}
void put64(std::string& s, uint64_t v) {
  put32(s, static_cast<uint32_t>(v & 0xffffffffu));
  put32(s, static_cast<uint32_t>(v >> 32));
}

constexpr uint16_t kVersion = 45;      // ZIP64
constexpr uint16_t kDosDate = 0x0021;  // 1980-01-01, time 00:00
constexpr uint16_t kPadId = 0xD935;    // padding extra block (as zipalign's)
constexpr uint64_t kAlign = 64;

// One entry of the archive: where it goes and its running CRC-32.
struct Entry {
  std::string name;    // "t.npy"
  std::string header;  // the .npy header
  uint64_t local = 0;  // offset of the local header
  uint64_t extra = 0;  // local extra field bytes (ZIP64 + padding)
  uint64_t size = 0;   // header + data
  uint64_t data_offset() const { return local + 30 + name.size() + extra + header.size(); }
  uint32_t crc = 0;
};

std::string local_header(const Entry& e) {
  std::string s;
  put32(s, 0x04034b50);
  put16(s, kVersion);
  put16(s, 0);  // flags
  put16(s, 0);  // stored
  put16(s, 0);
  put16(s, kDosDate);
  put32(s, e.crc);
  put32(s, 0xFFFFFFFFu);
  put32(s, 0xFFFFFFFFu);
  put16(s, static_cast<uint16_t>(e.name.size()));
  put16(s, static_cast<uint16_t>(e.extra));
  s += e.name;
  put16(s, 0x0001);
  put16(s, 16);
  put64(s, e.size);
  put64(s, e.size);
  put16(s, kPadId);
  put16(s, static_cast<uint16_t>(e.extra - 24));
  s.append(e.extra - 24, '\0');
  return s;
}

std::string central_header(const Entry& e) {
  std::string s;
  put32(s, 0x02014b50);
  put16(s, kVersion);
  put16(s, kVersion);
  put16(s, 0);
  put16(s, 0);
  put16(s, 0);
  put16(s, kDosDate);
  put32(s, e.crc);
  put32(s, 0xFFFFFFFFu);
  put32(s, 0xFFFFFFFFu);
  put16(s, static_cast<uint16_t>(e.name.size()));
  put16(s, 28);  // the ZIP64 field
  put16(s, 0);   // comment
  put16(s, 0);   // disk
  put16(s, 0);   // internal attributes
  put32(s, 0);   // external attributes
  put32(s, 0xFFFFFFFFu);
  s += e.name;
  put16(s, 0x0001);
  put16(s, 24);
  put64(s, e.size);
  put64(s, e.size);
  put64(s, e.local);
  return s;
}

// The ZIP64 end record, its locator and the end record, for `entries`
// entries whose directory of `bytes` starts at `offset`.
std::string end_records(uint64_t entries, uint64_t offset, uint64_t bytes) {
  std::string s;
  put32(s, 0x06064b50);
  put64(s, 44);
  put16(s, kVersion);
  put16(s, kVersion);
  put32(s, 0);
  put32(s, 0);
  put64(s, entries);
  put64(s, entries);
  put64(s, bytes);
  put64(s, offset);
  put32(s, 0x07064b50);
  put32(s, 0);
  put64(s, offset + bytes);  // the ZIP64 end record
  put32(s, 1);
  put32(s, 0x06054b50);
  put16(s, 0);
  put16(s, 0);
  put16(s, 0xFFFF);
  put16(s, 0xFFFF);
  put32(s, 0xFFFFFFFFu);
  put32(s, 0xFFFFFFFFu);
  put16(s, 0);
  return s;
}

fs::path prefix_of(const fs::path& out) {
  std::error_code ec;
  return fs::is_directory(out, ec) ? out / "day_0" : out;
}

}  // namespace

struct MultiHotWriter::State {
  fs::path prefix;
  MultiHotFiles files;
  int64_t samples = 0, written = 0;
  int dense_features = 0;
  std::vector<int> hotness;
  std::optional<StagedFile> dense, labels, sparse;
  std::vector<Entry> entries;
  uint64_t directory = 0;  // offset of the central directory
};

MultiHotWriter::MultiHotWriter(const fs::path& out, int64_t samples, int dense_features, std::vector<int> hotness)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  DLRM_CHECK(samples > 0 && dense_features >= 0 && !hotness.empty(),
             "multi-hot output {}: {} samples, {} dense features, {} tables; need at least one of each", out.string(),
             samples, dense_features, hotness.size());
  s.prefix = prefix_of(out);
  s.files = multi_hot_files(s.prefix);
  s.samples = samples;
  s.dense_features = dense_features;
  s.hotness = std::move(hotness);
  s.dense.emplace(s.files.dense);
  s.labels.emplace(s.files.labels);
  s.sparse.emplace(s.files.sparse);
  const std::string dense_header = npy_header_bytes("<f4", {samples, dense_features});
  s.dense->write(dense_header.data(), dense_header.size());
  const std::string label_header = npy_header_bytes("<i4", {samples, 1});
  s.labels->write(label_header.data(), label_header.size());
  // Every entry's place, its array 64-byte aligned.
  uint64_t at = 0;
  for (size_t t = 0; t < s.hotness.size(); ++t) {
    DLRM_CHECK(s.hotness[t] >= 1, "multi-hot output {}: table {} has hotness {}", out.string(), t, s.hotness[t]);
    Entry e;
    e.name = std::to_string(t) + ".npy";
    e.header = npy_header_bytes("<i4", {samples, s.hotness[t]});
    e.local = at;
    const uint64_t base = at + 30 + e.name.size() + 24;
    e.extra = 24 + (kAlign - base % kAlign) % kAlign;
    e.size = e.header.size() + static_cast<uint64_t>(samples) * static_cast<uint64_t>(s.hotness[t]) * 4;
    e.crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(e.header.data()),
                                        static_cast<uInt>(e.header.size())));
    s.sparse->pwrite(e.header.data(), e.header.size(), e.data_offset() - e.header.size());
    at = e.data_offset() - e.header.size() + e.size;
    s.entries.push_back(std::move(e));
  }
  s.directory = at;
}

MultiHotWriter::~MultiHotWriter() = default;

const fs::path& MultiHotWriter::prefix() const { return state_->prefix; }

void MultiHotWriter::write(int64_t n, const float* dense, const int32_t* labels,
                           const std::vector<const int32_t*>& bags) {
  State& s = *state_;
  DLRM_CHECK(n >= 0 && n <= s.samples - s.written && bags.size() == s.hotness.size(),
             "multi-hot output {}: {} more samples of {} tables written after {} of {} ({} tables)", s.prefix.string(),
             n, bags.size(), s.written, s.samples, s.hotness.size());
  s.dense->write(dense, sizeof(float) * static_cast<size_t>(n) * s.dense_features);
  s.labels->write(labels, sizeof(int32_t) * static_cast<size_t>(n));  // (n, 1) has the bytes of (n,)
  for (size_t t = 0; t < bags.size(); ++t) {
    Entry& e = s.entries[t];
    const size_t bytes = sizeof(int32_t) * static_cast<size_t>(n) * s.hotness[t];
    const uint64_t offset = e.data_offset() + static_cast<uint64_t>(s.written) * s.hotness[t] * 4;
    s.sparse->pwrite(bags[t], bytes, offset);
    e.crc = static_cast<uint32_t>(crc32_z(e.crc, reinterpret_cast<const Bytef*>(bags[t]), bytes));
  }
  s.written += n;
}

void MultiHotWriter::commit() {
  State& s = *state_;
  DLRM_CHECK(s.written == s.samples, "multi-hot output {}: {} of {} samples written", s.prefix.string(), s.written,
             s.samples);
  std::string directory;
  for (const Entry& e : s.entries) {
    const std::string local = local_header(e);
    s.sparse->pwrite(local.data(), local.size(), e.local);
    directory += central_header(e);
  }
  const std::string tail = directory + end_records(s.entries.size(), s.directory, directory.size());
  s.sparse->pwrite(tail.data(), tail.size(), s.directory);
  // All three or none: a failed rename removes those already in place.
  std::vector<fs::path> done;
  try {
    for (auto* f : {&s.dense, &s.labels, &s.sparse}) {
      (*f)->commit();
      done.push_back((*f)->path());
    }
  } catch (...) {
    std::error_code ec;
    for (const fs::path& p : done) fs::remove(p, ec);
    throw;
  }
}

}  // namespace dlrm::datasets
