#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/numeric.h"
#include "kernels/mla_decode/mla_decode.h"

namespace r1::kernels {

absl::Status ValidateMlaDecode(const MlaDecodeParams& p) {
  if (p.batch < 0 || p.heads <= 0 || p.num_pages <= 0 || p.block_table_stride <= 0 ||
      p.max_seq_len < 0) {
    return absl::InvalidArgumentError("mla_decode: bad sizes");
  }
  if (p.batch == 0) return absl::OkStatus();
  if (p.q_latent == nullptr || p.q_rope == nullptr || p.kv_cache == nullptr ||
      p.block_table == nullptr || p.seq_lens == nullptr) {
    return absl::InvalidArgumentError("mla_decode: null pointer");
  }
  if ((p.out == nullptr) == (p.out_bf16 == nullptr)) {
    return absl::InvalidArgumentError("mla_decode: exactly one of out / out_bf16 must be set");
  }
  if (p.q_head_stride <= 0 || p.q_batch_stride <= 0) {
    return absl::InvalidArgumentError("mla_decode: q strides must be positive");
  }
  if (!(p.softmax_scale > 0)) return absl::InvalidArgumentError("mla_decode: softmax_scale <= 0");
  return absl::OkStatus();
}

absl::Status MlaDecodeReference(const MlaDecodeParams& p) {
  if (auto st = ValidateMlaDecode(p); !st.ok()) return st;
  std::vector<float> scores, q(kMlaCacheDim), acc(kMlaLatentDim);
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t len = p.seq_lens[b];
    if (len < 0 || len > p.block_table_stride * kMlaPageTokens) {
      return absl::InvalidArgumentError("mla_decode: sequence length out of range");
    }
    for (int64_t blk = 0; blk * kMlaPageTokens < len; ++blk) {
      const int32_t page = p.block_table[b * p.block_table_stride + blk];
      if (page < 0 || page >= p.num_pages) return absl::InvalidArgumentError("mla_decode: page id");
    }
    scores.assign(len, 0.0f);
    for (int64_t h = 0; h < p.heads; ++h) {
      const uint16_t* ql = p.q_latent + b * p.q_batch_stride + h * p.q_head_stride;
      const uint16_t* qr = p.q_rope + b * p.q_batch_stride + h * p.q_head_stride;
      for (int64_t i = 0; i < kMlaLatentDim; ++i) q[i] = Bf16ToFloat(ql[i]);
      for (int64_t i = 0; i < kMlaRopeDim; ++i) q[kMlaLatentDim + i] = Bf16ToFloat(qr[i]);
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < len; ++s) {
        const int32_t page = p.block_table[b * p.block_table_stride + s / kMlaPageTokens];
        const uint16_t* row =
            p.kv_cache + (page * kMlaPageTokens + s % kMlaPageTokens) * kMlaCacheDim;
        float dot = 0.0f;
        for (int64_t i = 0; i < kMlaCacheDim; ++i) dot += q[i] * Bf16ToFloat(row[i]);
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
        const int32_t page = p.block_table[b * p.block_table_stride + s / kMlaPageTokens];
        const uint16_t* row =
            p.kv_cache + (page * kMlaPageTokens + s % kMlaPageTokens) * kMlaCacheDim;
        const float w = scores[s] / sum;
        for (int64_t i = 0; i < kMlaLatentDim; ++i) acc[i] += w * Bf16ToFloat(row[i]);
      }
      const int64_t o = (b * p.heads + h) * kMlaLatentDim;
      for (int64_t i = 0; i < kMlaLatentDim; ++i) {
        if (p.out) {
          p.out[o + i] = acc[i];
        } else {
          p.out_bf16[o + i] = FloatToBf16(acc[i]);
        }
      }
    }
  }
  return absl::OkStatus();
}

size_t MlaDecodeWorkspaceBytes(int64_t batch, int64_t heads, int splits) {
  if (splits <= 1) return 0;
  return static_cast<size_t>(batch * splits * heads) * (kMlaLatentDim + 1) * sizeof(float);
}

MlaDecodeConfig ChooseMlaDecodeConfig(int64_t batch, int64_t heads, int64_t max_seq_len,
                                      int sm_count) {
  MlaDecodeConfig c;
  const int64_t ctas = batch * ((heads + 63) / 64);
  const int64_t blocks = (max_seq_len + kMlaPageTokens - 1) / kMlaPageTokens;
  const int64_t sms = std::max(1, sm_count);
  if (ctas <= 0 || blocks <= 1) return c;
  // Cost model: a CTA's time is its KV blocks plus ~1 block of fixed work (query load,
  // epilogue, the combine's share); CTAs run in waves of `sms`.
  double best = -1;
  for (int64_t s = 1; s <= std::min<int64_t>(blocks, 64); ++s) {
    const int64_t waves = (ctas * s + sms - 1) / sms;
    const double cost = static_cast<double>(waves) * (((blocks + s - 1) / s) + 1.0);
    if (best < 0 || cost < best - 1e-9) {
      best = cost;
      c.splits = static_cast<int>(s);
    }
  }
  c.workspace_bytes = MlaDecodeWorkspaceBytes(batch, heads, c.splits);
  return c;
}

}  // namespace r1::kernels
