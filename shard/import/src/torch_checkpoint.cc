// PyTorch checkpoints, zip and legacy layouts (see torch_checkpoint.h). The
// layouts were learnt from torch/serialization.py (_save, _legacy_save) of
// PyTorch 1.13 and checked against files it writes.
#include "dlrm/import/torch_checkpoint.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/staged_output.h"
#include "dlrm/import/pickle.h"
#include "dlrm/common/zip.h"

namespace fs = std::filesystem;

namespace dlrm::import {

using pickle::Kind;
using pickle::Value;

namespace {

// Storage type tags: torch.X and, in old GPU checkpoints, torch.cuda.X.
constexpr const char* kStorageNames[] = {"FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage",
                                         "LongStorage",  "IntStorage",  "ShortStorage",    "CharStorage",
                                         "ByteStorage",  "BoolStorage"};

}  // namespace

const std::set<std::string>& torch_allowed_globals() {
  static const std::set<std::string> kAllowed = [] {
    std::set<std::string> names = {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        // Inert data in training checkpoints' extra entries (losses, accuracies),
        // recorded and never called; numpy 2 spells the module numpy._core.
        "numpy.core.multiarray.scalar",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy._core.multiarray._reconstruct",
        "numpy.dtype",
        "numpy.ndarray",
        // Data-only constructors the unpickler evaluates itself (pickle.h).
        "_codecs.encode",
        "builtins.set",
        "builtins.frozenset",
    };
    for (const char* s : kStorageNames) {
      names.insert(std::string("torch.") + s);
      names.insert(std::string("torch.cuda.") + s);
    }
    return names;
  }();
  return kAllowed;
}

namespace {

constexpr uint64_t kMaxPickleBytes = 256ull << 20;  // data.pkl of a 100 GB DLRM checkpoint is a few KB
constexpr uint64_t kChunkBytes = 8u << 20;         // bounded read buffer
constexpr char kCopyAgain[] = "copy it again";     // what to do about a truncated file

struct StorageKind {
  const char* global;
  const char* dtype_name;
  TensorDtype dtype;
  int bytes;
};

constexpr StorageKind kStorageKinds[] = {
    {"torch.FloatStorage", "float32", TensorDtype::kF32, 4},
    {"torch.HalfStorage", "float16", TensorDtype::kF16, 2},
    {"torch.BFloat16Storage", "bfloat16", TensorDtype::kBF16, 2},
    {"torch.DoubleStorage", "float64", TensorDtype::kF64, 8},
    {"torch.LongStorage", "int64", TensorDtype::kOther, 8},
    {"torch.IntStorage", "int32", TensorDtype::kOther, 4},
    {"torch.ShortStorage", "int16", TensorDtype::kOther, 2},
    {"torch.CharStorage", "int8", TensorDtype::kOther, 1},
    {"torch.ByteStorage", "uint8", TensorDtype::kOther, 1},
    {"torch.BoolStorage", "bool", TensorDtype::kOther, 1},
};

struct Storage {
  std::string key;
  const StorageKind* kind = nullptr;
  int64_t numel = 0;
  std::string first_user;      // a tensor using it, for error messages
  zip_int64_t zip_index = -1;  // zip layout: the entry
  uint64_t file_offset = 0;    // legacy layout: first data byte
  std::string data_what;       // legacy layout: "the data of storage 'key'", for read errors
  bool located = false;
};

// Mathematical (row, column) view of a tensor of any rank <= 2.
struct Matrix {
  int64_t rows = 1, cols = 1, row_stride = 0, col_stride = 0;
};

Matrix as_matrix(const TorchTensorLayout& t) {
  Matrix m;
  if (t.size.size() == 2) {
    m.rows = t.size[0];
    m.cols = t.size[1];
    m.row_stride = t.stride[0];
    m.col_stride = t.stride[1];
  } else if (t.size.size() == 1) {
    m.cols = t.size[0];
    m.col_stride = t.stride[0];
  }
  return m;
}

}  // namespace

struct TorchCheckpoint::Impl {
  fs::path path;
  TorchFormat format = TorchFormat::kZip;
  uint64_t file_bytes = 0;
  std::vector<Storage> storages;
  std::map<std::string, size_t> storage_index;
  std::vector<TensorInfo> tensors;
  std::vector<TorchTensorLayout> layouts;
  std::vector<std::string> other_entries;
  std::string state_dict_entry;  // "" (bare) or "state_dict"
  // zip layout
  zip_t* zip = nullptr;
  std::string prefix;
  zip_file_t* entry = nullptr;
  size_t entry_storage = SIZE_MAX;
  // legacy layout
  std::FILE* file = nullptr;
  std::vector<uint8_t> buffer;

