#include <algorithm>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/moe_permute/moe_permute_cuda.h"

namespace r1::kernels {
namespace {

constexpr int kPermuteThreads = 1024;
constexpr int kPermuteWarps = kPermuteThreads / 32;

// Stable counting sort in one CTA. Warp w owns a contiguous segment of the (token, slot) pairs:
//   A. per-warp histograms hist[w][e];
//   B. base[w][e] = offsets[e] + Σ_{w' < w} hist[w'][e]  (and the offsets themselves);
//   C. each warp walks its segment 32 pairs at a time; a pair's row is base[w][e] plus the number
//      of lower lanes with the same expert (match_any), then the warp advances base[w][e].
__global__ void __launch_bounds__(kPermuteThreads) MoePermuteKernel(const MoePermuteParams p) {
  extern __shared__ int32_t hist[];  // [kPermuteWarps][experts]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t pairs = p.tokens * p.top_k;
  const int64_t seg = (pairs + kPermuteWarps - 1) / kPermuteWarps;
  const int64_t begin = min(pairs, warp * seg), end = min(pairs, begin + seg);
  for (int i = threadIdx.x; i < kPermuteWarps * p.experts; i += kPermuteThreads) hist[i] = 0;
  __syncthreads();
  int32_t* my = hist + warp * p.experts;
  for (int64_t i = begin + lane; i < end; i += 32) {
    const int32_t e = p.topk_ids[i];
    if (e >= 0 && e < p.experts) atomicAdd(&my[e], 1);
  }
  __syncthreads();
  // Offsets: expert totals, exclusive scan by one thread (experts ≤ 1024: cheap), then per-warp
  // bases by one thread per expert.
  __shared__ int32_t total[1025];
  for (int e = threadIdx.x; e < p.experts; e += kPermuteThreads) {
    int32_t s = 0;
    for (int w = 0; w < kPermuteWarps; ++w) s += hist[w * p.experts + e];
    total[e] = s;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t run = 0;
    for (int e = 0; e < p.experts; ++e) {
      const int32_t c = total[e];
      total[e] = run;
      p.expert_offsets[e] = run;
      run += c;
    }
    p.expert_offsets[p.experts] = run;
  }
  __syncthreads();
  for (int e = threadIdx.x; e < p.experts; e += kPermuteThreads) {
    int32_t run = total[e];
    for (int w = 0; w < kPermuteWarps; ++w) {
      const int32_t c = hist[w * p.experts + e];
      hist[w * p.experts + e] = run;
      run += c;
    }
  }
  __syncthreads();
  for (int64_t i0 = begin; i0 < end; i0 += 32) {
    const int64_t i = i0 + lane;
    const bool in = i < end;
    const int32_t e = in ? p.topk_ids[i] : -1;
    const bool valid = in && e >= 0 && e < p.experts;
    const unsigned same = __match_any_sync(0xffffffffu, valid ? e : -1);
    if (valid) {
      const unsigned lower = same & ((1u << lane) - 1u);
      const int32_t pos = my[e] + __popc(lower);
      p.perm_src[pos] = static_cast<int32_t>(i);
      p.inv_perm[i] = pos;
    } else if (in) {
      p.inv_perm[i] = -1;
    }
    __syncwarp();
    // The highest lane of each expert group advances the warp's cursor.
    if (valid && (same >> lane) == 1u) my[e] += __popc(same);
    __syncwarp();
  }
}

__global__ void GatherRowsKernel(const MoeGatherRowsParams p) {
  const int64_t rows = p.valid_rows ? min(p.rows, static_cast<int64_t>(*p.valid_rows)) : p.rows;
  const int64_t chunks = p.row_bytes / 16;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t t = p.perm_src[r] / p.top_k;
    const uint4* src = reinterpret_cast<const uint4*>(p.src + t * p.src_stride);
    uint4* dst = reinterpret_cast<uint4*>(p.dst + r * p.dst_stride);
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) dst[c] = src[c];
  }
}

__global__ void GatherScalesKernel(const MoeGatherScalesParams p) {
  const int64_t rows = p.valid_rows ? min(p.rows, static_cast<int64_t>(*p.valid_rows)) : p.rows;
  const int64_t total = rows * p.groups;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t g = i / rows, r = i % rows;
    p.dst[g * p.dst_ld + r] = p.src[g * p.src_ld + p.perm_src[r] / p.top_k];
  }
}

