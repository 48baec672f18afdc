#include <cstring>

#include "kernels/kv_write/kv_write.h"

namespace r1::kernels {

absl::Status ValidateKvWrite(const KvWriteParams& p) {
  if (p.tokens < 0 || p.num_pages <= 0 || p.row_dim <= 0 || p.rows_stride < p.row_dim) {
    return absl::InvalidArgumentError("kv_write: bad shape");
  }
  if (p.cache == nullptr) return absl::InvalidArgumentError("kv_write: null cache");
  if (p.tokens > 0 && (p.rows == nullptr || p.slots == nullptr)) {
    return absl::InvalidArgumentError("kv_write: null rows or slots");
  }
  return absl::OkStatus();
}

absl::Status KvWriteReference(const KvWriteParams& p) {
  if (auto st = ValidateKvWrite(p); !st.ok()) return st;
  const int64_t num_slots = p.num_pages * kKvWritePageTokens;
  // Check every slot before writing anything.
  for (int64_t i = 0; i < p.tokens; ++i) {
    if (p.slots[i] >= num_slots) return absl::InvalidArgumentError("kv_write: slot out of range");
  }
  for (int64_t i = 0; i < p.tokens; ++i) {
    const int64_t slot = p.slots[i];
    if (slot < 0) continue;  // padding token
    // slot = page·64 + row, and pages are contiguous: the row starts at slot·row_dim.
    std::memcpy(p.cache + slot * p.row_dim, p.rows + i * p.rows_stride,
                p.row_dim * sizeof(uint16_t));
  }
  return absl::OkStatus();
}

absl::Status ValidateKvWriteFp8(const KvWriteFp8Params& p) {
  if (p.tokens < 0 || p.num_pages <= 0 || p.rows_stride < kMlaCacheDim) {
    return absl::InvalidArgumentError("kv_write_fp8: bad shape");
  }
  if (p.cache == nullptr) return absl::InvalidArgumentError("kv_write_fp8: null cache");
  if (p.tokens > 0 && (p.rows == nullptr || p.slots == nullptr)) {
    return absl::InvalidArgumentError("kv_write_fp8: null rows or slots");
  }
  return absl::OkStatus();
}

absl::Status KvWriteFp8Reference(const KvWriteFp8Params& p) {
  if (auto st = ValidateKvWriteFp8(p); !st.ok()) return st;
  const int64_t num_slots = p.num_pages * kKvWritePageTokens;
  for (int64_t i = 0; i < p.tokens; ++i) {
    if (p.slots[i] >= num_slots) {
      return absl::InvalidArgumentError("kv_write_fp8: slot out of range");
    }
  }
  for (int64_t i = 0; i < p.tokens; ++i) {
    const int64_t slot = p.slots[i];
    if (slot < 0) continue;  // padding token
    QuantizeMlaFp8Row(p.rows + i * p.rows_stride, p.cache + slot * kMlaFp8RowBytes);
  }
  return absl::OkStatus();
}

absl::Status ValidateKvGather(const KvGatherParams& p) {
  if (p.tokens < 0 || p.num_pages <= 0 || p.row_dim <= 0 || p.rows_stride < p.row_dim) {
    return absl::InvalidArgumentError("kv_gather: bad shape");
  }
  if (p.cache == nullptr) return absl::InvalidArgumentError("kv_gather: null cache");
  if (p.tokens > 0 && (p.rows == nullptr || p.slots == nullptr)) {
    return absl::InvalidArgumentError("kv_gather: null rows or slots");
  }
  return absl::OkStatus();
}

absl::Status KvGatherReference(const KvGatherParams& p) {
  if (auto st = ValidateKvGather(p); !st.ok()) return st;
  const int64_t num_slots = p.num_pages * kKvWritePageTokens;
  for (int64_t i = 0; i < p.tokens; ++i) {
    if (p.slots[i] >= num_slots) return absl::InvalidArgumentError("kv_gather: slot out of range");
  }
  for (int64_t i = 0; i < p.tokens; ++i) {
    const int64_t slot = p.slots[i];
    if (slot < 0) continue;
    std::memcpy(p.rows + i * p.rows_stride, p.cache + slot * p.row_dim,
                p.row_dim * sizeof(uint16_t));
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