  ~Impl() {
    if (entry) zip_fclose(entry);
    if (zip) zip_discard(zip);
    if (file) std::fclose(file);
  }

  std::string entry_name(const Storage& s) const {
    return format == TorchFormat::kZip ? fmt::format("entry {}data/{}", prefix, s.key)
                                       : fmt::format("storage '{}'", s.key);
  }

  // --- the pickle's content -------------------------------------------------

  static int64_t int_of(const Value* v, const std::string& what, const std::string& where) {
    DLRM_CHECK(v && v->kind == Kind::kInt, "{}: {} is a {}, not an integer; the checkpoint is damaged", where, what,
               v ? pickle::to_string(v->kind) : "missing value");
    return v->i;
  }

  static std::vector<int64_t> ints_of(const Value* v, const std::string& what, const std::string& where) {
    DLRM_CHECK(v && (v->kind == Kind::kTuple || v->kind == Kind::kList), "{}: {} is a {}, not a tuple", where, what,
               v ? pickle::to_string(v->kind) : "missing value");
    std::vector<int64_t> out;
    for (const Value* item : v->items) out.push_back(int_of(item, what, where));
    return out;
  }

  // Registers the storage of persistent id `pid`; returns its index and the
  // element offset of a legacy storage view.
  std::pair<size_t, int64_t> storage_of(const Value* pid, const std::string& where) {
    DLRM_ASSERT(pid->kind == Kind::kPersistentId);
    const Value* t = pid->items.empty() ? nullptr : pid->items[0];
    DLRM_CHECK(t && t->kind == Kind::kTuple && t->items.size() >= 5 && t->items[0]->is_string() &&
                   t->items[0]->str == "storage",
               "{}: unexpected persistent id {} (expected ('storage', type, key, location, size))", where,
               t ? t->repr() : "?");
    const Value* type = t->items[1];
    const StorageKind* kind = nullptr;
    if (type->kind == Kind::kGlobal) {
      // torch.cuda.FloatStorage (old GPU checkpoints) holds the same bytes as torch.FloatStorage.
      std::string name = type->str;
      if (name.rfind("torch.cuda.", 0) == 0) name = "torch." + name.substr(11);
      for (const StorageKind& k : kStorageKinds) {
        if (name == k.global) kind = &k;
      }
    }
    DLRM_CHECK(kind, "{}: storage type {} is not supported (expected torch.FloatStorage, HalfStorage, ...)", where,
               type->repr());
    DLRM_CHECK(t->items[2]->is_string(), "{}: storage key {} is not a string", where, t->items[2]->repr());
    const std::string& key = t->items[2]->str;
    const int64_t numel = int_of(t->items[4], "a storage size", where);
    DLRM_CHECK(numel >= 0 && static_cast<uint64_t>(numel) <= file_bytes / kind->bytes + 1,
               "{}: storage '{}' claims {} elements of {} bytes, more than the {}-byte file holds; the checkpoint "
               "is damaged",
               where, key, numel, kind->bytes, file_bytes);
    auto [it, fresh] = storage_index.emplace(key, storages.size());
    if (fresh) {
      Storage s;
      s.key = key;
      s.kind = kind;
      s.numel = numel;
      storages.push_back(s);
    } else {
      const Storage& s = storages[it->second];
      DLRM_CHECK(s.kind == kind && s.numel == numel,
                 "{}: storage '{}' appears as {} elements of {} and as {} of {}; the checkpoint is damaged", where,
                 key, s.numel, s.kind->global, numel, kind->global);
    }
    int64_t view_offset = 0;
    if (t->items.size() >= 6 && t->items[5]->kind != Kind::kNone) {  // legacy view (PyTorch < 1.0)
      const Value* v = t->items[5];
      DLRM_CHECK(v->kind == Kind::kTuple && v->items.size() == 3, "{}: malformed storage view {}", where, v->repr());
      view_offset = int_of(v->items[1], "a view offset", where);
      const int64_t view_size = int_of(v->items[2], "a view size", where);
      DLRM_CHECK(view_offset >= 0 && view_size >= 0 && view_offset <= numel && view_size <= numel - view_offset,
                 "{}: storage view [{}, +{}) lies outside storage '{}' of {} elements", where, view_offset, view_size,
                 key, numel);
    }
    return {it->second, view_offset};
  }

