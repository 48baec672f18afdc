// Small file helpers with explicit size bounds. Thread-safe (no shared state).
#ifndef R1_COMMON_FILE_UTIL_H_
#define R1_COMMON_FILE_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace r1 {

// Reads a whole file, refusing files larger than `max_bytes` (error names the path).
absl::StatusOr<std::string> ReadFileBounded(const std::string& path, uint64_t max_bytes);

// Writes `data` to `path` atomically (temp file + rename).
absl::Status WriteFileAtomic(const std::string& path, const std::string& data);

}  // namespace r1

#endif  // R1_COMMON_FILE_UTIL_H_
