// The zip layout of PyTorch checkpoints (see torch_checkpoint.h): PREFIX/data.pkl,
// PREFIX/byteorder and one uncompressed entry PREFIX/data/KEY per storage.
#include "dlrm/common/error.h"
#include "dlrm/common/zip.h"
#include "torch_checkpoint_impl.h"

namespace dlrm::import {

using pickle::Value;

namespace {

constexpr uint64_t kMaxPickleBytes = 256ull << 20;  // a larger data.pkl is refused

}  // namespace

void TorchCheckpoint::Impl::open_zip() {
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

std::string TorchCheckpoint::Impl::read_small_entry(const std::string& name, uint64_t max_bytes, bool optional) {
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

void TorchCheckpoint::Impl::locate_zip(Storage& s) {
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

}  // namespace dlrm::import
