// One CTA of 1024 threads (32 warps) per row, one pass over the logits:
//   * each thread keeps an online (max, Σ exp(x − max)) pair in float, merged across the block
//     at the end (warp shuffles, then one warp over the 32 warp results);
//   * each warp keeps the 32 largest (SamplingKey(x) << 32 | ~id) values seen so far, one per
//     lane in descending order; an element enters only when it beats the warp's 32nd (a ballot
//     per element, the insertions rare after the first few hundred elements), and the 32 warp
//     lists are merged pairwise in 5 levels by bitonic merges in registers. The values are
//     unique per id, so the top ids equal the reference's exactly.
// Rows are read as float4 when the logits are 16-byte aligned with stride % 4 == 0; with
// top_n == 0 the top lists are not kept.
#include <cmath>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/logprobs/logprobs_cuda.h"
#include "kernels/sampling/sampling.h"

namespace r1::kernels {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 4;  // loads in flight per thread
constexpr unsigned kFull = 0xffffffffu;
static_assert(kWarps == 32 && kLogprobsMaxTopN <= 32);

__device__ __forceinline__ unsigned long long Rank(float x, int64_t id) {
  return (static_cast<unsigned long long>(SamplingKey(x)) << 32) |
         (0xffffffffu - static_cast<uint32_t>(id));
}

__device__ __forceinline__ int32_t RankId(unsigned long long v) {
  return static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(v));
}

// Merges (m2, s2) into (m, s): the max and the sum of exp(x − max) of both parts.
__device__ __forceinline__ void Combine(float& m, float& s, float m2, float s2) {
  const float mx = fmaxf(m, m2);
  if (mx == -INFINITY) return;  // both parts empty
  s = (m == -INFINITY ? 0.0f : s * expf(m - mx)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - mx));
  m = mx;
}

// Per-thread softmax state and the warp's top list (lane i holds the i-th largest rank).
struct State {
  float m = -INFINITY, s = 0.0f;
  unsigned long long top = 0, thr = 0;  // thr: the warp's 32nd largest (lane 31's `top`)
};

// Takes element `id` (value x) of this lane; called by every lane of the warp together. Without
// kTop only the softmax state is kept.
template <bool kTop>
__device__ __forceinline__ void Consume(State& st, float x, int64_t id, bool active, int lane) {
  unsigned long long c = 0;
  if (active) {
    if constexpr (kTop) c = Rank(x, id);
    if (x > -INFINITY) {  // not NaN, not −inf
      if (x > st.m) {
        st.s = st.s * expf(st.m - x) + 1.0f;
        st.m = x;
      } else {
        st.s += expf(x - st.m);
      }
    }
  }
  if constexpr (!kTop) return;
  unsigned mask = __ballot_sync(kFull, c > st.thr);
  while (mask != 0) {
    const unsigned long long v = __shfl_sync(kFull, c, __ffs(mask) - 1);
    const int pos = __popc(__ballot_sync(kFull, st.top > v));  // < 32: v beats lane 31
    const unsigned long long up = __shfl_up_sync(kFull, st.top, 1);
    if (lane == pos) {
      st.top = v;
    } else if (lane > pos) {
      st.top = up;
    }
    st.thr = __shfl_sync(kFull, st.top, 31);
    mask &= mask - 1;
    mask &= __ballot_sync(kFull, c > st.thr);
  }
}

// Top 32 of two descending lane lists (`other` read from shared memory, reversed): the
// element-wise max is bitonic; a half-cleaner cascade sorts it descending.
__device__ __forceinline__ unsigned long long MergeTop(unsigned long long mine,
                                                       const unsigned long long* other, int lane) {
  const unsigned long long o = other[31 - lane];
  unsigned long long v = mine > o ? mine : o;
#pragma unroll
  for (int k = 16; k > 0; k >>= 1) {
    const unsigned long long w = __shfl_xor_sync(kFull, v, k);
    v = (lane & k) ? (v < w ? v : w) : (v > w ? v : w);
  }
  return v;
}

