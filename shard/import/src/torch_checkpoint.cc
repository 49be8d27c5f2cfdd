// PyTorch checkpoints, zip and legacy layouts (see torch_checkpoint.h and,
// for the parts, torch_checkpoint_impl.h): telling the layouts apart, the
// allow-list and the storage types.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "dlrm/common/error.h"
#include "dlrm/import/torch_checkpoint.h"
#include "torch_checkpoint_impl.h"

namespace fs = std::filesystem;

namespace dlrm::import {

namespace {

// The storage type tags torch.save writes and their elements.
constexpr StorageKind kStorageKinds[] = {
    {"torch.FloatStorage", "float32", ElementType::kFp32, 4},
    {"torch.HalfStorage", "float16", ElementType::kFp16, 2},
    {"torch.BFloat16Storage", "bfloat16", ElementType::kBf16, 2},
    {"torch.DoubleStorage", "float64", ElementType::kFp64, 8},
    {"torch.LongStorage", "int64", ElementType::kInt64, 8},
    {"torch.IntStorage", "int32", ElementType::kInt32, 4},
    {"torch.ShortStorage", "int16", ElementType::kInt16, 2},
    {"torch.CharStorage", "int8", ElementType::kInt8, 1},
    {"torch.ByteStorage", "uint8", ElementType::kUint8, 1},
    {"torch.BoolStorage", "bool", ElementType::kBool, 1},
};

}  // namespace

const StorageKind* find_storage_kind(const std::string& global) {
  // torch.cuda.FloatStorage (old GPU checkpoints) holds the same bytes as torch.FloatStorage.
  std::string name = global;
  if (name.rfind("torch.cuda.", 0) == 0) name = "torch." + name.substr(11);
  for (const StorageKind& k : kStorageKinds) {
    if (name == k.global) return &k;
  }
  return nullptr;
}

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
    // Storage type tags: torch.X and, in old GPU checkpoints, torch.cuda.X.
    for (const StorageKind& k : kStorageKinds) {
      names.insert(k.global);
      names.insert(std::string("torch.cuda.") + (k.global + 6));
    }
    return names;
  }();
  return kAllowed;
}

TorchCheckpoint::Impl::~Impl() {
  if (entry) zip_fclose(entry);
  if (zip) zip_discard(zip);
  if (file) std::fclose(file);
}

std::string TorchCheckpoint::Impl::entry_name(const Storage& s) const {
  return format == TorchFormat::kZip ? fmt::format("entry {}data/{}", prefix, s.key)
                                     : fmt::format("storage '{}'", s.key);
}

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
