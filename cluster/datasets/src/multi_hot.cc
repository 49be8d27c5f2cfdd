#include "dlrm/datasets/multi_hot.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/npy.h"

namespace fs = std::filesystem;

namespace dlrm::datasets {

namespace {

constexpr const char* kDenseSuffix = "_dense.npy";
constexpr const char* kSparseSuffix = "_sparse_multi_hot.npz";
constexpr const char* kLabelsSuffix = "_labels.npy";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

MultiHotFiles multi_hot_files(const fs::path& prefix) {
  const std::string p = prefix.string();
  return MultiHotFiles{p + kDenseSuffix, p + kSparseSuffix, p + kLabelsSuffix};
}

bool is_multi_hot(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return true;
  const std::string name = path.filename().string();
  if (ends_with(name, kDenseSuffix) || ends_with(name, kSparseSuffix) || ends_with(name, kLabelsSuffix)) return true;
  return !path.empty() && fs::exists(multi_hot_files(path).dense, ec);
}

namespace {

// The prefix of the one day_*_dense.npy in `dir`, or an error listing what is there.
fs::path prefix_in_directory(const fs::path& dir) {
  std::vector<std::string> days, others;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    (ends_with(name, kDenseSuffix) && name.rfind("day_", 0) == 0 ? days : others).push_back(name);
  }
  DLRM_CHECK(!ec, "cannot list data directory {}: {}", dir.string(), ec.message());
  std::sort(days.begin(), days.end());
  std::sort(others.begin(), others.end());
  if (others.size() > 12) others.resize(12), others.push_back("...");
  DLRM_CHECK(!days.empty(),
             "data directory {} holds no day_N_dense.npy (it holds: {}); multi-hot data is day_N_dense.npy, "
             "day_N_sparse_multi_hot.npz and day_N_labels.npy, or give a data file",
             dir.string(), others.empty() ? "nothing" : fmt::format("{}", fmt::join(others, ", ")));
  DLRM_CHECK(days.size() == 1,
             "data directory {} holds {} days of multi-hot data ({}); pass one as a prefix, e.g. --data {}",
             dir.string(), days.size(), fmt::join(days, ", "),
             (dir / days[0].substr(0, days[0].size() - std::strlen(kDenseSuffix))).string());
  return dir / days[0].substr(0, days[0].size() - std::strlen(kDenseSuffix));
}

}  // namespace

MultiHotFiles find_multi_hot_files(const fs::path& path) {
  std::error_code ec;
  fs::path prefix = path;
  const std::string name = path.filename().string();
  if (fs::is_directory(path, ec)) {
    prefix = prefix_in_directory(path);
  } else {
    for (const char* suffix : {kDenseSuffix, kSparseSuffix, kLabelsSuffix}) {
      if (ends_with(name, suffix)) {
        prefix = path.parent_path() / name.substr(0, name.size() - std::strlen(suffix));
        break;
      }
    }
  }
  MultiHotFiles files = multi_hot_files(prefix);
  std::vector<std::string> missing;
  for (const fs::path* f : {&files.dense, &files.sparse, &files.labels}) {
    if (!fs::is_regular_file(*f, ec)) missing.push_back(f->string());
  }
  DLRM_CHECK(missing.empty(),
             "multi-hot data {}: missing {} (it needs {}_dense.npy, {}_sparse_multi_hot.npz and {}_labels.npy)",
             path.string(), fmt::join(missing, ", "), prefix.filename().string(), prefix.filename().string(),
             prefix.filename().string());
  return files;
}

namespace {

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) { return u16(p) | (static_cast<uint32_t>(u16(p + 2)) << 16); }
uint64_t u64(const uint8_t* p) { return u32(p) | (static_cast<uint64_t>(u32(p + 4)) << 32); }

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;

struct CentralDirectory {
  uint64_t entries = 0, offset = 0, bytes = 0;
};

CentralDirectory find_central_directory(const uint8_t* bytes, uint64_t size, const fs::path& path) {
  DLRM_CHECK(size >= 22, "{}: {} bytes, too short for a zip archive; it is truncated or not an .npz", path.string(),
             size);
  uint64_t end = size - 22;
  const uint64_t lowest = size - 22 > 65535 ? size - 22 - 65535 : 0;
  while (u32(bytes + end) != kEndSig || end + 22 + u16(bytes + end + 20) != size) {
    DLRM_CHECK(end > lowest, "{}: no zip end-of-central-directory record; it is truncated or not an .npz",
               path.string());
    --end;
  }
  CentralDirectory cd{u16(bytes + end + 10), u32(bytes + end + 16), u32(bytes + end + 12)};
  if (end >= 20 && u32(bytes + end - 20) == kLocator64Sig) {
    const uint64_t at = u64(bytes + end - 12);
    DLRM_CHECK(at <= end - 20 && end - 20 - at >= 56 && u32(bytes + at) == kEnd64Sig,
               "{}: its ZIP64 end record is damaged (offset {})", path.string(), at);
    cd = CentralDirectory{u64(bytes + at + 32), u64(bytes + at + 48), u64(bytes + at + 40)};
  }
  DLRM_CHECK(cd.offset <= size && cd.bytes <= size - cd.offset && cd.entries <= cd.bytes / 46,
             "{}: its central directory ({} entries, {} bytes at {}) does not fit the {}-byte file; it is truncated",
             path.string(), cd.entries, cd.bytes, cd.offset, size);
  return cd;
}

// Replaces the 0xFFFFFFFF sizes and offset of a central header by those of
// its ZIP64 extra field (0x0001), in the order the format gives them.
void apply_zip64(const uint8_t* extra, uint64_t extra_len, StoredEntry& e, uint64_t& local, const fs::path& path) {
  for (uint64_t at = 0; at + 4 <= extra_len;) {
    const uint16_t id = u16(extra + at), len = u16(extra + at + 2);
    DLRM_CHECK(at + 4 + len <= extra_len, "{}: entry {} has a damaged extra field", path.string(), e.name);
    if (id == 0x0001) {
      uint64_t k = at + 4;
      for (uint64_t* v : {&e.size, &e.bytes, &local}) {
        if (*v != 0xFFFFFFFFu) continue;
        DLRM_CHECK(k + 8 <= at + 4 + len, "{}: entry {} has a short ZIP64 field", path.string(), e.name);
        *v = u64(extra + k);
        k += 8;
      }
    }
    at += 4 + len;
  }
}

}  // namespace

