#include "dlrm/datasets/npz.h"

#include <spdlog/spdlog.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>

#include "dlrm/common/error.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/common/zip.h"

namespace fs = std::filesystem;

namespace dlrm::datasets {

namespace {

using dlrm::zip_message;

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
  zip_read_exact(f, dst, bytes, path, [&] { return "member " + member; });
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

const NpzFile::Member& NpzFile::member(const std::string& name) const {
  for (const Member& m : members_) {
    if (m.name == name) return m;
  }
  header(name);  // throws the listing error
  std::abort();
}

struct NpzFile::Reader::State {
  fs::path path;
  std::string name, entry;
  NpyHeader header;
  ZipPtr zip;
  EntryPtr file;
  int64_t position = 0;
};

NpzFile::Reader::Reader(std::unique_ptr<State> state) : state_(std::move(state)) {}
NpzFile::Reader::Reader(Reader&&) noexcept = default;
NpzFile::Reader& NpzFile::Reader::operator=(Reader&&) noexcept = default;
NpzFile::Reader::~Reader() = default;
const NpyHeader& NpzFile::Reader::header() const { return state_->header; }
const std::string& NpzFile::Reader::name() const { return state_->name; }
int64_t NpzFile::Reader::position() const { return state_->position; }

NpzFile::Reader NpzFile::reader(const std::string& name, int64_t first) const {
  const Member& m = member(name);
  const NpyHeader& h = m.header;
  DLRM_CHECK(first >= 0 && first <= h.count(), "{}: element {} of array '{}' asked for, but it has {}",
             path_.string(), first, name, h.count());
  auto state = std::make_unique<Reader::State>();
  state->path = path_;
  state->name = name;
  state->entry = m.entry;
  state->header = h;
  state->zip = open_zip(path_);
  state->file.reset(zip_fopen_index(state->zip.get(), m.index, 0));
  DLRM_CHECK(state->file != nullptr, "{}: cannot open member {}: {}", path_.string(), m.entry,
             zip_strerror(state->zip.get()));
  const uint64_t skip = h.data_offset + static_cast<uint64_t>(first) * h.item_bytes;
  // A stored member seeks; a deflated one is read up to the start (a failed
  // zip_fseek would leave the member in an error state, so it is not tried).
  if (m.stored) {
    DLRM_CHECK(zip_fseek(state->file.get(), static_cast<zip_int64_t>(skip), SEEK_SET) == 0,
               "{}: cannot seek in member {} ({})", path_.string(), m.entry, zip_file_strerror(state->file.get()));
  } else {
    std::vector<uint8_t> discard(std::min<uint64_t>(skip, 1 << 20));
    for (uint64_t left = skip; left > 0;) {
      const uint64_t n = std::min<uint64_t>(left, discard.size());
      read_member(state->file.get(), discard.data(), n, path_, m.entry);
      left -= n;
    }
  }
  state->position = first;
  return Reader(std::move(state));
}

std::vector<uint8_t> NpzFile::Reader::raw(int64_t count) {
  State& st = *state_;
  DLRM_CHECK(count >= 0 && st.position + count <= st.header.count(),
             "{}: elements [{}, {}) of array '{}' asked for, but it has {}", st.path.string(), st.position,
             st.position + count, st.name, st.header.count());
  std::vector<uint8_t> data(static_cast<size_t>(count) * st.header.item_bytes);
  read_member(st.file.get(), data.data(), data.size(), st.path, st.entry);
  st.position += count;
  return data;
}

std::vector<int64_t> NpzFile::Reader::ints(int64_t count) {
  const NpyHeader& h = state_->header;
  DLRM_CHECK(h.kind == 'i' || h.kind == 'u' || h.kind == 'b', "{}: array '{}' holds '{}' values; expected integers",
             state_->path.string(), state_->name, h.descr);
  const int64_t first = state_->position;
  const std::vector<uint8_t> bytes = raw(count);
  std::vector<int64_t> out(static_cast<size_t>(count));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = bytes.data() + i * h.item_bytes;
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
        DLRM_CHECK(h.kind == 'i' || v <= static_cast<uint64_t>(INT64_MAX),
                   "{}: array '{}' element {} = {} does not fit int64", state_->path.string(), state_->name,
                   first + static_cast<int64_t>(i), v);
        out[i] = static_cast<int64_t>(v);
      }
    }
  }
  return out;
}

std::vector<double> NpzFile::Reader::floats(int64_t count) {
  const NpyHeader& h = state_->header;
  DLRM_CHECK(h.kind == 'f' && (h.item_bytes == 4 || h.item_bytes == 8),
             "{}: array '{}' holds '{}' values; expected float32 or float64", state_->path.string(), state_->name,
             h.descr);
  const std::vector<uint8_t> bytes = raw(count);
  std::vector<double> out(static_cast<size_t>(count));
  for (size_t i = 0; i < out.size(); ++i) {
    if (h.item_bytes == 4) {
      float v;
      std::memcpy(&v, bytes.data() + 4 * i, 4);
      out[i] = v;
    } else {
      std::memcpy(&out[i], bytes.data() + 8 * i, 8);
    }
  }
  return out;
}

std::vector<int64_t> NpzFile::read_ints(const std::string& name, int64_t first, int64_t count) const {
  Reader r = reader(name, first);
  return r.ints(count < 0 ? r.header().count() - first : count);
}

std::vector<double> NpzFile::read_floats(const std::string& name, int64_t first, int64_t count) const {
  Reader r = reader(name, first);
  return r.floats(count < 0 ? r.header().count() - first : count);
}

Dataset NpzDataset::view() const { return Dataset::part_of(records.data(), first, count, samples, layout, path); }

bool is_npz(const fs::path& path) { return lower(path.extension().string()) == ".npz"; }

