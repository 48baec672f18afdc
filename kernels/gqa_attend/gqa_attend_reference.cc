#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/numeric.h"
#include "kernels/gqa_attend/gqa_attend.h"

namespace r1::kernels {

absl::Status ValidateGqaAttend(const GqaAttendParams& p) {
  if (p.tokens < 0 || p.heads <= 0 || p.kv_heads <= 0 || p.heads % p.kv_heads != 0 ||
      p.head_dim <= 0 || p.head_dim % 8 != 0 || p.num_pages <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("gqa_attend: bad shape (heads ", p.heads,
                                                   ", kv_heads ", p.kv_heads, ", head_dim ",
                                                   p.head_dim, ", pages ", p.num_pages, ")"));
  }
  const int64_t qw = int64_t{p.heads} * p.head_dim, kvw = int64_t{p.kv_heads} * p.head_dim;
  if (p.q_stride < qw || p.out_stride < qw || p.row_stride < kvw ||
      p.page_stride < kGqaPageTokens * p.row_stride || p.block_table_stride <= 0) {
    return absl::InvalidArgumentError("gqa_attend: bad strides");
  }
  if (p.tokens == 0) return absl::OkStatus();
  if (p.q == nullptr || p.k_cache == nullptr || p.v_cache == nullptr || p.block_table == nullptr ||
      p.seq_lens == nullptr || p.out == nullptr) {
    return absl::InvalidArgumentError("gqa_attend: null pointer");
  }
  if (p.max_seq_len < 0 || p.max_seq_len > p.block_table_stride * kGqaPageTokens) {
    return absl::InvalidArgumentError(absl::StrCat("gqa_attend: max_seq_len ", p.max_seq_len,
                                                   " beyond the block table's ",
                                                   p.block_table_stride, " pages"));
  }
  return absl::OkStatus();
}

GqaAttendConfig ChooseGqaAttendConfig(int64_t tokens, int heads, int kv_heads, int head_dim,
                                      int64_t max_seq_len, int sm_count) {
  GqaAttendConfig c;
  const int64_t group = kv_heads > 0 ? std::max(heads / kv_heads, 1) : 1;
  const int64_t head_groups = (group + kGqaMaxHeadsPerCta - 1) / kGqaMaxHeadsPerCta;
  const int64_t base = std::max<int64_t>(tokens * kv_heads * head_groups, 1);
  const int64_t len = std::max<int64_t>(max_seq_len, 1);
  const int64_t most = std::max<int64_t>((len + 255) / 256, 1);  // chunks of ≥ 256 positions
  const int64_t sms = std::max(sm_count, 1);
  const int64_t want = base >= sms ? 1 : (2 * sms + base - 1) / base;
  c.splits = std::clamp<int64_t>(want, 1, most);
  c.chunk = ((len + c.splits - 1) / c.splits + 127) / 128 * 128;
  c.splits = (len + c.chunk - 1) / c.chunk;
  if (c.splits > 1) {
    c.workspace_bytes = static_cast<size_t>(tokens) * heads * c.splits * (head_dim + 1) * 4;
  }
  return c;
}

absl::Status GqaAttendReference(const GqaAttendParams& p) {
  if (auto st = ValidateGqaAttend(p); !st.ok()) return st;
  const int D = p.head_dim, group = p.heads / p.kv_heads;
  std::vector<float> score, acc(D);
  for (int64_t t = 0; t < p.tokens; ++t) {
    const int64_t len = p.seq_lens[t];
    if (len > p.block_table_stride * kGqaPageTokens) {
      return absl::InvalidArgumentError(absl::StrCat("gqa_attend: token ", t, " sees ", len,
                                                     " positions, beyond its block table"));
    }
    std::vector<int64_t> base(std::max<int64_t>(len, 0));
    for (int64_t s = 0; s < len; ++s) {
      const int64_t page = p.block_table[t * p.block_table_stride + s / kGqaPageTokens];
      if (page < 0 || page >= p.num_pages) {
        return absl::InvalidArgumentError(absl::StrCat("gqa_attend: token ", t, ": page ", page,
                                                       " outside [0, ", p.num_pages, ")"));
      }
      base[s] = page * p.page_stride + (s % kGqaPageTokens) * p.row_stride;
    }
    for (int h = 0; h < p.heads; ++h) {
      const int64_t g = h / group;
      const uint16_t* q = p.q + t * p.q_stride + int64_t{h} * D;
      uint16_t* o = p.out + t * p.out_stride + int64_t{h} * D;
      if (len <= 0) {
        std::fill(o, o + D, uint16_t{0});
        continue;
      }
      score.assign(len, 0.0f);
      float m = -INFINITY;
      for (int64_t s = 0; s < len; ++s) {
        const uint16_t* k = p.k_cache + base[s] + g * D;
        float dot = 0.0f;
        for (int j = 0; j < D; ++j) dot += Bf16ToFloat(q[j]) * Bf16ToFloat(k[j]);
        score[s] = dot * p.softmax_scale;
        m = std::max(m, score[s]);
      }
      float sum = 0.0f;
      for (int64_t s = 0; s < len; ++s) {
        score[s] = std::exp(score[s] - m);
        sum += score[s];
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t s = 0; s < len; ++s) {
        const uint16_t* v = p.v_cache + base[s] + g * D;
        for (int j = 0; j < D; ++j) acc[j] += score[s] * Bf16ToFloat(v[j]);
      }
      for (int j = 0; j < D; ++j) o[j] = FloatToBf16(acc[j] / sum);
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