  // A tensor value: _rebuild_tensor_v2(pid, offset, size, stride, ...) or a
  // _rebuild_parameter around it.
  TorchTensorLayout tensor_of(const Value* v, const std::string& key) {
    const std::string where = fmt::format("{}: tensor '{}'", path.string(), key);
    if (v->is_call_of("torch._utils._rebuild_parameter") || v->is_call_of("torch._utils._rebuild_parameter_with_state")) {
      DLRM_CHECK(!v->items.empty(), "{}: _rebuild_parameter without arguments", where);
      v = v->items[0];
    }
    DLRM_CHECK(v->is_call_of("torch._utils._rebuild_tensor_v2") || v->is_call_of("torch._utils._rebuild_tensor"),
               "{}: value is {}, not a tensor; a state_dict maps names to tensors", where, v->repr());
    DLRM_CHECK(v->items.size() >= 4 && v->items[0]->kind == Kind::kPersistentId,
               "{}: malformed tensor record {}", where, v->repr());
    auto [storage, view_offset] = storage_of(v->items[0], where);
    TorchTensorLayout t;
    t.storage = storage;
    t.storage_offset = int_of(v->items[1], "the storage offset", where);
    t.size = ints_of(v->items[2], "the size", where);
    t.stride = ints_of(v->items[3], "the stride", where);
    DLRM_CHECK(t.size.size() == t.stride.size(), "{}: size {} and stride {} differ in rank", where,
               shape_string(t.size), shape_string(t.stride));
    DLRM_CHECK(t.storage_offset >= 0, "{}: negative storage offset {}", where, t.storage_offset);
    t.storage_offset += view_offset;
    // The last element must lie inside the storage (checked in 128 bits).
    __int128 last = t.storage_offset;
    bool empty = false;
    for (size_t d = 0; d < t.size.size(); ++d) {
      DLRM_CHECK(t.size[d] >= 0 && t.stride[d] >= 0, "{}: negative size or stride in {} / {}", where,
                 shape_string(t.size), shape_string(t.stride));
      if (t.size[d] == 0) empty = true;
      last += static_cast<__int128>(t.size[d] > 0 ? t.size[d] - 1 : 0) * t.stride[d];
    }
    const Storage& s = storages[storage];
    DLRM_CHECK(empty || last < s.numel,
               "{}: size {} stride {} at offset {} reaches past the end of storage '{}' ({} elements); the "
               "checkpoint is damaged",
               where, shape_string(t.size), shape_string(t.stride), t.storage_offset, s.key, s.numel);
    if (storages[storage].first_user.empty()) storages[storage].first_user = key;
    return t;
  }

