#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/moe_gating/moe_gating_cuda.h"

namespace r1::kernels {
namespace {

constexpr int kWarpsPerBlock = 4;

// Warp argmax of (value, index) with ties towards the lower index; every lane gets the result.
__device__ __forceinline__ void WarpArgMax(float& v, int& i) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (ov > v || (ov == v && oi < i)) {
      v = ov;
      i = oi;
    }
  }
}

// One warp per token; the token's scores live in shared memory.
__global__ void MoeGatingKernel(const MoeGatingParams p) {
  extern __shared__ float smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp;
  if (t >= p.tokens) return;                                // whole warp
  if (p.valid_tokens != nullptr && t >= *p.valid_tokens) {  // a filler row: no expert
    for (int j = lane; j < p.top_k; j += 32) {
      p.topk_ids[t * p.top_k + j] = -1;
      p.topk_weights[t * p.top_k + j] = 0.0f;
    }
    return;
  }
  float* s = smem + warp * (2 * p.experts + 32);
  float* b = s + p.experts;
  float* gs = b + p.experts;  // group scores (≤ 32 groups)
  const int per_group = p.experts / p.groups;
  for (int e = lane; e < p.experts; e += 32) {
    const float sv = 1.0f / (1.0f + expf(-p.logits[t * p.experts + e]));
    s[e] = sv;
    b[e] = sv + p.bias[e];
  }
  __syncwarp();
  for (int g = lane; g < p.groups; g += 32) {
    float m1 = -INFINITY, m2 = -INFINITY;
    for (int e = g * per_group; e < (g + 1) * per_group; ++e) {
      const float v = b[e];
      if (v > m1) {
        m2 = m1;
        m1 = v;
      } else if (v > m2) {
        m2 = v;
      }
    }
    gs[g] = per_group >= 2 ? m1 + m2 : m1;
  }
  __syncwarp();
  // Keep the topk_groups best groups (mask the others in b).
  unsigned kept = 0;  // bit g (groups ≤ 32)
  for (int k = 0; k < p.topk_groups; ++k) {
    float v = -INFINITY;
    int i = 0x7fffffff;
    if (lane < p.groups && !((kept >> lane) & 1u)) v = gs[lane], i = lane;
    WarpArgMax(v, i);
    kept |= 1u << i;
  }
  for (int e = lane; e < p.experts; e += 32) {
    if (!((kept >> (e / per_group)) & 1u)) b[e] = -INFINITY;
  }
  __syncwarp();
  float sum = 0.0f, chosen_s = 0.0f;
  int chosen = -1;
  for (int k = 0; k < p.top_k; ++k) {
    float v = -INFINITY;
    int i = 0x7fffffff;
    for (int e = lane; e < p.experts; e += 32) {
      const float bv = b[e];
      if (bv != -INFINITY && (bv > v || (bv == v && e < i))) v = bv, i = e;
    }
    WarpArgMax(v, i);
    const float sv = s[i];
    sum += sv;
    if (lane == k) chosen = i, chosen_s = sv;
    __syncwarp();
    if (lane == 0) b[i] = -INFINITY;
    __syncwarp();
  }
  if (lane < p.top_k) {
    p.topk_ids[t * p.top_k + lane] = chosen;
    p.topk_weights[t * p.top_k + lane] =
        (p.normalize ? chosen_s / (sum + 1e-20f) : chosen_s) * p.routed_scaling_factor;
  }
}

}  // namespace

absl::Status LaunchMoeGating(const MoeGatingParams& p, cudaStream_t stream) {
  if (auto st = ValidateMoeGating(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  if (p.groups > 32) return absl::InvalidArgumentError("moe_gating: CUDA kernel needs groups ≤ 32");
  const size_t smem = kWarpsPerBlock * (2 * p.experts + 32) * sizeof(float);
  const int64_t blocks = (p.tokens + kWarpsPerBlock - 1) / kWarpsPerBlock;
  MoeGatingKernel<<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, smem, stream>>>(p);
  return internal::LaunchStatus("moe_gating launch");
}

}  // namespace r1::kernels