template <bool kVec, bool kTop>
__global__ void __launch_bounds__(kThreads) LogprobsKernel(const LogprobsParams p) {
  __shared__ unsigned long long lists[kWarps][32];
  __shared__ float warp_m[kWarps], warp_s[kWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t r = blockIdx.x;
  const float* row = p.logits + r * p.logits_stride;
  const int64_t vocab = p.vocab;
  State st;
  int64_t scalar_from = 0;
  if constexpr (kVec) {
    const int64_t nvec = vocab / 4;
    const float4* row4 = reinterpret_cast<const float4*>(row);
    for (int64_t base = warp * 32; base < nvec; base += kThreads * kUnroll) {
      float4 v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t i = base + u * kThreads + lane;
        v[u] = i < nvec ? __ldg(row4 + i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t i = base + u * kThreads + lane;
        const bool active = i < nvec;
        Consume<kTop>(st, v[u].x, 4 * i, active, lane);
        Consume<kTop>(st, v[u].y, 4 * i + 1, active, lane);
        Consume<kTop>(st, v[u].z, 4 * i + 2, active, lane);
        Consume<kTop>(st, v[u].w, 4 * i + 3, active, lane);
      }
    }
    scalar_from = nvec * 4;
  }
  for (int64_t base = scalar_from + warp * 32; base < vocab; base += kThreads * kUnroll) {
    float v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * kThreads + lane;
      v[u] = i < vocab ? __ldg(row + i) : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * kThreads + lane;
      Consume<kTop>(st, v[u], i, i < vocab, lane);
    }
  }

  // Softmax state: warp, then block.
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(kFull, st.m, o), s2 = __shfl_xor_sync(kFull, st.s, o);
    Combine(st.m, st.s, m2, s2);
  }
  if (lane == 0) {
    warp_m[warp] = st.m;
    warp_s[warp] = st.s;
  }
  // Top lists: pairwise merges, warp w absorbing warp w + stride.
  if constexpr (kTop) {
    for (int stride = 1; stride < kWarps; stride <<= 1) {
      if ((warp & (2 * stride - 1)) == stride) lists[warp][lane] = st.top;
      __syncthreads();
      if ((warp & (2 * stride - 1)) == 0) st.top = MergeTop(st.top, lists[warp + stride], lane);
      __syncthreads();
    }
  } else {
    __syncthreads();
  }
  if (warp != 0) return;
  float m = warp_m[lane], s = warp_s[lane];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(kFull, m, o), s2 = __shfl_xor_sync(kFull, s, o);
    Combine(m, s, m2, s2);
  }
  const float lse = isfinite(m) ? m + logf(s) : __int_as_float(0x7fc00000);
  auto logprob = [&](int64_t id) {
    const float x = row[id];
    return (isnan(x) ? -INFINITY : x) - lse;
  };
  if (lane == 0) {
    const int32_t c = p.chosen[r];
    p.out_chosen_logprob[r] = c >= 0 && c < vocab ? logprob(c) : __int_as_float(0x7fc00000);
  }
  if (kTop && lane < p.top_n) {
    const int32_t id = RankId(st.top);
    p.out_top_ids[r * p.top_n + lane] = id;
    p.out_top_logprobs[r * p.top_n + lane] = logprob(id);
  }
}

}  // namespace

absl::Status LaunchLogprobs(const LogprobsParams& p, cudaStream_t stream) {
  if (auto st = ValidateLogprobs(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  if (p.rows > 0x7fffffff) return absl::InvalidArgumentError("logprobs: too many rows");
  const bool vec = reinterpret_cast<uintptr_t>(p.logits) % 16 == 0 && p.logits_stride % 4 == 0;
  const bool top = p.top_n > 0;
  auto kernel = vec ? (top ? LogprobsKernel<true, true> : LogprobsKernel<true, false>)
                    : (top ? LogprobsKernel<false, true> : LogprobsKernel<false, false>);
  kernel<<<static_cast<unsigned>(p.rows), kThreads, 0, stream>>>(p);
  return internal::LaunchStatus("logprobs launch");
}

}  // namespace r1::kernels
