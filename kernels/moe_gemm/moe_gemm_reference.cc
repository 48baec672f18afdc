#include <algorithm>
#include <vector>

#include "common/numeric.h"
#include "kernels/int4_quant/int4_quant.h"
#include "kernels/moe_gemm/moe_gemm.h"

namespace r1::kernels {
namespace {

absl::Status CheckCommon(int64_t tokens, int64_t experts, int64_t n, int64_t k, const void* x,
                         const void* w, const void* ws, const void* off, const void* out) {
  if (tokens < 0 || experts <= 0 || n <= 0 || k <= 0 || k % 128 != 0) {
    return absl::InvalidArgumentError("moe_gemm: need tokens ≥ 0, experts, n > 0, k % 128 == 0");
  }
  if (x == nullptr || w == nullptr || ws == nullptr || off == nullptr || out == nullptr) {
    return absl::InvalidArgumentError("moe_gemm: null pointer");
  }
  return absl::OkStatus();
}

absl::Status CheckOffsets(const int32_t* off, int64_t experts, int64_t tokens) {
  if (off[0] < 0) return absl::InvalidArgumentError("moe_gemm: offsets[0] < 0");
  for (int64_t e = 0; e < experts; ++e) {
    if (off[e + 1] < off[e]) return absl::InvalidArgumentError("moe_gemm: offsets decrease");
  }
  if (off[experts] > tokens) return absl::InvalidArgumentError("moe_gemm: offsets past tokens");
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateMoeGemmFp8(const MoeGemmFp8Params& p) {
  if (auto st =
          CheckCommon(p.tokens, p.experts, p.n, p.k, p.x, p.w, p.w_scale, p.expert_offsets, p.out);
      !st.ok()) {
    return st;
  }
  if (p.x_scale == nullptr) return absl::InvalidArgumentError("moe_gemm: null x_scale");
  if (p.x_scale_ld < p.tokens) return absl::InvalidArgumentError("moe_gemm: x_scale_ld < tokens");
  if (p.w_scale_ld < p.k / 128) return absl::InvalidArgumentError("moe_gemm: w_scale_ld < k/128");
  return absl::OkStatus();
}

absl::Status ValidateMoeGemmInt4(const MoeGemmInt4Params& p) {
  return CheckCommon(p.tokens, p.experts, p.n, p.k, p.x, p.w, p.w_scale, p.expert_offsets, p.out);
}

absl::Status MoeGemmFp8Reference(const MoeGemmFp8Params& p) {
  if (auto st = ValidateMoeGemmFp8(p); !st.ok()) return st;
  if (auto st = CheckOffsets(p.expert_offsets, p.experts, p.tokens); !st.ok()) return st;
  const int64_t kb_count = p.k / 128, nb_count = (p.n + 127) / 128;
  std::vector<float> xf(p.k);
  for (int64_t e = 0; e < p.experts; ++e) {
    const uint8_t* w = p.w + e * p.n * p.k;
    const float* ws = p.w_scale + e * nb_count * p.w_scale_ld;
    for (int64_t t = p.expert_offsets[e]; t < p.expert_offsets[e + 1]; ++t) {
      for (int64_t i = 0; i < p.k; ++i) xf[i] = Fp8E4m3ToFloat(p.x[t * p.k + i]);
      for (int64_t j = 0; j < p.n; ++j) {
        float acc = 0.0f;
        for (int64_t kb = 0; kb < kb_count; ++kb) {
          float part = 0.0f;
          for (int64_t i = kb * 128; i < kb * 128 + 128; ++i) {
            part += xf[i] * Fp8E4m3ToFloat(w[j * p.k + i]);
          }
          acc += part * p.x_scale[kb * p.x_scale_ld + t] * ws[(j / 128) * p.w_scale_ld + kb];
        }
        p.out[t * p.n + j] = FloatToBf16(acc);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status MoeGemmInt4Reference(const MoeGemmInt4Params& p) {
  if (auto st = ValidateMoeGemmInt4(p); !st.ok()) return st;
  if (auto st = CheckOffsets(p.expert_offsets, p.experts, p.tokens); !st.ok()) return st;
  const int64_t groups = p.k / 128;
  std::vector<float> xf(p.k);
  for (int64_t e = 0; e < p.experts; ++e) {
    const uint8_t* w = p.w + e * p.n * (p.k / 2);
    const uint16_t* ws = p.w_scale + e * groups * p.n;
    for (int64_t t = p.expert_offsets[e]; t < p.expert_offsets[e + 1]; ++t) {
      for (int64_t i = 0; i < p.k; ++i) xf[i] = Bf16ToFloat(p.x[t * p.k + i]);
      for (int64_t j = 0; j < p.n; ++j) {
        const uint8_t* row = w + j * (p.k / 2);
        float acc = 0.0f;
        for (int64_t g = 0; g < groups; ++g) {
          float part = 0.0f;
          for (int64_t i = g * 128; i < g * 128 + 128; ++i) {
            part += xf[i] * static_cast<float>(Int4Get(row, i));
          }
          acc += part * Bf16ToFloat(ws[g * p.n + j]);
        }
        p.out[t * p.n + j] = FloatToBf16(acc);
      }
    }
  }
  return absl::OkStatus();
}

// Measured with `fp8_gemm_bench --split_sweep` on an H100 (132 SMs; weights rotated past L2,
// bench/results/fp8-stream-splits-2026-12-07.md) over every dense GEMM of R1's decode step at
// m = 1, 8, 32: the fastest split count fills the SMs with about ONE CTA each (o_proj and the
// dense w2, 56 row tiles: 2 splits, 49 µs against 58 µs at the 5 splits that filled two CTAs per
// SM), keeps ≥ 8 K blocks per split (shorter runs pay the pipeline fill for little streaming), and
// splitting a K of fewer than 32 blocks never paid for the reduction (shared_w2, q_b_proj).
StreamGemmConfig ChooseStreamGemmConfig(int64_t groups, int64_t tokens, int64_t n, int64_t k,
                                        int sm_count, int64_t workspace_bytes_available) {
  StreamGemmConfig c{1, 0};
  const int64_t tiles = std::max<int64_t>(1, groups) * ((n + 127) / 128);
  const int64_t sms = std::max(1, sm_count);
  const int64_t kblocks = std::max<int64_t>(1, k / 128);
  constexpr int64_t kMinSplitKBlocks = 32, kMinBlocksPerSplit = 8, kMaxSplits = 16;
  if (groups != 1 || tokens <= 0 || tiles >= sms || kblocks < kMinSplitKBlocks) return c;
  int64_t splits = std::min({sms / tiles, kblocks / kMinBlocksPerSplit, kMaxSplits});
  if (splits <= 1) return c;
  const int64_t per = (kblocks + splits - 1) / splits;
  splits = (kblocks + per - 1) / per;  // every split non-empty
  const int64_t need = splits * tokens * n * 4;
  if (need > workspace_bytes_available) return c;
  c.splits = static_cast<int>(splits);
  c.workspace_bytes = need;
  return c;
}

}  // namespace r1::kernels
