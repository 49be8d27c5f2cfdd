// The legacy layout of PyTorch checkpoints (torch.save with
// _use_new_zipfile_serialization=False, see torch_checkpoint.h): five pickles
// in a row, then one record per storage (int64 element count, elements).
#include <cerrno>
#include <cstring>

#include "dlrm/common/error.h"
#include "dlrm/common/staged_output.h"
#include "torch_checkpoint_impl.h"

namespace dlrm::import {

using pickle::Kind;
using pickle::Value;

namespace {

// The allow-list of the pickles that hold no object: none.
const std::set<std::string>& no_globals() {
  static const std::set<std::string> kNone;
  return kNone;
}

}  // namespace

pickle::Document TorchCheckpoint::Impl::legacy_pickle(pickle::FileSource& src, const char* what,
                                                      const std::set<std::string>& allowed) {
  return pickle::unpickle(src, fmt::format("{} ({} pickle)", path.string(), what), allowed);
}

void TorchCheckpoint::Impl::open_legacy() {
  format = TorchFormat::kLegacy;
  file = std::fopen(path.c_str(), "rb");
  DLRM_CHECK(file != nullptr, "cannot open {}: {}", path.string(), std::strerror(errno));
  pickle::FileSource src(file, 0, file_bytes);
  check_legacy_header(src);
  pickle::Document doc = legacy_pickle(src, "object", torch_allowed_globals());
  pickle::Document keys = legacy_pickle(src, "storage keys", no_globals());
  const std::string where = fmt::format("{} (object pickle)", path.string());
  for (const Value* pid : doc.persistent_ids()) storage_of(pid, where);
  read_state_dict(doc.root());
  locate_legacy(keys.root(), src.position());
}

void TorchCheckpoint::Impl::check_legacy_header(pickle::FileSource& src) {
  {
    pickle::Document magic = legacy_pickle(src, "magic number", no_globals());
    // 0x1950a86a20f9469cfc6c as LONG1 little-endian bytes.
    static const std::string kMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
    DLRM_CHECK(magic.root()->kind == Kind::kBigInt && magic.root()->str == kMagic,
               "{}: not a PyTorch checkpoint (the first pickle is {}, not torch's magic number)", path.string(),
               magic.root()->repr(60));
  }
  {
    pickle::Document version = legacy_pickle(src, "protocol version", no_globals());
    DLRM_CHECK(version.root()->kind == Kind::kInt && version.root()->i == 1001,
               "{}: legacy checkpoint protocol version {} is not supported (only 1001)", path.string(),
               version.root()->repr(40));
  }
  {
    pickle::Document info = legacy_pickle(src, "sys_info", no_globals());
    const Value* little = info.root()->get("little_endian");
    DLRM_CHECK(!little || little->kind != Kind::kBool || little->b,
               "{}: the checkpoint was written on a big-endian machine; only little-endian checkpoints are "
               "supported",
               path.string());
  }
}

void TorchCheckpoint::Impl::locate_legacy(const Value* keys, uint64_t pos) {
  // Storage records follow the key list: int64 element count, then the elements.
  DLRM_CHECK(keys->kind == Kind::kList, "{}: the storage key list is a {}; the checkpoint is damaged",
             path.string(), pickle::to_string(keys->kind));
  for (const Value* k : keys->items) {
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

}  // namespace dlrm::import