std::vector<StoredEntry> zip_entries(const uint8_t* bytes, uint64_t size, const fs::path& path) {
  const CentralDirectory cd = find_central_directory(bytes, size, path);
  std::vector<StoredEntry> out;
  const uint64_t cd_end = cd.offset + cd.bytes;
  uint64_t at = cd.offset;
  for (uint64_t i = 0; i < cd.entries; ++i) {
    DLRM_CHECK(at + 46 <= cd_end && u32(bytes + at) == kCentralSig,
               "{}: central directory entry {} is damaged; the archive is truncated or not a zip", path.string(), i);
    const uint8_t* h = bytes + at;
    const uint64_t name_len = u16(h + 28), extra_len = u16(h + 30), comment_len = u16(h + 32);
    DLRM_CHECK(at + 46 + name_len + extra_len + comment_len <= cd_end,
               "{}: central directory entry {} runs past the directory", path.string(), i);
    StoredEntry e;
    e.name.assign(reinterpret_cast<const char*>(h + 46), name_len);
    e.method = u16(h + 10);
    e.bytes = u32(h + 20);
    e.size = u32(h + 24);
    uint64_t local = u32(h + 42);
    apply_zip64(h + 46 + name_len, extra_len, e, local, path);
    DLRM_CHECK((u16(h + 8) & 1) == 0, "{}: entry {} is encrypted", path.string(), e.name);
    DLRM_CHECK(local <= size && size - local >= 30 && u32(bytes + local) == kLocalSig,
               "{}: entry {} has no local header at offset {}; the archive is damaged", path.string(), e.name, local);
    const uint64_t local_name = u16(bytes + local + 26), local_extra = u16(bytes + local + 28);
    DLRM_CHECK(local_name == name_len && 30 + name_len <= size - local &&
                   std::memcmp(bytes + local + 30, e.name.data(), name_len) == 0,
               "{}: entry {}'s local header names another file; the archive is damaged", path.string(), e.name);
    DLRM_CHECK(u16(bytes + local + 8) == e.method, "{}: entry {}'s local header gives another compression",
               path.string(), e.name);
    e.data_offset = local + 30 + local_name + local_extra;
    DLRM_CHECK(e.data_offset <= size && e.bytes <= size - e.data_offset,
               "{}: entry {} ({} bytes at {}) runs past the end of the {}-byte file; it is truncated", path.string(),
               e.name, e.bytes, e.data_offset, size);
    out.push_back(std::move(e));
    at += 46 + name_len + extra_len + comment_len;
  }
  return out;
}