  // Picks the state_dict out of the root object and records its tensors.
  void read_state_dict(const Value* root) {
    const std::string where = path.string();
    DLRM_CHECK(root->kind == Kind::kDict,
               "{}: the checkpoint holds a {} ({}), not a state_dict; save model.state_dict() with torch.save", where,
               pickle::to_string(root->kind), root->repr(80));
    const Value* dict = root;
    for (const char* name : {"state_dict", "model_state_dict"}) {
      const Value* inner = root->get(name);
      if (inner && inner->kind == Kind::kDict) {
        dict = inner;
        state_dict_entry = name;
        break;
      }
    }
    if (dict != root) {
      for (const auto& [k, v] : root->entries) {
        if (k->is_string() && k->str != state_dict_entry) other_entries.push_back(k->str);
      }
    } else {
      // A bare state_dict has tensor values; anything else is some other dict.
      bool any_tensor = false;
      std::vector<std::string> keys;
      for (const auto& [k, v] : root->entries) {
        const Value* t = v;
        if (t->is_call_of("torch._utils._rebuild_parameter") || t->is_call_of("torch._utils._rebuild_tensor_v2") ||
            t->is_call_of("torch._utils._rebuild_tensor")) {
          any_tensor = true;
        }
        if (keys.size() < 8) keys.push_back(k->repr(40));
      }
      DLRM_CHECK(any_tensor || root->entries.empty(),
                 "{}: the checkpoint is a dict without tensors and without a 'state_dict' entry (keys: {}); "
                 "expected a state_dict or {{'state_dict': ..., ...}}",
                 where, fmt::join(keys, ", "));
    }
    DLRM_CHECK(!dict->entries.empty(), "{}: the state_dict{} is empty", where,
               state_dict_entry.empty() ? "" : fmt::format(" (entry '{}')", state_dict_entry));
    std::vector<std::string> names;
    for (const auto& [k, v] : dict->entries) {
      DLRM_CHECK(k->is_string(), "{}: state_dict key {} is not a string", where, k->repr(60));
      names.push_back(k->str);
    }
    // DataParallel saves "module.emb_l.0.weight": drop a prefix every key shares.
    const std::string kPrefix = "module.";
    const bool strip = std::all_of(names.begin(), names.end(), [&](const std::string& n) {
      return n.size() > kPrefix.size() && n.compare(0, kPrefix.size(), kPrefix) == 0;
    });
    std::set<std::string> seen;
    for (size_t i = 0; i < names.size(); ++i) {
      std::string name = strip ? names[i].substr(kPrefix.size()) : names[i];
      DLRM_CHECK(seen.insert(name).second, "{}: state_dict key '{}' appears twice", where, name);
      TorchTensorLayout t = tensor_of(dict->entries[i].second, names[i]);
      const Storage& s = storages[t.storage];
      TensorInfo info;
      info.name = name;
      info.shape = t.size;
      info.dtype = s.kind->dtype;
      info.dtype_name = s.kind->dtype_name;
      tensors.push_back(std::move(info));
      layouts.push_back(std::move(t));
    }
  }

  // --- zip layout -------------------------------------------------------------

  void open_zip() {
    format = TorchFormat::kZip;
    int code = 0;
    zip = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
    DLRM_CHECK(zip != nullptr,
               "{}: not a readable zip archive ({}); the checkpoint is truncated or damaged (copy it again)",
               path.string(), zip_message(code));
    const zip_int64_t entries = zip_get_num_entries(zip, 0);
    std::string pkl;
    for (zip_int64_t i = 0; i < entries; ++i) {
      const char* name = zip_get_name(zip, static_cast<zip_uint64_t>(i), 0);
      if (!name) continue;
      std::string n = name;
      constexpr std::string_view kPkl = "data.pkl";
      if (n.size() < kPkl.size() || n.compare(n.size() - kPkl.size(), kPkl.size(), kPkl) != 0) continue;
      std::string dir = n.substr(0, n.size() - kPkl.size());
      if (dir.empty() || (dir.back() == '/' && dir.find('/') == dir.size() - 1)) {
        pkl = n;
        prefix = dir;
        break;
      }
    }
    DLRM_CHECK(!pkl.empty(),
               "{}: zip archive without a data.pkl entry; it is not a torch.save checkpoint (a TorchScript or other "
               "archive?); save model.state_dict() with torch.save",
               path.string());
    const std::string byteorder = read_small_entry(prefix + "byteorder", 16, true);
    DLRM_CHECK(byteorder.empty() || byteorder == "little",
               "{}: entry {}byteorder says '{}'; only little-endian checkpoints are supported", path.string(), prefix,
               byteorder);
    const std::string bytes = read_small_entry(pkl, kMaxPickleBytes, false);
    pickle::MemorySource src(bytes.data(), bytes.size());
    pickle::Document doc = pickle::unpickle(src, fmt::format("{} entry {}", path.string(), pkl), torch_allowed_globals());
    for (const Value* pid : doc.persistent_ids()) storage_of(pid, fmt::format("{} entry {}", path.string(), pkl));
    read_state_dict(doc.root());
    for (const TorchTensorLayout& t : layouts) locate_zip(storages[t.storage]);
  }

