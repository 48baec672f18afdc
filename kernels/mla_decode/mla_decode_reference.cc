#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/numeric.h"
#include "kernels/fp8_quant/fp8_quant.h"
#include "kernels/mla_decode/mla_decode.h"

namespace r1::kernels {

void QuantizeMlaFp8Row(const uint16_t* row, uint8_t* out) {
  for (int64_t g = 0; g < kMlaFp8Groups; ++g) {
    const uint16_t* x = row + g * kMlaFp8Group;
    float amax = 0.0f;
    for (int64_t i = 0; i < kMlaFp8Group; ++i) amax = std::max(amax, std::fabs(Bf16ToFloat(x[i])));
    const float s = std::max(amax, kFp8AmaxFloor) / kFp8E4m3Max;
    for (int64_t i = 0; i < kMlaFp8Group; ++i) {
      out[g * kMlaFp8Group + i] = FloatToFp8E4m3(Bf16ToFloat(x[i]) / s);
    }
    std::memcpy(out + kMlaFp8ScaleOffset + 4 * g, &s, sizeof s);
  }
  std::memcpy(out + kMlaFp8RopeOffset, row + kMlaLatentDim, kMlaRopeDim * sizeof(uint16_t));
}

void DequantizeMlaFp8Row(const uint8_t* row, float* out) {
  for (int64_t g = 0; g < kMlaFp8Groups; ++g) {
    float s;
    std::memcpy(&s, row + kMlaFp8ScaleOffset + 4 * g, sizeof s);
    for (int64_t i = 0; i < kMlaFp8Group; ++i) {
      const int64_t c = g * kMlaFp8Group + i;
      out[c] = RoundToBf16(Fp8E4m3ToFloat(row[c]) * s);
    }
  }
  for (int64_t i = 0; i < kMlaRopeDim; ++i) {
    uint16_t b;
    std::memcpy(&b, row + kMlaFp8RopeOffset + 2 * i, sizeof b);
    out[kMlaLatentDim + i] = Bf16ToFloat(b);
  }
}

absl::Status ValidateMlaDecode(const MlaDecodeParams& p) {
  if (p.batch < 0 || p.heads <= 0 || p.num_pages <= 0 || p.block_table_stride <= 0 ||
      p.max_seq_len < 0) {
    return absl::InvalidArgumentError("mla_decode: bad sizes");
  }
  if (p.batch == 0) return absl::OkStatus();
  if (p.q_latent == nullptr || p.q_rope == nullptr || p.block_table == nullptr ||
      p.seq_lens == nullptr) {
    return absl::InvalidArgumentError("mla_decode: null pointer");
  }
  if (p.kv_dtype != MlaKvDtype::kBf16 && p.kv_dtype != MlaKvDtype::kFp8) {
    return absl::InvalidArgumentError("mla_decode: bad kv_dtype");
  }
  const bool fp8 = p.kv_dtype == MlaKvDtype::kFp8;
  if ((p.kv_cache == nullptr) != fp8 || (p.kv_cache_fp8 == nullptr) == fp8) {
    return absl::InvalidArgumentError(
        "mla_decode: set kv_cache for the bf16 cache, kv_cache_fp8 for the fp8 cache, not both");
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
  std::vector<float> scores, kv, q(kMlaCacheDim), acc(kMlaLatentDim);
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t len = p.seq_lens[b];
    if (len < 0 || len > p.block_table_stride * kMlaPageTokens) {
      return absl::InvalidArgumentError("mla_decode: sequence length out of range");
    }
    for (int64_t blk = 0; blk * kMlaPageTokens < len; ++blk) {
      const int32_t page = p.block_table[b * p.block_table_stride + blk];
      if (page < 0 || page >= p.num_pages) return absl::InvalidArgumentError("mla_decode: page id");
    }
    // The sequence's rows as the kernel sees them (fp8: dequantised), [len][576].
    kv.resize(len * kMlaCacheDim);
    for (int64_t s = 0; s < len; ++s) {
      const int64_t slot =
          int64_t{p.block_table[b * p.block_table_stride + s / kMlaPageTokens]} * kMlaPageTokens +
          s % kMlaPageTokens;
      float* dst = kv.data() + s * kMlaCacheDim;
      if (p.kv_dtype == MlaKvDtype::kFp8) {
        DequantizeMlaFp8Row(p.kv_cache_fp8 + slot * kMlaFp8RowBytes, dst);
      } else {
        const uint16_t* row = p.kv_cache + slot * kMlaCacheDim;
        for (int64_t i = 0; i < kMlaCacheDim; ++i) dst[i] = Bf16ToFloat(row[i]);
      }
    }
    scores.assign(len, 0.0f);
    for (int64_t h = 0; h < p.heads; ++h) {
      const uint16_t* ql = p.q_latent + b * p.q_batch_stride + h * p.q_head_stride;
      const uint16_t* qr = p.q_rope + b * p.q_batch_stride + h * p.q_head_stride;
      for (int64_t i = 0; i < kMlaLatentDim; ++i) q[i] = Bf16ToFloat(ql[i]);
      for (int64_t i = 0; i < kMlaRopeDim; ++i) q[kMlaLatentDim + i] = Bf16ToFloat(qr[i]);
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < len; ++s) {
        const float* row = kv.data() + s * kMlaCacheDim;
        float dot = 0.0f;
        for (int64_t i = 0; i < kMlaCacheDim; ++i) dot += q[i] * row[i];
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
        const float* row = kv.data() + s * kMlaCacheDim;
        const float w = scores[s] / sum;
        for (int64_t i = 0; i < kMlaLatentDim; ++i) acc[i] += w * row[i];
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
