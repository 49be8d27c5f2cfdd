#include "dlrm/cluster/npz.h"

#include <spdlog/spdlog.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "dlrm/common/error.h"
#include "dlrm/common/staged_output.h"

namespace fs = std::filesystem;

namespace dlrm::cluster {

namespace {

std::string zip_message(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string s = zip_error_strerror(&error);
  zip_error_fini(&error);
  return s;
}

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;

struct EntryCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using EntryPtr = std::unique_ptr<zip_file_t, EntryCloser>;

ZipPtr open_zip(const fs::path& path) {
  std::error_code ec;
  DLRM_CHECK(fs::is_regular_file(path, ec), "{} does not exist or is not a file", path.string());
  int code = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  DLRM_CHECK(z != nullptr, "{}: not a readable .npz (zip) archive ({}); it is truncated or damaged", path.string(),
             zip_message(code));
  return ZipPtr(z);
}

// Reads exactly `bytes` from an open member or throws naming it.
void read_member(zip_file_t* f, void* dst, uint64_t bytes, const fs::path& path, const std::string& member) {
  auto* out = static_cast<uint8_t*>(dst);
  while (bytes > 0) {
    zip_int64_t got = zip_fread(f, out, bytes);
    DLRM_CHECK(got > 0, "{}: cannot read member {} ({}); the archive is truncated or damaged", path.string(), member,
               got < 0 ? std::string(zip_file_strerror(f)) : std::string("unexpected end"));
    out += got;
    bytes -= static_cast<uint64_t>(got);
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

struct NpzFile::Member {
  std::string name;    // array name
  std::string entry;   // "name.npy"
  zip_uint64_t index = 0;
  bool stored = false;  // not compressed: zip_fseek works on it
  NpyHeader header;
};

NpzFile::NpzFile(NpzFile&&) noexcept = default;
NpzFile& NpzFile::operator=(NpzFile&&) noexcept = default;
NpzFile::~NpzFile() = default;

NpzFile NpzFile::open(const fs::path& path) {
  NpzFile npz;
  npz.path_ = path;
  ZipPtr zip = open_zip(path);
  const zip_int64_t entries = zip_get_num_entries(zip.get(), 0);
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) continue;
    std::string entry = st.name;
    if (entry.size() < 4 || entry.compare(entry.size() - 4, 4, ".npy") != 0) continue;
    const std::string where = fmt::format("{} member {}", path.string(), entry);
    EntryPtr f(zip_fopen_index(zip.get(), st.index, 0));
    DLRM_CHECK(f != nullptr, "{}: cannot open member {}: {}", path.string(), entry, zip_strerror(zip.get()));
    // Magic, version and header length first, then the header itself.
    DLRM_CHECK(st.size >= 10, "{} is not a .npy array ({} bytes)", where, st.size);
    std::string head(10, '\0');
    read_member(f.get(), head.data(), head.size(), path, entry);
    DLRM_CHECK(std::memcmp(head.data(), "\x93NUMPY", 6) == 0, "{} is not a .npy array (bad magic)", where);
    uint64_t header_len = 0, prefix = 10;
    if (head[6] == 1) {
      header_len = static_cast<uint8_t>(head[8]) | (static_cast<uint64_t>(static_cast<uint8_t>(head[9])) << 8);
    } else {
      DLRM_CHECK(st.size >= 12, "{} is truncated inside its .npy header", where);
      head.resize(12);
      read_member(f.get(), head.data() + 10, 2, path, entry);
      uint32_t len;
      std::memcpy(&len, head.data() + 8, 4);
      header_len = len;
      prefix = 12;
    }
    DLRM_CHECK(prefix + header_len <= st.size && header_len <= (1u << 20), "{} is truncated inside its .npy header",
               where);
    head.resize(prefix + header_len);
    read_member(f.get(), head.data() + prefix, header_len, path, entry);
    Member m;
    m.entry = entry;
    m.name = entry.substr(0, entry.size() - 4);
    m.index = st.index;
    m.stored = (st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method == ZIP_CM_STORE;
    m.header = parse_npy_header(head, where, st.size - prefix - header_len);
    npz.members_.push_back(std::move(m));
  }
  return npz;
}

std::vector<std::string> NpzFile::names() const {
  std::vector<std::string> out;
  for (const Member& m : members_) out.push_back(m.name);
  return out;
}

bool NpzFile::has(const std::string& name) const {
  return std::any_of(members_.begin(), members_.end(), [&](const Member& m) { return m.name == name; });
}

const NpyHeader& NpzFile::header(const std::string& name) const {
  for (const Member& m : members_) {
    if (m.name == name) return m.header;
  }
  std::vector<std::string> found = names();
  DLRM_FAIL("{}: no array '{}' (found: {})", path_.string(), name, found.empty() ? "none" : fmt::format("{}", fmt::join(found, ", ")));
}

std::vector<uint8_t> NpzFile::read_raw(const std::string& name, int64_t first, int64_t count) const {
  const Member* member = nullptr;
  for (const Member& m : members_) {
    if (m.name == name) member = &m;
  }
  if (!member) header(name);  // throws the listing error
  const NpyHeader& h = member->header;
  DLRM_CHECK(first >= 0 && count >= 0 && first + count <= h.count(),
             "{}: elements [{}, {}) of array '{}' asked for, but it has {}", path_.string(), first, first + count, name,
             h.count());
  ZipPtr zip = open_zip(path_);
  EntryPtr f(zip_fopen_index(zip.get(), member->index, 0));
  DLRM_CHECK(f != nullptr, "{}: cannot open member {}: {}", path_.string(), member->entry, zip_strerror(zip.get()));
  const uint64_t skip = h.data_offset + static_cast<uint64_t>(first) * h.item_bytes;
  // A stored member seeks; a deflated one is read up to the start (a failed
  // zip_fseek would leave the member in an error state, so it is not tried).
  if (member->stored) {
    DLRM_CHECK(zip_fseek(f.get(), static_cast<zip_int64_t>(skip), SEEK_SET) == 0, "{}: cannot seek in member {} ({})",
               path_.string(), member->entry, zip_file_strerror(f.get()));
  } else {
    std::vector<uint8_t> discard(std::min<uint64_t>(skip, 1 << 20));
    for (uint64_t left = skip; left > 0;) {
      const uint64_t n = std::min<uint64_t>(left, discard.size());
      read_member(f.get(), discard.data(), n, path_, member->entry);
      left -= n;
    }
  }
  std::vector<uint8_t> data(static_cast<size_t>(count) * h.item_bytes);
  read_member(f.get(), data.data(), data.size(), path_, member->entry);
  return data;
}

namespace {
// [first, first + count) of an array of `total` elements; count < 0: to the end.
int64_t range_count(int64_t first, int64_t count, int64_t total) { return count < 0 ? total - first : count; }
}  // namespace

std::vector<int64_t> NpzFile::read_ints(const std::string& name, int64_t first, int64_t count) const {
  const NpyHeader& h = header(name);
  DLRM_CHECK(h.kind == 'i' || h.kind == 'u' || h.kind == 'b', "{}: array '{}' holds '{}' values; expected integers",
             path_.string(), name, h.descr);
  count = range_count(first, count, h.count());
  const std::vector<uint8_t> raw = read_raw(name, first, count);
  std::vector<int64_t> out(static_cast<size_t>(count));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = raw.data() + i * h.item_bytes;
    switch (h.item_bytes) {
      case 1: out[i] = h.kind == 'i' ? static_cast<int64_t>(static_cast<int8_t>(*p)) : *p; break;
      case 2: {
        uint16_t v;
        std::memcpy(&v, p, 2);
        out[i] = h.kind == 'i' ? static_cast<int64_t>(static_cast<int16_t>(v)) : v;
        break;
      }
      case 4: {
        uint32_t v;
        std::memcpy(&v, p, 4);
        out[i] = h.kind == 'i' ? static_cast<int64_t>(static_cast<int32_t>(v)) : v;
        break;
      }
      default: {
        uint64_t v;
        std::memcpy(&v, p, 8);
        DLRM_CHECK(h.kind == 'i' || v <= static_cast<uint64_t>(INT64_MAX), "{}: array '{}' element {} = {} does not fit int64",
                   path_.string(), name, first + static_cast<int64_t>(i), v);
        out[i] = static_cast<int64_t>(v);
      }
    }
  }
  return out;
}

std::vector<double> NpzFile::read_floats(const std::string& name, int64_t first, int64_t count) const {
  const NpyHeader& h = header(name);
  DLRM_CHECK(h.kind == 'f' && (h.item_bytes == 4 || h.item_bytes == 8),
             "{}: array '{}' holds '{}' values; expected float32 or float64", path_.string(), name, h.descr);
  count = range_count(first, count, h.count());
  const std::vector<uint8_t> raw = read_raw(name, first, count);
  std::vector<double> out(static_cast<size_t>(count));
  for (size_t i = 0; i < out.size(); ++i) {
    if (h.item_bytes == 4) {
      float v;
      std::memcpy(&v, raw.data() + 4 * i, 4);
      out[i] = v;
    } else {
      std::memcpy(&out[i], raw.data() + 8 * i, 8);
    }
  }
  return out;
}

Dataset NpzDataset::view() const { return Dataset::part_of(records.data(), first, count, samples, layout, path); }

bool is_npz(const fs::path& path) { return lower(path.extension().string()) == ".npz"; }

namespace {

constexpr const char* kExpected =
    "accuracy data needs arrays dense [N, F] (raw integer counts), sparse [N, T] (indices), labels [N] (0/1) and "
    "optionally reference [N] (predictions)";

// Integer values of elements [first, first + count) of array `name`, whatever
// its numeric dtype (floats must hold integers).
std::vector<int64_t> integral(const NpzFile& npz, const std::string& name, int64_t first, int64_t count,
                              const char* meaning) {
  const NpyHeader& h = npz.header(name);
  if (h.kind != 'f') return npz.read_ints(name, first, count);
  std::vector<double> values = npz.read_floats(name, first, count);
  std::vector<int64_t> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    DLRM_CHECK(std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.2e18,
               "{}: array '{}' element {} is {}, not an integer; it must hold {}", npz.path().string(), name,
               first + static_cast<int64_t>(i), v, meaning);
    out[i] = static_cast<int64_t>(v);
  }
  return out;
}

void check_shape(const NpzFile& npz, const std::string& name, const std::vector<int64_t>& expect,
                 const std::string& what) {
  const NpyHeader& h = npz.header(name);
  DLRM_CHECK(h.shape == expect, "{}: array '{}' has shape {} but {} was expected ({})", npz.path().string(), name,
             h.shape_str(), fmt::format("({})", fmt::join(expect, ", ")), what);
}

void check_arrays_present(const NpzFile& npz) {
  std::vector<std::string> missing;
  for (const char* name : {"dense", "sparse", "labels"}) {
    if (!npz.has(name)) missing.push_back(name);
  }
  if (!missing.empty()) {
    std::vector<std::string> found = npz.names();
    DLRM_FAIL("{}: missing array{} {} (found: {}); {}", npz.path().string(), missing.size() == 1 ? "" : "s",
              fmt::join(missing, ", "), found.empty() ? "none" : fmt::format("{}", fmt::join(found, ", ")), kExpected);
  }
}

}  // namespace

namespace {

// N, after the presence and shape checks.
int64_t checked_samples(const NpzFile& npz, const RecordLayout& layout) {
  check_arrays_present(npz);
  const fs::path& path = npz.path();
  const NpyHeader& dense_h = npz.header("dense");
  DLRM_CHECK(dense_h.shape.size() == 2 && dense_h.shape[0] > 0,
             "{}: array 'dense' has shape {}; expected [N, {}] with N > 0 samples", path.string(), dense_h.shape_str(),
             layout.dense_features);
  const int64_t n = dense_h.shape[0];
  check_shape(npz, "dense", {n, layout.dense_features}, fmt::format("{} dense features per sample", layout.dense_features));
  check_shape(npz, "sparse", {n, layout.tables}, fmt::format("one index for each of the model's {} tables", layout.tables));
  check_shape(npz, "labels", {n}, "one label per sample");
  if (npz.has("reference")) {
    const NpyHeader& h = npz.header("reference");
    DLRM_CHECK(h.shape == std::vector<int64_t>{n} || h.shape == std::vector<int64_t>({n, 1}),
               "{}: array 'reference' has shape {} but ({},) was expected (one prediction per sample)", path.string(),
               h.shape_str(), n);
  }
  return n;
}

}  // namespace

int64_t npz_samples(const fs::path& path, const RecordLayout& layout) {
  return checked_samples(NpzFile::open(path), layout);
}

NpzDataset read_npz_dataset(const fs::path& path, const RecordLayout& layout, int64_t first, int64_t count) {
  NpzFile npz = NpzFile::open(path);
  const int64_t n = checked_samples(npz, layout);
  if (count < 0) count = n - first;
  DLRM_CHECK(first >= 0 && count >= 0 && first + count <= n, "{}: samples [{}, {}) asked for, but it holds {}",
             path.string(), first, first + count, n);

  NpzDataset data;
  data.path = path;
  data.layout = layout;
  data.samples = n;
  data.first = first;
  data.count = count;
  const int ri = layout.record_ints();
  const int F = layout.dense_features, T = layout.tables;
  data.records.assign(static_cast<size_t>(count) * ri, 0);
  {
    std::vector<int64_t> labels = integral(npz, "labels", first, count, "0 or 1");
    for (int64_t i = 0; i < count; ++i) {
      DLRM_CHECK(labels[i] == 0 || labels[i] == 1, "{}: labels[{}] = {}; labels must be 0 or 1", path.string(),
                 first + i, labels[i]);
      data.records[i * ri] = static_cast<int32_t>(labels[i]);
    }
  }
  {
    std::vector<int64_t> dense =
        integral(npz, "dense", first * F, count * F, "raw integer counts (dlrm-cluster applies log(x+1))");
    for (int64_t i = 0; i < count; ++i) {
      for (int f = 0; f < F; ++f) {
        const int64_t v = dense[i * F + f];
        DLRM_CHECK(v >= INT32_MIN && v <= INT32_MAX, "{}: dense[{}, {}] = {} does not fit int32", path.string(),
                   first + i, f, v);
        data.records[i * ri + 1 + f] = static_cast<int32_t>(v);
      }
    }
  }
  {
    DLRM_CHECK(npz.header("sparse").kind != 'f', "{}: array 'sparse' holds '{}' values; indices must be integers",
               path.string(), npz.header("sparse").descr);
    std::vector<int64_t> sparse = npz.read_ints("sparse", first * T, count * T);
    for (int64_t i = 0; i < count; ++i) {
      for (int t = 0; t < T; ++t) {
        const int64_t v = sparse[i * T + t];
        DLRM_CHECK(v >= 0 && v <= INT32_MAX, "{}: sparse[{}, {}] = {} is not an index in [0, 2^31)", path.string(),
                   first + i, t, v);
        data.records[i * ri + 1 + F + t] = static_cast<int32_t>(v);
      }
    }
  }
  if (npz.has("reference")) {
    std::vector<double> ref = npz.read_floats("reference", first, count);
    data.reference.assign(ref.begin(), ref.end());
  }
  return data;
}

std::vector<float> read_reference_predictions(const fs::path& path) {
  if (!is_npz(path)) return read_npy_f32(path);
  NpzFile npz = NpzFile::open(path);
  DLRM_CHECK(npz.has("reference"), "{}: no array 'reference' (found: {}); {}", path.string(),
             fmt::join(npz.names(), ", "), kExpected);
  std::vector<double> ref = npz.read_floats("reference");
  const NpyHeader& h = npz.header("reference");
  DLRM_CHECK(h.shape.size() == 1 || (h.shape.size() == 2 && h.shape[1] == 1),
             "{}: array 'reference' has shape {}; expected (N,)", path.string(), h.shape_str());
  return std::vector<float>(ref.begin(), ref.end());
}

void convert_npz(const fs::path& npz_path, const fs::path& out, const fs::path& reference_out) {
  NpzFile npz = NpzFile::open(npz_path);
  check_arrays_present(npz);
  RecordLayout layout;
  for (const char* name : {"dense", "sparse"}) {
    const NpyHeader& h = npz.header(name);
    DLRM_CHECK(h.shape.size() == 2 && h.shape[1] > 0 && h.shape[1] < 4096, "{}: array '{}' has shape {}; expected [N, {}]",
               npz_path.string(), name, h.shape_str(), std::string(name) == "dense" ? "F" : "T");
  }
  layout.dense_features = static_cast<int>(npz.header("dense").shape[1]);
  layout.tables = static_cast<int>(npz.header("sparse").shape[1]);
  NpzDataset data = read_npz_dataset(npz_path, layout);
  DLRM_CHECK(reference_out.empty() || !data.reference.empty(),
             "{}: no array 'reference' to write to {}; drop --reference-out or add the predictions", npz_path.string(),
             reference_out.string());
  StagedFile bin(out);
  bin.write(data.records.data(), data.records.size() * sizeof(int32_t));
  if (!reference_out.empty()) write_npy_f32(reference_out, data.reference.data(), {data.samples});
  bin.commit();
  spdlog::info("wrote {}: {} samples of {} bytes ({} dense, {} tables){}", out.string(), data.samples,
               layout.record_bytes(), layout.dense_features, layout.tables,
               reference_out.empty() ? "" : fmt::format("; reference predictions to {}", reference_out.string()));
}

}  // namespace dlrm::cluster