  // An entry read whole (data.pkl, byteorder); "" when optional and absent.
  std::string read_small_entry(const std::string& name, uint64_t max_bytes, bool optional) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(zip, name.c_str(), 0, &st) != 0) {
      DLRM_CHECK(optional, "{}: entry {} is missing; the checkpoint is damaged", path.string(), name);
      return {};
    }
    DLRM_CHECK((st.valid & ZIP_STAT_SIZE) && st.size <= max_bytes, "{}: entry {} is larger than {} bytes",
               path.string(), name, max_bytes);
    zip_file_t* f = zip_fopen_index(zip, st.index, 0);
    DLRM_CHECK(f != nullptr, "{}: cannot open entry {}: {}", path.string(), name, zip_strerror(zip));
    std::string out(static_cast<size_t>(st.size), '\0');
    zip_int64_t got = out.empty() ? 0 : zip_fread(f, out.data(), out.size());
    if (got == static_cast<zip_int64_t>(out.size())) {
      // Reading on to the end makes libzip check the entry's CRC-32.
      char extra;
      zip_int64_t tail = zip_fread(f, &extra, 1);
      if (tail != 0) got = tail < 0 ? -1 : got + 1;
    }
    std::string err = got < 0 ? zip_file_strerror(f) : "";
    zip_fclose(f);
    DLRM_CHECK(got == static_cast<zip_int64_t>(out.size()), "{}: cannot read entry {} ({}); the checkpoint is "
               "truncated or damaged",
               path.string(), name, got < 0 ? err : fmt::format("{} of {} bytes", got, out.size()));
    return out;
  }

  void locate_zip(Storage& s) {
    if (s.located) return;
    const std::string name = fmt::format("{}data/{}", prefix, s.key);
    zip_stat_t st;
    zip_stat_init(&st);
    DLRM_CHECK(zip_stat(zip, name.c_str(), 0, &st) == 0,
               "{}: entry {} (the data of tensor '{}') is missing; the checkpoint is damaged", path.string(), name,
               s.first_user);
    const uint64_t expect = static_cast<uint64_t>(s.numel) * s.kind->bytes;
    DLRM_CHECK(st.size == expect,
               "{}: entry {} holds {} bytes but tensor '{}' needs {} ({} elements of {}); the checkpoint is damaged",
               path.string(), name, st.size, s.first_user, expect, s.numel, s.kind->dtype_name);
    DLRM_CHECK(st.comp_method == ZIP_CM_STORE,
               "{}: entry {} is compressed; torch.save stores tensors uncompressed so that they can be read in "
               "place; re-save the checkpoint with torch.save (do not re-zip it)",
               path.string(), name);
    s.zip_index = static_cast<zip_int64_t>(st.index);
    s.located = true;
  }

  // --- legacy layout ----------------------------------------------------------

  pickle::Document legacy_pickle(pickle::FileSource& src, const char* what, const std::set<std::string>& allowed) {
    return pickle::unpickle(src, fmt::format("{} ({} pickle)", path.string(), what), allowed);
  }

  void open_legacy() {
    format = TorchFormat::kLegacy;
    file = std::fopen(path.c_str(), "rb");
    DLRM_CHECK(file != nullptr, "cannot open {}: {}", path.string(), std::strerror(errno));
    static const std::set<std::string> kNone;
    pickle::FileSource src(file, 0, file_bytes);
    {
      pickle::Document magic = legacy_pickle(src, "magic number", kNone);
      // 0x1950a86a20f9469cfc6c as LONG1 little-endian bytes.
      static const std::string kMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
      DLRM_CHECK(magic.root()->kind == Kind::kBigInt && magic.root()->str == kMagic,
                 "{}: not a PyTorch checkpoint (the first pickle is {}, not torch's magic number)", path.string(),
                 magic.root()->repr(60));
    }
    {
      pickle::Document version = legacy_pickle(src, "protocol version", kNone);
      DLRM_CHECK(version.root()->kind == Kind::kInt && version.root()->i == 1001,
                 "{}: legacy checkpoint protocol version {} is not supported (only 1001)", path.string(),
                 version.root()->repr(40));
    }
    {
      pickle::Document info = legacy_pickle(src, "sys_info", kNone);
      const Value* little = info.root()->get("little_endian");
      DLRM_CHECK(!little || little->kind != Kind::kBool || little->b,
                 "{}: the checkpoint was written on a big-endian machine; only little-endian checkpoints are "
                 "supported",
                 path.string());
    }
    pickle::Document doc = legacy_pickle(src, "object", torch_allowed_globals());
    pickle::Document keys = legacy_pickle(src, "storage keys", kNone);
    const std::string where = fmt::format("{} (object pickle)", path.string());
    for (const Value* pid : doc.persistent_ids()) storage_of(pid, where);
    read_state_dict(doc.root());

    // Storage records follow the key list: int64 element count, then the elements.
    DLRM_CHECK(keys.root()->kind == Kind::kList, "{}: the storage key list is a {}; the checkpoint is damaged",
               path.string(), pickle::to_string(keys.root()->kind));
    uint64_t pos = src.position();
    for (const Value* k : keys.root()->items) {
      DLRM_CHECK(k->is_string(), "{}: storage key {} is not a string", path.string(), k->repr(40));
      auto it = storage_index.find(k->str);
      DLRM_CHECK(it != storage_index.end(),
                 "{}: storage '{}' is listed but no tensor refers to it; the checkpoint is damaged", path.string(),
                 k->str);
      Storage& s = storages[it->second];
      DLRM_CHECK(!s.located, "{}: storage '{}' is listed twice", path.string(), s.key);
      DLRM_CHECK(pos + 8 <= file_bytes,
                 "{} is truncated: the record of storage '{}'{} should start at byte {} but the file has {} bytes "
                 "(copy it again)",
                 path.string(), s.key, s.first_user.empty() ? "" : fmt::format(" (tensor '{}')", s.first_user), pos,
                 file_bytes);
      int64_t numel = 0;
      read_exact(file, path, &numel, 8, pos, fmt::format("the element count of storage '{}'", s.key), kCopyAgain);
      DLRM_CHECK(numel == s.numel,
                 "{}: storage '{}' at byte {} holds {} elements but the pickle says {}; the checkpoint is damaged",
                 path.string(), s.key, pos, numel, s.numel);
      s.file_offset = pos + 8;
      s.located = true;
      s.data_what = fmt::format("the data of storage '{}'", s.key);
      pos = s.file_offset + static_cast<uint64_t>(s.numel) * s.kind->bytes;
      DLRM_CHECK(pos <= file_bytes,
                 "{} is truncated: storage '{}'{} needs bytes [{}, {}) but the file has {} bytes (copy it again)",
                 path.string(), s.key, s.first_user.empty() ? "" : fmt::format(" (tensor '{}')", s.first_user),
                 s.file_offset, pos, file_bytes);
    }
    for (const TorchTensorLayout& t : layouts) {
      const Storage& s = storages[t.storage];
      DLRM_CHECK(s.located, "{}: the data of storage '{}' (tensor '{}') is missing from the storage list",
                 path.string(), s.key, s.first_user);
    }
  }

  // --- reading elements -------------------------------------------------------

  // `bytes` raw bytes of storage `index` from its byte `offset`.
  void read_storage(size_t index, uint64_t offset, size_t bytes, void* dst) {
    const Storage& s = storages[index];
    DLRM_ASSERT(offset + bytes <= static_cast<uint64_t>(s.numel) * s.kind->bytes);
    if (format == TorchFormat::kLegacy) {
      read_exact(file, path, dst, bytes, s.file_offset + offset, s.data_what, kCopyAgain);
      return;
    }
    if (entry_storage != index) {
      if (entry) zip_fclose(entry);
      entry = zip_fopen_index(zip, static_cast<zip_uint64_t>(s.zip_index), 0);
      entry_storage = entry ? index : SIZE_MAX;
      DLRM_CHECK(entry != nullptr, "{}: cannot open {}: {}", path.string(), entry_name(s), zip_strerror(zip));
    }
    DLRM_CHECK(zip_fseek(entry, static_cast<zip_int64_t>(offset), SEEK_SET) == 0, "{}: cannot seek in {}: {}",
               path.string(), entry_name(s), zip_file_strerror(entry));
    zip_read_exact(entry, dst, bytes, path, [&] { return fmt::format("{} at byte {}", entry_name(s), offset); });
  }

  void read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end, float* dst) {
    DLRM_CHECK(index < layouts.size(), "{}: no tensor {}", path.string(), index);
    const TorchTensorLayout& t = layouts[index];
    const Storage& s = storages[t.storage];
    const Matrix m = as_matrix(t);
    DLRM_CHECK(row_begin >= 0 && rows >= 0 && row_begin + rows <= m.rows && col_begin >= 0 && col_begin <= col_end &&
                   col_end <= m.cols,
               "{}: block rows [{}, {}) cols [{}, {}) is outside tensor '{}' {}", path.string(), row_begin,
               row_begin + rows, col_begin, col_end, tensors[index].name, shape_string(t.size));
    const int64_t cols = col_end - col_begin;
    if (rows == 0 || cols == 0) return;
    DLRM_CHECK(s.kind->dtype != TensorDtype::kOther, "{}: tensor '{}' holds {} values, not floats", path.string(),
               tensors[index].name, s.kind->dtype_name);
    const int eb = s.kind->bytes;
    const uint64_t chunk_elems = std::max<uint64_t>(1, kChunkBytes / eb);
    auto element = [&](int64_t r, int64_t c) {  // storage element index
      return t.storage_offset + r * m.row_stride + c * m.col_stride;
    };
    if (m.col_stride == 1 || cols == 1) {
      const bool dense_rows = m.row_stride == m.cols || rows == 1;
      if (dense_rows && cols == m.cols) {
        // Whole rows, back to back: the block is one run of elements.
        const uint64_t total = static_cast<uint64_t>(rows) * cols;
        const uint64_t first = static_cast<uint64_t>(element(row_begin, 0));
        if (s.kind->dtype == TensorDtype::kF32) {
          for (uint64_t done = 0; done < total; done += chunk_elems) {
            uint64_t n = std::min(chunk_elems, total - done);
            read_storage(t.storage, (first + done) * 4, n * 4, dst + done);
          }
          return;
        }
        buffer.resize(static_cast<size_t>(std::min(chunk_elems, total) * eb));
        for (uint64_t done = 0; done < total; done += chunk_elems) {
          uint64_t n = std::min(chunk_elems, total - done);
          read_storage(t.storage, (first + done) * eb, n * eb, buffer.data());
          convert_to_f32(s.kind->dtype, buffer.data(), n, dst + done);
        }
        return;
      }
      // Row by row, each row's columns contiguous; rows batched when the
      // span between them is small.
      const uint64_t span = static_cast<uint64_t>(m.row_stride);
      const uint64_t per_read = span > 0 && span <= chunk_elems ? std::max<uint64_t>(1, chunk_elems / span) : 1;
      for (int64_t r = 0; r < rows;) {
        const int64_t n = static_cast<int64_t>(std::min<uint64_t>(per_read, rows - r));
        const uint64_t first = static_cast<uint64_t>(element(row_begin + r, col_begin));
        const uint64_t extent = (n - 1) * span + cols;
        buffer.resize(static_cast<size_t>(extent * eb));
        read_storage(t.storage, first * eb, extent * eb, buffer.data());
        for (int64_t k = 0; k < n; ++k) {
          convert_to_f32(s.kind->dtype, buffer.data() + k * span * eb, cols, dst + (r + k) * cols);
        }
        r += n;
      }
      return;
    }
    if (m.row_stride == 1) {
      // Column-major: each column's rows are contiguous.
      std::vector<float> column(static_cast<size_t>(std::min<uint64_t>(chunk_elems, rows)));
      buffer.resize(column.size() * eb);
      for (int64_t c = 0; c < cols; ++c) {
        for (int64_t r = 0; r < rows;) {
          const int64_t n = static_cast<int64_t>(std::min<uint64_t>(column.size(), rows - r));
          read_storage(t.storage, static_cast<uint64_t>(element(row_begin + r, col_begin + c)) * eb, n * eb,
                       buffer.data());
          convert_to_f32(s.kind->dtype, buffer.data(), n, column.data());
          for (int64_t k = 0; k < n; ++k) dst[(r + k) * cols + c] = column[k];
          r += n;
        }
      }
      return;
    }
    // Neither axis contiguous (a strided slice): element by element, buffered per row when it fits.
    const uint64_t row_extent = static_cast<uint64_t>((cols - 1) * m.col_stride + 1);
    for (int64_t r = 0; r < rows; ++r) {
      if (row_extent <= chunk_elems) {
        buffer.resize(row_extent * eb);
        read_storage(t.storage, static_cast<uint64_t>(element(row_begin + r, col_begin)) * eb, row_extent * eb,
                     buffer.data());
        for (int64_t c = 0; c < cols; ++c) {
          convert_to_f32(s.kind->dtype, buffer.data() + c * m.col_stride * eb, 1, dst + r * cols + c);
        }
      } else {
        uint8_t raw[8];
        for (int64_t c = 0; c < cols; ++c) {
          read_storage(t.storage, static_cast<uint64_t>(element(row_begin + r, col_begin + c)) * eb, eb, raw);
          convert_to_f32(s.kind->dtype, raw, 1, dst + r * cols + c);
        }
      }
    }
  }
};