int64_t data_samples(const fs::path& path, const RecordLayout& layout) {
  return is_npz(path) ? npz_samples(path, layout) : Dataset::open(path, layout).samples();
}

namespace {

constexpr const char* kExpected =
    "accuracy data needs arrays dense [N, F] (raw integer counts), sparse [N, T] (indices), labels [N] (0/1) and "
    "optionally reference [N] (predictions)";

// The next `count` values of a reader as integers, whatever the array's
// numeric dtype (floats must hold integers).
std::vector<int64_t> integral(NpzFile::Reader& in, const fs::path& path, int64_t count, const char* meaning) {
  if (in.header().kind != 'f') return in.ints(count);
  const int64_t first = in.position();
  std::vector<double> values = in.floats(count);
  std::vector<int64_t> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    DLRM_CHECK(std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.2e18,
               "{}: array '{}' element {} is {}, not an integer; it must hold {}", path.string(), in.name(),
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

namespace {

// Converts samples [first, first + count) of checked accuracy data `part`
// samples at a time, straight from the archive (no whole-array temporaries),
// and hands each part on: got(records of m samples, their m reference
// predictions or none).
void for_each_part(const NpzFile& npz, const RecordLayout& layout, int64_t first, int64_t count, int64_t part,
                   const std::function<void(const std::vector<int32_t>&, const std::vector<float>&)>& got) {
  const fs::path& path = npz.path();
  DLRM_CHECK(part > 0, "{}: parts of {} samples asked for; give a positive count", path.string(), part);
  const int ri = layout.record_ints();
  const int F = layout.dense_features, T = layout.tables;
  DLRM_CHECK(npz.header("sparse").kind != 'f', "{}: array 'sparse' holds '{}' values; indices must be integers",
             path.string(), npz.header("sparse").descr);
  NpzFile::Reader labels = npz.reader("labels", first);
  NpzFile::Reader dense = npz.reader("dense", first * F);
  NpzFile::Reader sparse = npz.reader("sparse", first * T);
  std::optional<NpzFile::Reader> reference;
  if (npz.has("reference")) reference.emplace(npz.reader("reference", first));
  std::vector<int32_t> records;
  std::vector<float> ref;
  for (int64_t done = 0; done < count; done += part) {
    const int64_t m = std::min(part, count - done);
    const int64_t sample0 = first + done;
    records.assign(static_cast<size_t>(m) * ri, 0);
    std::vector<int64_t> values = integral(labels, path, m, "0 or 1");
    for (int64_t i = 0; i < m; ++i) {
      DLRM_CHECK(values[i] == 0 || values[i] == 1, "{}: labels[{}] = {}; labels must be 0 or 1", path.string(),
                 sample0 + i, values[i]);
      records[i * ri] = static_cast<int32_t>(values[i]);
    }
    values = integral(dense, path, m * F, "raw integer counts (dlrm-cluster applies log(x+1))");
    for (int64_t i = 0; i < m; ++i) {
      for (int f = 0; f < F; ++f) {
        const int64_t v = values[i * F + f];
        DLRM_CHECK(v >= INT32_MIN && v <= INT32_MAX, "{}: dense[{}, {}] = {} does not fit int32", path.string(),
                   sample0 + i, f, v);
        records[i * ri + 1 + f] = static_cast<int32_t>(v);
      }
    }
    values = sparse.ints(m * T);
    for (int64_t i = 0; i < m; ++i) {
      for (int t = 0; t < T; ++t) {
        const int64_t v = values[i * T + t];
        DLRM_CHECK(v >= 0 && v <= INT32_MAX, "{}: sparse[{}, {}] = {} is not an index in [0, 2^31)", path.string(),
                   sample0 + i, t, v);
        records[i * ri + 1 + F + t] = static_cast<int32_t>(v);
      }
    }
    ref.clear();
    if (reference) {
      for (double v : reference->floats(m)) ref.push_back(static_cast<float>(v));
    }
    got(records, ref);
  }
}

}  // namespace

NpzDataset read_npz_dataset(const fs::path& path, const RecordLayout& layout, int64_t first, int64_t count,
                            int64_t part_samples) {
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
  data.records.reserve(static_cast<size_t>(count) * layout.record_ints());
  if (npz.has("reference")) data.reference.reserve(static_cast<size_t>(count));
  for_each_part(npz, layout, first, count, part_samples,
                [&](const std::vector<int32_t>& records, const std::vector<float>& reference) {
                  data.records.insert(data.records.end(), records.begin(), records.end());
                  data.reference.insert(data.reference.end(), reference.begin(), reference.end());
                });
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
  const int64_t n = checked_samples(npz, layout);
  DLRM_CHECK(reference_out.empty() || npz.has("reference"),
             "{}: no array 'reference' to write to {}; drop --reference-out or add the predictions", npz_path.string(),
             reference_out.string());
  // Records go to the file a part at a time; only the reference (4 bytes a
  // sample) is gathered whole, for its .npy.
  StagedFile bin(out);
  std::vector<float> reference;
  for_each_part(npz, layout, 0, n, int64_t{1} << 16, [&](const std::vector<int32_t>& records, const std::vector<float>& ref) {
    bin.write(records.data(), records.size() * sizeof(int32_t));
    if (!reference_out.empty()) reference.insert(reference.end(), ref.begin(), ref.end());
  });
  if (!reference_out.empty()) write_npy_f32(reference_out, reference.data(), {n});
  bin.commit();
  spdlog::info("wrote {}: {} samples of {} bytes ({} dense, {} tables){}", out.string(), n,
               layout.record_bytes(), layout.dense_features, layout.tables,
               reference_out.empty() ? "" : fmt::format("; reference predictions to {}", reference_out.string()));
}

}  // namespace dlrm::datasets
