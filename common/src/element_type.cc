#include "dlrm/common/element_type.h"

#include "dlrm/common/error.h"

namespace dlrm {

namespace {
constexpr const char* kNames[kElementTypeCount] = {"fp32",  "fp64",  "fp16",  "bf16",  "int8", "uint8",
                                                   "int4",  "int16", "int32", "int64", "bool", "other"};
constexpr int kBits[kElementTypeCount] = {32, 64, 16, 16, 8, 8, 4, 16, 32, 64, 8, 0};
}  // namespace

const char* to_string(ElementType type) {
  const auto i = static_cast<int>(type);
  return i < kElementTypeCount ? kNames[i] : "unknown";
}

int element_bits(ElementType type) {
  const auto i = static_cast<int>(type);
  DLRM_ASSERT(i < kElementTypeCount);
  return kBits[i];
}

std::string ElementTypes::names() const {
  std::string out;
  int left = 0;
  for (int i = 0; i < kElementTypeCount; ++i) left += contains(static_cast<ElementType>(i));
  for (int i = 0; i < kElementTypeCount; ++i) {
    if (!contains(static_cast<ElementType>(i))) continue;
    --left;
    out += kNames[i];
    if (left > 1) out += ", ";
    if (left == 1) out += " or ";
  }
  return out;
}

ElementType parse_element_type(std::string_view name, ElementTypes allowed, std::string_view what) {
  for (int i = 0; i < kElementTypeCount; ++i) {
    const auto type = static_cast<ElementType>(i);
    if (allowed.contains(type) && name == kNames[i]) return type;
  }
  DLRM_FAIL("unknown {} '{}'; choose {}", what, name, allowed.names());
}

}  // namespace dlrm
