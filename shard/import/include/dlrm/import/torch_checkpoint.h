// PyTorch checkpoints (.pt, .pth) read without executing them.
//
// Two layouts, told apart by their first bytes:
//   zip (torch.save since PyTorch 1.6): PREFIX/data.pkl holds the pickle;
//     each storage is the uncompressed entry PREFIX/data/KEY, read by seeking
//     inside the entry; PREFIX/byteorder, when present, must say "little".
//   legacy (_use_new_zipfile_serialization=False, PyTorch < 1.6): five pickles
//     in a row (magic number 0x1950a86a20f9469cfc6c, protocol version 1001,
//     sys_info {little_endian, type_sizes}, the object, the sorted list of
//     storage keys), then for each key of that list: int64 element count
//     (little-endian) and the raw little-endian elements.
// In both, a tensor is
//   torch._utils._rebuild_tensor_v2(pid, storage_offset, size, stride, ...)
//     pid = ('storage', torch.FloatStorage, key, location, numel[, view_metadata])
// (a parameter wraps it in _rebuild_parameter); the location (cpu, cuda:0) is
// ignored. Tensors of rank <= 2 with any strides inside their storage.
//
// The object is a state_dict, or a dict holding one under 'state_dict' (or
// 'model_state_dict') beside other entries (epoch, losses, optimizer state),
// which are parsed but not used. A "module." prefix on every key
// (DataParallel) is removed.
//
// Refused, naming the file (and entry or tensor): a global outside
// torch_allowed_globals() anywhere in the file (os.system, the class of a
// pickled nn.Module, ...), before anything is read; tar checkpoints
// (PyTorch < 0.4); compressed storage entries; big-endian checkpoints; a
// storage shorter than its tensors or than its record says; duplicate keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dlrm/sharding/source.h"
#include "dlrm/import/state_dict.h"

namespace dlrm::import {

// collections.OrderedDict; torch._utils._rebuild_tensor(_v2),
// _rebuild_parameter(_with_state); torch.{Float,Half,BFloat16,Double,Long,
// Int,Short,Char,Byte,Bool}Storage and their torch.cuda.* twins (type tags);
// inert data types seen in training checkpoints' extra entries, recorded and
// never called: numpy scalars, dtypes and arrays
// (numpy.core.multiarray.scalar / _reconstruct, also as numpy._core,
// numpy.dtype, numpy.ndarray); and the data-only constructors _codecs.encode
// and builtins.set / frozenset (see pickle.h). Nothing else: no torch.device,
// no module classes, no callable that could run code.
const std::set<std::string>& torch_allowed_globals();

enum class TorchFormat { kZip, kLegacy };

struct TorchTensorLayout {
  size_t storage = 0;           // index into the checkpoint's storages
  int64_t storage_offset = 0;   // in elements
  std::vector<int64_t> size;
  std::vector<int64_t> stride;  // in elements
};

class TorchCheckpoint final : public TensorStore {
 public:
  // Parses the pickle(s) and locates every storage; reads no tensor data.
  // Throws dlrm::Error naming the file and entry on any problem.
  static std::unique_ptr<TorchCheckpoint> open(const std::filesystem::path& path);
  ~TorchCheckpoint() override;

  TorchFormat format() const;
  std::string describe() const override;
  const std::filesystem::path& path() const override;
  const std::vector<TensorInfo>& tensors() const override;
  void read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end,
                  float* dst) override;
  const TorchTensorLayout& layout(size_t index) const;
  // The top-level entry holding the state_dict ("state_dict"), "" for a bare one.
  const std::string& state_dict_entry() const;
  // Top-level entries beside the state_dict ("epoch", "opt_state_dict"), if any.
  const std::vector<std::string>& other_entries() const;

  struct Impl;

 private:
  explicit TorchCheckpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A ModelSource over TorchCheckpoint::open(path) (hook for open_import_source).
std::unique_ptr<sharding::ModelSource> open_torch_source(const std::filesystem::path& path, int64_t row_cap);

}  // namespace dlrm::import
