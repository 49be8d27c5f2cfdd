// TorchCheckpoint's state (private to dlrm_import).
//
//   torch_checkpoint.cc  open(): tells the layouts apart; the allow-list; accessors
//   torch_tensors.cc     the pickle's state_dict -> storages and tensor layouts
//   torch_zip.cc         zip layout: data.pkl, byteorder, one entry per storage
//   torch_legacy.cc      legacy layout: five pickles, then the storage records
//   torch_read.cc        read_block(): elements of a tensor as fp32
#pragma once

#include <zip.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dlrm/import/pickle.h"
#include "dlrm/import/torch_checkpoint.h"

namespace dlrm::import {

inline constexpr char kCopyAgain[] = "copy it again";  // what to do about a truncated file

// A storage type tag (torch.FloatStorage, ...) and its elements.
struct StorageKind {
  const char* global;      // "torch.FloatStorage"
  const char* dtype_name;  // "float32"
  ElementType dtype;
  int bytes;  // per element
};

// The kind of storage type `global` ("torch.FloatStorage" or
// "torch.cuda.FloatStorage"), or nullptr.
const StorageKind* find_storage_kind(const std::string& global);

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

struct TorchCheckpoint::Impl {
  std::filesystem::path path;
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

  ~Impl();
  // "entry PREFIX/data/KEY" (zip) or "storage 'KEY'" (legacy), for messages.
  std::string entry_name(const Storage& s) const;

  // --- the pickle's content (torch_tensors.cc) --------------------------------
  // Registers the storage of persistent id `pid`; returns its index and the
  // element offset of a legacy storage view.
  std::pair<size_t, int64_t> storage_of(const pickle::Value* pid, const std::string& where);
  // A tensor value: _rebuild_tensor_v2(pid, offset, size, stride, ...) or a
  // _rebuild_parameter around it; checked to lie inside its storage.
  TorchTensorLayout tensor_of(const pickle::Value* v, const std::string& key);
  // Picks the state_dict out of the root object and records its tensors.
  void read_state_dict(const pickle::Value* root);
  // The dict holding the tensors: root or its 'state_dict' / 'model_state_dict'.
  const pickle::Value* find_state_dict(const pickle::Value* root);
  // One TensorInfo and layout per entry, a common "module." prefix removed.
  void add_tensors(const pickle::Value* dict);

  // --- zip layout (torch_zip.cc) ----------------------------------------------
  void open_zip();
  // An entry read whole (data.pkl, byteorder); "" when optional and absent.
  std::string read_small_entry(const std::string& name, uint64_t max_bytes, bool optional);
  // Finds storage `s`'s entry: present, the right size, stored uncompressed.
  void locate_zip(Storage& s);

  // --- legacy layout (torch_legacy.cc) ----------------------------------------
  pickle::Document legacy_pickle(pickle::FileSource& src, const char* what, const std::set<std::string>& allowed);
  void open_legacy();
  // The magic number, protocol version and sys_info pickles.
  void check_legacy_header(pickle::FileSource& src);
  // Storage records from byte `pos`, in the order of the key list.
  void locate_legacy(const pickle::Value* keys, uint64_t pos);

  // --- reading elements (torch_read.cc) -----------------------------------------
  // `bytes` raw bytes of storage `index` from its byte `offset`.
  void read_storage(size_t index, uint64_t offset, size_t bytes, void* dst);
  void read_block(size_t index, int64_t row_begin, int64_t rows, int64_t col_begin, int64_t col_end, float* dst);
};

}  // namespace dlrm::import
