#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/numeric.h"
#include "kernels/mla_prefill/mla_prefill.h"

namespace r1::kernels {

absl::Status ValidateMlaPrefill(const MlaPrefillParams& p) {
  if (p.heads <= 0 || p.nope_dim <= 0 || p.v_dim <= 0) {
    return absl::InvalidArgumentError("mla_prefill: heads, nope_dim and v_dim must be > 0");
  }
  if (p.rope_dim < 0 || p.rope_dim % 2 != 0) {
    return absl::InvalidArgumentError("mla_prefill: rope_dim must be >= 0 and even");
  }
  if (p.nope_dim + p.rope_dim > kMlaPrefillMaxDim || p.v_dim > kMlaPrefillMaxDim) {
    return absl::InvalidArgumentError("mla_prefill: nope_dim + rope_dim and v_dim must be <= 256");
  }
  if (p.tokens < 0 || p.q_start < 0 || p.kv_len < p.q_start + p.tokens) {
    return absl::InvalidArgumentError(
        "mla_prefill: need tokens >= 0, q_start >= 0, kv_len >= q_start + tokens");
  }
  if (!(p.softmax_scale > 0.0f) || !std::isfinite(p.softmax_scale)) {
    return absl::InvalidArgumentError("mla_prefill: softmax_scale must be finite and > 0");
  }
  const int64_t qk = p.nope_dim + p.rope_dim, kv_width = p.nope_dim + p.v_dim;
  if (p.q_token_stride < qk || p.q_head_stride < qk) {
    return absl::InvalidArgumentError("mla_prefill: q strides must be >= nope_dim + rope_dim");
  }
  if (p.kv_token_stride < kv_width || p.kv_head_stride < kv_width) {
    return absl::InvalidArgumentError("mla_prefill: kv strides must be >= nope_dim + v_dim");
  }
  if (p.rope_dim > 0 && p.k_rope_stride < p.rope_dim) {
    return absl::InvalidArgumentError("mla_prefill: k_rope_stride must be >= rope_dim");
  }
  if (p.out_token_stride < p.v_dim || p.out_head_stride < p.v_dim) {
    return absl::InvalidArgumentError("mla_prefill: out strides must be >= v_dim");
  }
  // Outputs must not overlap: the larger stride has to step over the whole other dimension.
  if (p.tokens > 1 && p.heads > 1) {
    const bool ok = p.out_head_stride <= p.out_token_stride
                        ? p.out_token_stride >= p.heads * p.out_head_stride
                        : p.out_head_stride >= p.tokens * p.out_token_stride;
    if (!ok) return absl::InvalidArgumentError("mla_prefill: out strides make outputs overlap");
  }
  if (p.tokens > 0 && (p.q == nullptr || p.kv == nullptr || p.out == nullptr ||
                       (p.rope_dim > 0 && p.k_rope == nullptr))) {
    return absl::InvalidArgumentError("mla_prefill: null pointer");
  }
  return absl::OkStatus();
}

absl::Status MlaPrefillReference(const MlaPrefillParams& p) {
  if (auto st = ValidateMlaPrefill(p); !st.ok()) return st;
  const int64_t nope = p.nope_dim, rope = p.rope_dim, vd = p.v_dim;
  std::vector<float> q(nope + rope), scores, acc(vd);
  for (int64_t h = 0; h < p.heads; ++h) {
    for (int64_t t = 0; t < p.tokens; ++t) {
      const uint16_t* qp = p.q + t * p.q_token_stride + h * p.q_head_stride;
      for (int64_t i = 0; i < nope + rope; ++i) q[i] = Bf16ToFloat(qp[i]);
      const int64_t visible = p.q_start + t + 1;  // positions 0 .. q_start + t
      scores.assign(visible, 0.0f);
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < visible; ++s) {
        const uint16_t* kn = p.kv + s * p.kv_token_stride + h * p.kv_head_stride;
        float dot = 0.0f;
        for (int64_t i = 0; i < nope; ++i) dot += q[i] * Bf16ToFloat(kn[i]);
        if (rope > 0) {  // k_rope may be null without rope
          const uint16_t* kr = p.k_rope + s * p.k_rope_stride;
          for (int64_t i = 0; i < rope; ++i) dot += q[nope + i] * Bf16ToFloat(kr[i]);
        }
        scores[s] = dot * p.softmax_scale;
        mx = std::max(mx, scores[s]);
      }
      float sum = 0.0f;
      for (int64_t s = 0; s < visible; ++s) {
        scores[s] = std::exp(scores[s] - mx);
        sum += scores[s];
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t s = 0; s < visible; ++s) {
        const uint16_t* v = p.kv + s * p.kv_token_stride + h * p.kv_head_stride + nope;
        const float w = scores[s] / sum;
        for (int64_t i = 0; i < vd; ++i) acc[i] += w * Bf16ToFloat(v[i]);
      }
      uint16_t* out = p.out + t * p.out_token_stride + h * p.out_head_stride;
      for (int64_t i = 0; i < vd; ++i) out[i] = FloatToBf16(acc[i]);
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
