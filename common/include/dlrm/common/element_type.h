// Element types of tensors, stored rows and wire formats: one enum for the
// whole project, one parser. Each site accepts a subset (ElementTypes) and
// names it in its errors: storage types of embedding rows (fp32, fp16, int8,
// int4), pooled rows on the wire (fp32, fp16, bf16), the interaction's
// products (fp32, bf16), MLP precision (fp32, int8), ...
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace dlrm {

// kOther: a type no part of the project reads (a checkpoint's string tensor, say).
enum class ElementType : uint8_t {
  kFp32, kFp64, kFp16, kBf16, kInt8, kUint8, kInt4, kInt16, kInt32, kInt64, kBool, kOther
};
inline constexpr int kElementTypeCount = 12;

// "fp32", "fp64", "fp16", "bf16", "int8", "uint8", "int4", "int16", "int32", "int64", "bool", "other".
const char* to_string(ElementType type);
// Bits of one element (4 for int4, 8 for bool, 0 for other).
int element_bits(ElementType type);

// A set of element types.
class ElementTypes {
 public:
  constexpr ElementTypes(std::initializer_list<ElementType> types) {
    for (ElementType t : types) bits_ |= 1u << static_cast<unsigned>(t);
  }
  constexpr bool contains(ElementType type) const { return (bits_ >> static_cast<unsigned>(type)) & 1u; }
  // "fp32, fp16 or bf16", in enum order.
  std::string names() const;

 private:
  uint32_t bits_ = 0;
};

// The 16-bit float formats (half.h converts them).
inline constexpr ElementTypes kHalfTypes{ElementType::kFp16, ElementType::kBf16};

// `name` as one of `allowed`; otherwise throws dlrm::Error
// "unknown WHAT 'NAME'; choose fp32, fp16 or bf16".
ElementType parse_element_type(std::string_view name, ElementTypes allowed, std::string_view what);

}  // namespace dlrm
