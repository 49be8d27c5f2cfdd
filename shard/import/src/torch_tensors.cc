// The pickle's content of a PyTorch checkpoint (see torch_checkpoint_impl.h):
// the state_dict, its tensors and the storages they view.
#include <algorithm>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "torch_checkpoint_impl.h"

namespace dlrm::import {

using pickle::Kind;
using pickle::Value;

namespace {

int64_t int_of(const Value* v, const std::string& what, const std::string& where) {
  DLRM_CHECK(v && v->kind == Kind::kInt, "{}: {} is a {}, not an integer; the checkpoint is damaged", where, what,
             v ? pickle::to_string(v->kind) : "missing value");
  return v->i;
}

std::vector<int64_t> ints_of(const Value* v, const std::string& what, const std::string& where) {
  DLRM_CHECK(v && (v->kind == Kind::kTuple || v->kind == Kind::kList), "{}: {} is a {}, not a tuple", where, what,
             v ? pickle::to_string(v->kind) : "missing value");
  std::vector<int64_t> out;
  for (const Value* item : v->items) out.push_back(int_of(item, what, where));
  return out;
}

}  // namespace

std::pair<size_t, int64_t> TorchCheckpoint::Impl::storage_of(const Value* pid, const std::string& where) {
  DLRM_ASSERT(pid->kind == Kind::kPersistentId);
  const Value* t = pid->items.empty() ? nullptr : pid->items[0];
  DLRM_CHECK(t && t->kind == Kind::kTuple && t->items.size() >= 5 && t->items[0]->is_string() &&
                 t->items[0]->str == "storage",
             "{}: unexpected persistent id {} (expected ('storage', type, key, location, size))", where,
             t ? t->repr() : "?");
  const Value* type = t->items[1];
  const StorageKind* kind = type->kind == Kind::kGlobal ? find_storage_kind(type->str) : nullptr;
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

TorchTensorLayout TorchCheckpoint::Impl::tensor_of(const Value* v, const std::string& key) {
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

void TorchCheckpoint::Impl::read_state_dict(const Value* root) {
  add_tensors(find_state_dict(root));
}

const Value* TorchCheckpoint::Impl::find_state_dict(const Value* root) {
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
  return dict;
}

void TorchCheckpoint::Impl::add_tensors(const Value* dict) {
  const std::string where = path.string();
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

}  // namespace dlrm::import
