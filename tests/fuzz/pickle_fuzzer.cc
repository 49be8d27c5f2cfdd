// libFuzzer target: the restricted unpickler on arbitrary bytes. Every input
// must either load or throw dlrm::Error: no crash, leak, hang, overflow or
// unbounded allocation (ASan + UBSan; -rss_limit_mb bounds memory).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "dlrm/common/error.h"
#include "dlrm/import/pickle.h"

namespace {

// The checkpoint allow-list (torch_checkpoint.cc), spelled out so that the
// target needs only the unpickler (pickle*.cc) and the error helpers.
const std::set<std::string>& allowed() {
  static const std::set<std::string> kAllowed = {
      "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter", "torch.FloatStorage", "torch.HalfStorage", "torch.LongStorage",
      "numpy.core.multiarray.scalar", "numpy.dtype", "_codecs.encode", "builtins.set", "builtins.frozenset"};
  return kAllowed;
}

// Walks the tree (bounded: shared values are visited once).
size_t walk(const dlrm::import::pickle::Value* v, std::set<const void*>& seen) {
  if (!v || !seen.insert(v).second) return 0;
  size_t n = 1 + v->str.size();
  for (const auto* item : v->items) n += walk(item, seen);
  for (const auto& [k, x] : v->entries) n += walk(k, seen) + walk(x, seen);
  n += walk(v->callable, seen) + walk(v->state, seen);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dlrm::import::pickle::Limits limits;
  limits.max_values = 1u << 18;
  limits.max_items = 1u << 20;
  limits.max_string_bytes = 16u << 20;
  dlrm::import::pickle::MemorySource src(data, size);
  try {
    dlrm::import::pickle::Document doc = dlrm::import::pickle::unpickle(src, "fuzz.pkl", allowed(), limits);
    if (doc.root() == nullptr) __builtin_trap();
    std::set<const void*> seen;
    walk(doc.root(), seen);
    (void)doc.root()->repr(200);
  } catch (const dlrm::Error&) {
  }
  return 0;
}