TorchCheckpoint::TorchCheckpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchCheckpoint::~TorchCheckpoint() = default;

std::unique_ptr<TorchCheckpoint> TorchCheckpoint::open(const fs::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  std::error_code ec;
  DLRM_CHECK(fs::is_regular_file(path, ec), "{} does not exist or is not a file", path.string());
  impl->file_bytes = fs::file_size(path, ec);
  DLRM_CHECK(!ec, "cannot stat {}: {}", path.string(), ec.message());
  std::string head(512, '\0');
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    DLRM_CHECK(f != nullptr, "cannot open {}: {}", path.string(), std::strerror(errno));
    head.resize(std::fread(head.data(), 1, head.size(), f));
    std::fclose(f);
  }
  DLRM_CHECK(head.size() >= 4, "{} is empty or truncated ({} bytes); it is not a PyTorch checkpoint", path.string(),
             head.size());
  if (head.compare(0, 4, "PK\x03\x04") == 0) {
    impl->open_zip();
  } else if (static_cast<unsigned char>(head[0]) == 0x80) {
    impl->open_legacy();
  } else if (head.size() >= 262 && head.compare(257, 5, "ustar") == 0) {
    DLRM_FAIL("{} is a tar-format checkpoint (PyTorch < 0.4), which is not supported; load it with an old PyTorch "
              "and re-save model.state_dict() with torch.save",
              path.string());
  } else {
    DLRM_FAIL("{} is not a PyTorch checkpoint (neither a zip archive nor a pickle: it starts with bytes {:02x} {:02x} "
              "{:02x} {:02x})",
              path.string(), static_cast<unsigned char>(head[0]), static_cast<unsigned char>(head[1]),
              static_cast<unsigned char>(head[2]), static_cast<unsigned char>(head[3]));
  }
  return std::unique_ptr<TorchCheckpoint>(new TorchCheckpoint(std::move(impl)));
}