// One CTA per token; each thread combines 8 consecutive values. _rn intrinsics keep the exact
// order and rounding of the reference (no FMA contraction).
__global__ void CombineKernel(const MoeCombineParams p) {
  const int64_t t = blockIdx.x;
  for (int64_t c = threadIdx.x * 8; c < p.dim; c += blockDim.x * 8) {
    float acc[8];
    if (p.add) {
      const uint4 v = *reinterpret_cast<const uint4*>(p.add + t * p.dim + c);
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 8; ++j)
        acc[j] = internal::Bf16BitsToFloat(static_cast<uint16_t>(w[j / 2] >> (16 * (j % 2))));
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[j] = 0.0f;
    }
    for (int k = 0; k < p.top_k; ++k) {
      const int32_t row = p.inv_perm[t * p.top_k + k];
      if (row < 0) continue;
      const float wt = p.weights[t * p.top_k + k];
      const uint4 v = *reinterpret_cast<const uint4*>(p.y + row * p.dim + c);
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float y =
            internal::Bf16BitsToFloat(static_cast<uint16_t>(w[j / 2] >> (16 * (j % 2))));
        acc[j] = __fadd_rn(acc[j], __fmul_rn(wt, y));
      }
    }
    *reinterpret_cast<uint4*>(p.out + t * p.dim + c) =
        make_uint4(internal::PackBf16x2(acc[0], acc[1]), internal::PackBf16x2(acc[2], acc[3]),
                   internal::PackBf16x2(acc[4], acc[5]), internal::PackBf16x2(acc[6], acc[7]));
  }
}

}  // namespace

absl::Status LaunchMoePermute(const MoePermuteParams& p, cudaStream_t stream) {
  if (auto st = ValidateMoePermute(p); !st.ok()) return st;
  const size_t smem = static_cast<size_t>(kPermuteWarps) * p.experts * sizeof(int32_t);
  static const bool attr_ok =
      cudaFuncSetAttribute(MoePermuteKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           kPermuteWarps * 1024 * 4) == cudaSuccess;
  if (!attr_ok) return absl::InternalError("moe_permute: cannot reserve shared memory");
  MoePermuteKernel<<<1, kPermuteThreads, smem, stream>>>(p);
  return internal::LaunchStatus("moe_permute launch");
}

absl::Status LaunchMoeGatherRows(const MoeGatherRowsParams& p, cudaStream_t stream) {
  if (auto st = ValidateMoeGatherRows(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  if (p.row_bytes % 16 != 0 || p.src_stride % 16 != 0 || p.dst_stride % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.src) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.dst) % 16 != 0) {
    return absl::InvalidArgumentError("moe_gather_rows: needs 16-byte rows and alignment");
  }
  const int64_t blocks = std::min<int64_t>(p.rows, int64_t{internal::SmCount()} * 8);
  GatherRowsKernel<<<static_cast<unsigned>(blocks), 128, 0, stream>>>(p);
  return internal::LaunchStatus("moe_gather_rows launch");
}

absl::Status LaunchMoeGatherScales(const MoeGatherScalesParams& p, cudaStream_t stream) {
  if (auto st = ValidateMoeGatherScales(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  const int64_t blocks =
      std::min<int64_t>((p.rows * p.groups + 255) / 256, int64_t{internal::SmCount()} * 8);
  GatherScalesKernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  return internal::LaunchStatus("moe_gather_scales launch");
}

absl::Status LaunchMoeCombine(const MoeCombineParams& p, cudaStream_t stream) {
  if (auto st = ValidateMoeCombine(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  if (p.dim % 8 != 0 || reinterpret_cast<uintptr_t>(p.y) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.out) % 16 != 0 ||
      (p.add && reinterpret_cast<uintptr_t>(p.add) % 16 != 0)) {
    return absl::InvalidArgumentError("moe_combine: needs dim % 8 == 0 and 16-byte alignment");
  }
  CombineKernel<<<static_cast<unsigned>(p.tokens), 128, 0, stream>>>(p);
  return internal::LaunchStatus("moe_combine launch");
}

}  // namespace r1::kernels