namespace {

// A read-only mapping of a whole file, owned until handed to a Dataset.
struct MappedFile {
  fs::path path;
  const uint8_t* bytes = nullptr;
  uint64_t size = 0;
};

MappedFile map_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  DLRM_CHECK(fd >= 0, "cannot open data file {}: {}", path.string(), std::strerror(errno));
  struct stat st {};
  const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
  void* map = ok ? ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  const int err = errno;
  ::close(fd);
  DLRM_CHECK(ok, "data file {} is empty or not a regular file; re-create it", path.string());
  DLRM_CHECK(map != MAP_FAILED, "cannot map data file {}: {}", path.string(), std::strerror(err));
  return MappedFile{path, static_cast<const uint8_t*>(map), static_cast<uint64_t>(st.st_size)};
}

// The .npy array stored in bytes [0, size): its header, data_offset relative
// to `p`. `name` is what errors call it ("X.npz entry '3'").
NpyHeader npy_at(const uint8_t* p, uint64_t size, const std::string& name) {
  DLRM_CHECK(size >= 12 && std::memcmp(p, "\x93NUMPY", 6) == 0, "{} is not a .npy array ({} bytes, bad magic)", name,
             size);
  const uint64_t prefix = p[6] == 1 ? 10 : 12;
  const uint64_t len = p[6] == 1 ? u16(p + 8) : u32(p + 8);
  DLRM_CHECK(len <= size - prefix, "{} is truncated inside its .npy header", name);
  return parse_npy_header(std::string(reinterpret_cast<const char*>(p), prefix + len), name, size - prefix - len);
}

void check_dtype(const NpyHeader& h, const std::string& name, const char* descr, const char* meaning) {
  DLRM_CHECK(h.descr == descr, "{} holds '{}' values; expected '{}' ({})", name, h.descr, descr, meaning);
}

}  // namespace

// Builds a multi-hot Dataset over mapped files (a friend of Dataset).
struct MultiHotOpener {
  Dataset data;
  int64_t first = 0, count = 0;
  uint64_t copied_bytes = 0;
  std::vector<std::string> copied;

  void keep(const MappedFile& f) { data.maps_.push_back({const_cast<uint8_t*>(f.bytes), f.size}); }

