#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/numeric.h"
#include "kernels/mla_attend/mla_attend.h"

namespace r1::kernels {

absl::Status ValidateMlaAttend(const MlaAttendParams& p) {
  if (p.batch < 0 || p.heads <= 0 || p.num_pages <= 0 || p.block_table_stride <= 0) {
    return absl::InvalidArgumentError("mla_attend: bad sizes");
  }
  if (p.latent_dim < 1 || p.latent_dim > kMlaAttendMaxLatent || p.latent_dim % 8 != 0) {
    return absl::InvalidArgumentError("mla_attend: latent_dim must be in 1..1024, a multiple of 8");
  }
  if (p.rope_dim < 0 || p.rope_dim > kMlaAttendMaxRope || p.rope_dim % 2 != 0) {
    return absl::InvalidArgumentError("mla_attend: rope_dim must be in 0..256, a multiple of 2");
  }
  if (p.q_latent == nullptr || p.q_rope == nullptr || p.kv_cache == nullptr ||
      p.block_table == nullptr || p.seq_lens == nullptr || p.out == nullptr) {
    return absl::InvalidArgumentError("mla_attend: null pointer");
  }
  // The latent and rope parts of a query share the strides, so each must cover both widths.
  const int64_t q_width = std::max(p.latent_dim, p.rope_dim);
  if (p.q_batch_stride < q_width || p.q_head_stride < q_width) {
    return absl::InvalidArgumentError("mla_attend: q strides must be >= latent_dim and rope_dim");
  }
  if (p.out_batch_stride < p.latent_dim || p.out_head_stride < p.latent_dim) {
    return absl::InvalidArgumentError("mla_attend: out strides must be >= latent_dim");
  }
  return absl::OkStatus();
}

absl::Status MlaAttendReference(const MlaAttendParams& p) {
  if (auto st = ValidateMlaAttend(p); !st.ok()) return st;
  // Check every length and every page id in use before writing anything.
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t len = p.seq_lens[b];
    if (len < 0 || len > p.block_table_stride * kMlaAttendPageTokens) {
      return absl::InvalidArgumentError("mla_attend: sequence length out of range");
    }
    for (int64_t blk = 0; blk * kMlaAttendPageTokens < len; ++blk) {
      const int32_t page = p.block_table[b * p.block_table_stride + blk];
      if (page < 0 || page >= p.num_pages) return absl::InvalidArgumentError("mla_attend: page id");
    }
  }
  const int64_t latent = p.latent_dim, rope = p.rope_dim, row_dim = latent + rope;
  std::vector<float> scores, q(row_dim), acc(latent);
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t len = p.seq_lens[b];
    const int32_t* table = p.block_table + b * p.block_table_stride;
    auto row_of = [&](int64_t s) {
      return p.kv_cache +
             (table[s / kMlaAttendPageTokens] * kMlaAttendPageTokens + s % kMlaAttendPageTokens) *
                 row_dim;
    };
    scores.assign(len, 0.0f);
    for (int64_t h = 0; h < p.heads; ++h) {
      const uint16_t* ql = p.q_latent + b * p.q_batch_stride + h * p.q_head_stride;
      const uint16_t* qr = p.q_rope + b * p.q_batch_stride + h * p.q_head_stride;
      for (int64_t i = 0; i < latent; ++i) q[i] = Bf16ToFloat(ql[i]);
      for (int64_t i = 0; i < rope; ++i) q[latent + i] = Bf16ToFloat(qr[i]);
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < len; ++s) {
        const uint16_t* row = row_of(s);
        float dot = 0.0f;
        for (int64_t i = 0; i < row_dim; ++i) dot += q[i] * Bf16ToFloat(row[i]);
        scores[s] = dot * p.softmax_scale;
        mx = std::max(mx, scores[s]);
      }
      float sum = 0.0f;
      for (int64_t s = 0; s < len; ++s) {
        scores[s] = std::exp(scores[s] - mx);
        sum += scores[s];
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t s = 0; s < len; ++s) {
        const uint16_t* row = row_of(s);
        const float w = scores[s] / sum;
        for (int64_t i = 0; i < latent; ++i) acc[i] += w * Bf16ToFloat(row[i]);
      }
      uint16_t* out = p.out + b * p.out_batch_stride + h * p.out_head_stride;
      for (int64_t i = 0; i < latent; ++i) out[i] = FloatToBf16(acc[i]);  // zeros when len == 0
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