TorchFormat TorchCheckpoint::format() const { return impl_->format; }

std::string TorchCheckpoint::describe() const {
  std::string s = fmt::format("pytorch {} {}", impl_->format == TorchFormat::kZip ? "zip" : "legacy",
                              fs::absolute(impl_->path).lexically_normal().string());
  if (!impl_->state_dict_entry.empty()) s += fmt::format(" entry={}", impl_->state_dict_entry);
  return s;
}

const fs::path& TorchCheckpoint::path() const { return impl_->path; }
const std::vector<TensorInfo>& TorchCheckpoint::tensors() const { return impl_->tensors; }
const TorchTensorLayout& TorchCheckpoint::layout(size_t index) const { return impl_->layouts.at(index); }
const std::string& TorchCheckpoint::state_dict_entry() const { return impl_->state_dict_entry; }
const std::vector<std::string>& TorchCheckpoint::other_entries() const { return impl_->other_entries; }

void TorchCheckpoint::read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end,
                                 float* dst) {
  impl_->read_block(index, row_begin, rows, col_begin, col_end, dst);
}

std::unique_ptr<sharding::ModelSource> open_torch_source(const fs::path& path, int64_t row_cap) {
  std::unique_ptr<TorchCheckpoint> checkpoint = TorchCheckpoint::open(path);
  if (!checkpoint->other_entries().empty()) {
    spdlog::info("{}: using entry '{}'; not needed: {}", path.string(), checkpoint->state_dict_entry(),
                 fmt::join(checkpoint->other_entries(), ", "));
  }
  return make_state_dict_source(std::move(checkpoint), row_cap);
}

}  // namespace dlrm::import