  // Rows [first, first + count) of an array of `row_bytes` per sample at `src`:
  // in place when aligned, else copied into dst.
  template <class T>
  const T* column(const uint8_t* src, int64_t row_bytes, std::vector<T>& dst, const std::string& name) {
    if (reinterpret_cast<uintptr_t>(src) % alignof(T) == 0) {
      data.mapped_columns_.push_back({src, row_bytes});
      return reinterpret_cast<const T*>(src + first * row_bytes);
    }
    dst.resize(static_cast<size_t>(count * row_bytes) / sizeof(T));
    if (count > 0) std::memcpy(dst.data(), src + first * row_bytes, static_cast<size_t>(count * row_bytes));
    copied_bytes += static_cast<uint64_t>(count * row_bytes);
    copied.push_back(name);
    return dst.data();
  }
};

namespace {

// Entry t of the archive, checked: a stored "t.npy" of int32 [n, h].
struct BagEntry {
  const uint8_t* data = nullptr;
  int hotness = 0;
};

std::vector<BagEntry> bag_entries(const MappedFile& npz, const DataShape& shape, int64_t n) {
  const fs::path& path = npz.path;
  std::map<std::string, StoredEntry> by_name;
  std::vector<std::string> unexpected;
  for (StoredEntry& e : zip_entries(npz.bytes, npz.size, path)) {
    const std::string name = ends_with(e.name, ".npy") ? e.name.substr(0, e.name.size() - 4) : "";
    const bool wanted = !name.empty() && name.size() <= 5 && name.find_first_not_of("0123456789") == std::string::npos &&
                        (name == "0" || name[0] != '0') && std::stoi(name) < shape.tables;
    if (!wanted) unexpected.push_back(e.name);
    DLRM_CHECK(!wanted || by_name.emplace(name, std::move(e)).second, "{}: entry '{}' appears twice", path.string(),
               name);
  }
  std::vector<std::string> missing;
  for (int t = 0; t < shape.tables; ++t) {
    if (!by_name.count(std::to_string(t))) missing.push_back(std::to_string(t));
  }
  DLRM_CHECK(unexpected.empty() && missing.empty(),
             "{}: {}{}; a model of {} tables needs exactly the entries \"0\" .. \"{}\" (0.npy .. {}.npy)", path.string(),
             missing.empty() ? "" : fmt::format("missing entries {}", fmt::join(missing, ", ")),
             unexpected.empty() ? ""
                                : fmt::format("{}unexpected entries {}", missing.empty() ? "" : "; ",
                                              fmt::join(unexpected, ", ")),
             shape.tables, shape.tables - 1, shape.tables - 1);
  std::vector<BagEntry> bags;
  for (int t = 0; t < shape.tables; ++t) {
    const StoredEntry& e = by_name.at(std::to_string(t));
    const std::string name = fmt::format("{} entry '{}'", path.string(), t);
    DLRM_CHECK(e.method == 0,
               "{} is compressed (zip method {}); multi-hot data is mapped in place and needs stored entries: "
               "write it with numpy.savez, not savez_compressed",
               name, e.method);
    DLRM_CHECK(e.bytes == e.size, "{}: stored entry of {} bytes claims {} uncompressed", name, e.bytes, e.size);
    const NpyHeader h = npy_at(npz.bytes + e.data_offset, e.bytes, name);
    check_dtype(h, name, "<i4", "int32 indices");
    const int64_t width = h.shape.size() == 2 ? h.shape[1] : -1;
    DLRM_CHECK(h.shape.size() == 2 && h.shape[0] == n && width >= 1 && width <= 65536,
               "{} has shape {}; expected ({}, hotness): one bag per sample of the {} in the dense array", name,
               h.shape_str(), n, n);
    const int want = shape.hotness.empty() ? static_cast<int>(width) : shape.hotness[static_cast<size_t>(t)];
    DLRM_CHECK(width == want, "{} has bags of {} indices but the model looks up {} in table {}; the data is for "
               "another model", name, width, want, t);
    bags.push_back({npz.bytes + e.data_offset + h.data_offset, static_cast<int>(width)});
  }
  return bags;
}

}  // namespace

