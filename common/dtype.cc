#include "common/dtype.h"

#include <array>

#include "absl/strings/str_cat.h"

namespace r1 {
namespace {

struct DTypeInfo {
  DType dtype;
  absl::string_view name;
  size_t size;
};

constexpr std::array<DTypeInfo, 15> kDTypes = {{
    {DType::kBool, "BOOL", 1},
    {DType::kU8, "U8", 1},
    {DType::kI8, "I8", 1},
    {DType::kF8E4M3, "F8_E4M3", 1},
    {DType::kF8E5M2, "F8_E5M2", 1},
    {DType::kI16, "I16", 2},
    {DType::kU16, "U16", 2},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kI32, "I32", 4},
    {DType::kU32, "U32", 4},
    {DType::kF32, "F32", 4},
    {DType::kI64, "I64", 8},
    {DType::kU64, "U64", 8},
    {DType::kF64, "F64", 8},
}};

}  // namespace

absl::StatusOr<DType> ParseDType(absl::string_view s) {
  for (const auto& d : kDTypes) {
    if (d.name == s) return d.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", s, "'"));
}

absl::string_view DTypeName(DType d) { return kDTypes[static_cast<size_t>(d)].name; }

size_t DTypeSize(DType d) { return kDTypes[static_cast<size_t>(d)].size; }

}  // namespace r1
