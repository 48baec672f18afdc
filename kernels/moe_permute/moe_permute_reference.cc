#include <algorithm>
#include <cstring>
#include <vector>

#include "common/numeric.h"
#include "kernels/moe_permute/moe_permute.h"

namespace r1::kernels {

absl::Status ValidateMoePermute(const MoePermuteParams& p) {
  if (p.tokens < 0 || p.top_k <= 0 || p.experts <= 0 || p.experts > 1024 ||
      p.tokens * p.top_k > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError("moe_permute: bad sizes");
  }
  if (p.expert_offsets == nullptr ||
      (p.tokens > 0 && (p.topk_ids == nullptr || p.perm_src == nullptr || p.inv_perm == nullptr))) {
    return absl::InvalidArgumentError("moe_permute: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MoePermuteReference(const MoePermuteParams& p) {
  if (auto st = ValidateMoePermute(p); !st.ok()) return st;
  const int64_t pairs = p.tokens * p.top_k;
  std::vector<int32_t> cursor(p.experts + 1, 0);
  for (int64_t i = 0; i < pairs; ++i) {
    const int32_t e = p.topk_ids[i];
    if (e >= 0 && e < p.experts) ++cursor[e + 1];
  }
  for (int e = 0; e < p.experts; ++e) cursor[e + 1] += cursor[e];
  for (int e = 0; e <= p.experts; ++e) p.expert_offsets[e] = cursor[e];
  for (int64_t i = 0; i < pairs; ++i) {
    const int32_t e = p.topk_ids[i];
    if (e < 0 || e >= p.experts) {
      p.inv_perm[i] = -1;
      continue;
    }
    const int32_t pos = cursor[e]++;
    p.perm_src[pos] = static_cast<int32_t>(i);
    p.inv_perm[i] = pos;
  }
  return absl::OkStatus();
}

absl::Status ValidateMoeGatherRows(const MoeGatherRowsParams& p) {
  if (p.rows < 0 || p.row_bytes <= 0 || p.src_stride < p.row_bytes || p.dst_stride < p.row_bytes ||
      p.top_k <= 0) {
    return absl::InvalidArgumentError("moe_gather_rows: bad sizes");
  }
  if (p.rows > 0 && (p.src == nullptr || p.dst == nullptr || p.perm_src == nullptr)) {
    return absl::InvalidArgumentError("moe_gather_rows: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MoeGatherRowsReference(const MoeGatherRowsParams& p) {
  if (auto st = ValidateMoeGatherRows(p); !st.ok()) return st;
  const int64_t rows = p.valid_rows ? std::min<int64_t>(p.rows, *p.valid_rows) : p.rows;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = p.perm_src[r] / p.top_k;
    std::memcpy(p.dst + r * p.dst_stride, p.src + t * p.src_stride, p.row_bytes);
  }
  return absl::OkStatus();
}

absl::Status ValidateMoeGatherScales(const MoeGatherScalesParams& p) {
  if (p.rows < 0 || p.groups <= 0 || p.dst_ld < p.rows || p.src_ld <= 0 || p.top_k <= 0) {
    return absl::InvalidArgumentError("moe_gather_scales: bad sizes");
  }
  if (p.rows > 0 && (p.src == nullptr || p.dst == nullptr || p.perm_src == nullptr)) {
    return absl::InvalidArgumentError("moe_gather_scales: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MoeGatherScalesReference(const MoeGatherScalesParams& p) {
  if (auto st = ValidateMoeGatherScales(p); !st.ok()) return st;
  const int64_t rows = p.valid_rows ? std::min<int64_t>(p.rows, *p.valid_rows) : p.rows;
  for (int64_t g = 0; g < p.groups; ++g) {
    for (int64_t r = 0; r < rows; ++r) {
      p.dst[g * p.dst_ld + r] = p.src[g * p.src_ld + p.perm_src[r] / p.top_k];
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMoeCombine(const MoeCombineParams& p) {
  if (p.tokens < 0 || p.top_k <= 0 || p.dim <= 0) {
    return absl::InvalidArgumentError("moe_combine: bad sizes");
  }
  if (p.tokens > 0 &&
      (p.y == nullptr || p.inv_perm == nullptr || p.weights == nullptr || p.out == nullptr)) {
    return absl::InvalidArgumentError("moe_combine: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MoeCombineReference(const MoeCombineParams& p) {
  if (auto st = ValidateMoeCombine(p); !st.ok()) return st;
  std::vector<float> acc(p.dim);
  for (int64_t t = 0; t < p.tokens; ++t) {
    for (int64_t d = 0; d < p.dim; ++d) acc[d] = p.add ? Bf16ToFloat(p.add[t * p.dim + d]) : 0.0f;
    for (int j = 0; j < p.top_k; ++j) {
      const int32_t row = p.inv_perm[t * p.top_k + j];
      if (row < 0) continue;
      const float w = p.weights[t * p.top_k + j];
      for (int64_t d = 0; d < p.dim; ++d) acc[d] += w * Bf16ToFloat(p.y[row * p.dim + d]);
    }
    for (int64_t d = 0; d < p.dim; ++d) p.out[t * p.dim + d] = FloatToBf16(acc[d]);
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