Dataset Dataset::open_multi_hot(const fs::path& path_or_prefix, const DataShape& shape, int64_t first, int64_t count) {
  DLRM_CHECK(shape.dense_features >= 0 && shape.tables > 0 &&
                 (shape.hotness.empty() || static_cast<int>(shape.hotness.size()) == shape.tables),
             "multi-hot data {}: bad model shape ({} dense features, {} tables, {} hotness values)",
             path_or_prefix.string(), shape.dense_features, shape.tables, shape.hotness.size());
  const MultiHotFiles files = find_multi_hot_files(path_or_prefix);
  MultiHotOpener open;
  open.data.path_ = path_or_prefix;
  open.data.layout_ = shape.layout();
  open.data.multi_hot_ = true;
  // Each mapping belongs to the Dataset as soon as it exists (unmapped on any error).
  const MappedFile dense = map_file(files.dense);
  open.keep(dense);
  const MappedFile labels = map_file(files.labels);
  open.keep(labels);
  const MappedFile sparse = map_file(files.sparse);
  open.keep(sparse);

  const NpyHeader dh = npy_at(dense.bytes, dense.size, files.dense.string());
  check_dtype(dh, files.dense.string(), "<f4", "float32 dense features, already log(x + 3)-transformed");
  DLRM_CHECK(dh.shape.size() == 2 && dh.shape[1] == shape.dense_features && dh.shape[0] > 0,
             "{} has shape {}; expected (N, {}) with N > 0: the model has {} dense features", files.dense.string(),
             dh.shape_str(), shape.dense_features, shape.dense_features);
  const int64_t n = dh.shape[0];
  const NpyHeader lh = npy_at(labels.bytes, labels.size, files.labels.string());
  check_dtype(lh, files.labels.string(), "<i4", "int32 labels");
  DLRM_CHECK(lh.shape == std::vector<int64_t>{n} || lh.shape == std::vector<int64_t>({n, 1}),
             "{} has shape {}; expected ({}, 1): one label per sample of {}", files.labels.string(), lh.shape_str(), n,
             files.dense.string());
  const std::vector<BagEntry> bags = bag_entries(sparse, shape, n);

  if (count < 0) count = n - first;
  DLRM_CHECK(first >= 0 && count >= 0 && first <= n && count <= n - first,
             "multi-hot data {}: samples [{}, {}) asked for, but it holds {}", path_or_prefix.string(), first,
             first + count, n);
  open.first = first;
  open.count = count;
  Dataset& data = open.data;
  data.samples_ = n;
  data.first_ = first;
  data.end_ = first + count;
  data.dense_values_ = open.column(dense.bytes + dh.data_offset, 4 * int64_t{shape.dense_features},
                                   data.dense_copy_, files.dense.string());
  data.copies_.resize(1 + bags.size());
  data.labels_ = open.column(labels.bytes + lh.data_offset, 4, data.copies_[0], files.labels.string());
  for (size_t t = 0; t < bags.size(); ++t) {
    data.hotness_.push_back(bags[t].hotness);
    data.bags_.push_back(open.column(bags[t].data, 4 * int64_t{bags[t].hotness}, data.copies_[1 + t],
                                     fmt::format("entry '{}'", t)));
  }
  if (open.copied_bytes > 0) {
    // Name a few; numpy's savez leaves most entries unaligned.
    const size_t named = std::min<size_t>(open.copied.size(), 3);
    spdlog::info("multi-hot data {}: {} of {} arrays ({}{}) not 4-byte aligned in the file (numpy's savez does "
                 "not align); read samples [{}, {}) of them into memory ({})",
                 path_or_prefix.string(), open.copied.size(), bags.size() + 2,
                 fmt::join(open.copied.begin(), open.copied.begin() + static_cast<std::ptrdiff_t>(named), ", "),
                 open.copied.size() > named ? ", ..." : "", first, first + count,
                 format_bytes(static_cast<double>(open.copied_bytes)));
  }
  return std::move(open.data);
}

}  // namespace dlrm::datasets
