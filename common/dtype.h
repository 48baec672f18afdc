// Element types of safetensors files and their sizes. Pure functions, thread-safe.
#ifndef R1_COMMON_DTYPE_H_
#define R1_COMMON_DTYPE_H_

#include <cstddef>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace r1 {

enum class DType {
  kBool,
  kU8,
  kI8,
  kF8E4M3,
  kF8E5M2,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kI64,
  kU64,
  kF64,
};

// Parses a safetensors dtype string ("F8_E4M3", "BF16", "F32", ...).
absl::StatusOr<DType> ParseDType(absl::string_view s);
// The safetensors spelling of `d`.
absl::string_view DTypeName(DType d);
// Bytes per element.
size_t DTypeSize(DType d);

}  // namespace r1

#endif  // R1_COMMON_DTYPE_H_
