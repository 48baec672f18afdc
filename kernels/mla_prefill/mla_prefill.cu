// Naive-form MLA prefill attention (see mla_prefill.h), sm_90a. Two kernels:
//
// Tensor-core kernel (flash-attention-2 style, mma.sync m16n8k16 bf16 → fp32), taken when
// nope_dim % 8 == 0, (nope_dim + rope_dim) % 16 == 0, v_dim % 16 == 0, q, kv and k_rope are
// 16-byte aligned and their strides are multiples of 8 elements:
//   * CTA = 4 warps; each warp owns kMTiles × 16 query rows of one head (kMTiles = 2 for
//     v_dim ≤ 128, so that every K/V fragment read from shared memory feeds two MMAs; 1 for wider
//     values, whose fp32 O would not fit in registers twice): 128 or 64 query tokens per CTA.
//     Grid (heads, query tiles) with the longest (last) query tiles scheduled first.
//   * Shared memory: the Q tile [BM][qk + 8], one K tile [64][qk + 8] (k_nope then k_rope) and one
//     V tile [64][v + 8] (rows padded by 16 bytes: conflict-free ldmatrix when the widths are
//     multiples of 16). cp.async pipelining as in flash-attention 2: V of tile j loads while
//     S = Q·K_jᵀ and the softmax are computed, K of tile j + 1 while P·V_j is. Rows past the last
//     token of the tile / past the last position it sees are zero-filled and never read.
//   * Per 64-position key tile up to the causal limit: S = Q·Kᵀ (ldmatrix fragments), causal mask
//     on the tiles that cross the diagonal, online softmax in fp32 (base 2, scale folded in),
//     P rounded to bf16 (the row sums use the rounded values, so the normalisation matches what
//     is multiplied), O += P·V (ldmatrix.trans for V). O stays in registers; the epilogue writes
//     O / l rounded once to bf16.
//
// Generic kernel (any dims and layouts the header allows, fp32 FMA): one CTA per (token, head),
// 128 threads; scores of 64 positions at a time in shared memory, online softmax in fp32.
#include <cmath>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/mla_prefill/mla_prefill_cuda.h"

namespace r1::kernels {
namespace {

using internal::Bf16BitsToFloat;
using internal::CpAsync16;
using internal::FloatToBf16Bits;
using internal::SmemAddr;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kBlockN = 64;  // key positions per tile
constexpr int kPad = 8;      // elements of padding per shared-memory row
constexpr int kMaxDim = static_cast<int>(kMlaPrefillMaxDim);
constexpr float kLog2e = 1.4426950408889634f;

// ---------------------------------------------------------------------------------------------
// Tensor-core kernel.

struct TcArgs {
  MlaPrefillParams p;
  float scale_log2;  // softmax_scale · log2(e)
  int qk;            // nope_dim + rope_dim
  int qk_pitch;      // qk + kPad
  int v_pitch;       // v_dim + kPad
  bool pair_store;   // out is 4-byte aligned with even strides: bf16x2 stores
};

__device__ __forceinline__ void LdMatrixX4(uint32_t (&r)[4], const uint16_t* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(SmemAddr(p)));
}

__device__ __forceinline__ void LdMatrixX4Trans(uint32_t (&r)[4], const uint16_t* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(SmemAddr(p)));
}

// 2^x (ex2.approx: about 2 ulp; 2^−inf = 0).
__device__ __forceinline__ float Exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Rounds to bf16; returns the bits and adds the rounded value to `sum`.
__device__ __forceinline__ uint32_t RoundBf16(float x, float& sum) {
  const uint16_t b = FloatToBf16Bits(x);
  sum += Bf16BitsToFloat(b);
  return b;
}

// Q tile rows t0 .. t0 + rows − 1 (zero past the last token).
__device__ __forceinline__ void LoadQTile(uint16_t* q_s, const TcArgs& a, int64_t h, int64_t t0,
                                          int rows) {
  const MlaPrefillParams& p = a.p;
  const int chunks = a.qk / 8;
  for (int i = static_cast<int>(threadIdx.x); i < rows * chunks; i += kThreads) {
    const int r = i / chunks, c = i - r * chunks;
    const int64_t t = t0 + r;
    const bool valid = t < p.tokens;
    const uint16_t* src = valid ? p.q + t * p.q_token_stride + h * p.q_head_stride + c * 8 : p.q;
    CpAsync16(q_s + r * a.qk_pitch + c * 8, src, valid);
  }
}

// K tile (k_nope ; k_rope) of positions s0 .. s0 + 63 (zero past s_max).
__device__ __forceinline__ void LoadKTile(uint16_t* k_s, const TcArgs& a, int64_t h, int64_t s0,
                                          int64_t s_max) {
  const MlaPrefillParams& p = a.p;
  const int nope_chunks = static_cast<int>(p.nope_dim / 8);
  const int k_chunks = a.qk / 8;
  for (int i = static_cast<int>(threadIdx.x); i < kBlockN * k_chunks; i += kThreads) {
    const int r = i / k_chunks, c = i - r * k_chunks;
    const int64_t s = s0 + r;
    const bool valid = s <= s_max;
    const uint16_t* src = p.kv;
    if (valid) {
      src = c < nope_chunks ? p.kv + s * p.kv_token_stride + h * p.kv_head_stride + c * 8
                            : p.k_rope + s * p.k_rope_stride + (c - nope_chunks) * 8;
    }
    CpAsync16(k_s + r * a.qk_pitch + c * 8, src, valid);
  }
}

// V tile of positions s0 .. s0 + 63 (zero past s_max).
__device__ __forceinline__ void LoadVTile(uint16_t* v_s, const TcArgs& a, int64_t h, int64_t s0,
                                          int64_t s_max) {
  const MlaPrefillParams& p = a.p;
  const int v_chunks = static_cast<int>(p.v_dim / 8);
  for (int i = static_cast<int>(threadIdx.x); i < kBlockN * v_chunks; i += kThreads) {
    const int r = i / v_chunks, c = i - r * v_chunks;
    const int64_t s = s0 + r;
    const bool valid = s <= s_max;
    const uint16_t* src =
        valid ? p.kv + s * p.kv_token_stride + h * p.kv_head_stride + p.nope_dim + c * 8 : p.kv;
    CpAsync16(v_s + r * a.v_pitch + c * 8, src, valid);
  }
}

// kVTiles: an upper bound of v_dim / 8 (the O registers are sized for it). kMTiles: 16-row MMA
// tiles per warp; the CTA covers kBlockM = 64·kMTiles query tokens.
template <int kVTiles, int kMTiles>
__global__ void __launch_bounds__(kThreads) MlaPrefillTcKernel(const TcArgs a) {
  constexpr int kBlockM = 16 * kMTiles * kWarps;
  constexpr int kRows = 2 * kMTiles;  // query rows per thread: (mt, half) → mt·16 + half·8 + g
  extern __shared__ __align__(16) uint16_t smem[];
  const MlaPrefillParams& p = a.p;
  const int qk = a.qk, qp = a.qk_pitch, vp = a.v_pitch;
  const int v_tiles = static_cast<int>(p.v_dim / 8);
  uint16_t* q_s = smem;                // [kBlockM][qp]
  uint16_t* k_s = q_s + kBlockM * qp;  // [64][qp]
  uint16_t* v_s = k_s + kBlockN * qp;  // [64][vp]

  const int64_t h = blockIdx.x;
  const int64_t t0 = static_cast<int64_t>(gridDim.y - 1 - blockIdx.y) * kBlockM;
  const int64_t t_last = min(t0 + kBlockM, p.tokens) - 1;
  const int64_t s_max = p.q_start + t_last;  // the last position any row of the tile sees
  const int n_tiles = static_cast<int>(s_max / kBlockN + 1);
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  const int g = lane >> 2, c = lane & 3;
  const int warp_row = warp * 16 * kMTiles;  // first row of this warp in the tile
  // Absolute position of this thread's row r = 2·mt + half.
  const int64_t pos_base = p.q_start + t0 + warp_row + g;

  LoadQTile(q_s, a, h, t0, kBlockM);
  LoadKTile(k_s, a, h, 0, s_max);
  internal::CpAsyncCommit();

  float o[kMTiles][kVTiles][4];
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int nt = 0; nt < kVTiles; ++nt) {
      o[mt][nt][0] = o[mt][nt][1] = o[mt][nt][2] = o[mt][nt][3] = 0.0f;
    }
  }
  float m[kRows], l[kRows];  // running maxima (base-2 scaled scores); this thread's share of sums
#pragma unroll
  for (int r = 0; r < kRows; ++r) m[r] = -INFINITY, l[r] = 0.0f;

  const uint16_t* q_w = q_s + warp_row * qp;
  for (int j = 0; j < n_tiles; ++j) {
    const int64_t s0 = static_cast<int64_t>(j) * kBlockN;
    internal::CpAsyncWait<0>();
    __syncthreads();  // K_j (and Q) visible; every warp is done with V_{j−1}
    LoadVTile(v_s, a, h, s0, s_max);
    internal::CpAsyncCommit();

    // S = Q·Kᵀ: this warp's kMTiles·16 rows × 64 positions.
    float sc[kMTiles][8][4];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        sc[mt][nt][0] = sc[mt][nt][1] = sc[mt][nt][2] = sc[mt][nt][3] = 0.0f;
      }
    }
    for (int k0 = 0; k0 < qk; k0 += 16) {
      uint32_t af[kMTiles][4];
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt) {
        LdMatrixX4(af[mt], q_w + (mt * 16 + (lane & 15)) * qp + k0 + (lane >> 4) * 8);
      }
#pragma unroll
      for (int nt = 0; nt < 8; nt += 2) {
        uint32_t bf[4];
        LdMatrixX4(bf,
                   k_s + (nt * 8 + (lane & 7) + (lane >> 4) * 8) * qp + k0 + ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          internal::MmaBf16(sc[mt][nt], af[mt][0], af[mt][1], af[mt][2], af[mt][3], bf[0], bf[1]);
          internal::MmaBf16(sc[mt][nt + 1], af[mt][0], af[mt][1], af[mt][2], af[mt][3], bf[2],
                            bf[3]);
        }
      }
    }

    // Scale, causal mask (only tiles that reach past the first row's position), row maxima.
    const bool mask = s0 + kBlockN - 1 > p.q_start + t0;
    float mx[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) mx[r] = -INFINITY;
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = 2 * mt + (e >> 1);
          float x = sc[mt][nt][e] * a.scale_log2;
          if (mask) {
            const int64_t s = s0 + nt * 8 + 2 * c + (e & 1);
            if (s > pos_base + 8 * r) x = -INFINITY;  // row mt·16 + half·8 = 8·r
          }
          sc[mt][nt][e] = x;
          mx[r] = fmaxf(mx[r], x);
        }
      }
    }
    float base[kRows], alpha[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float mn = fmaxf(m[r], mx[r]);
      // Position 0 is visible to every row, so the maxima are finite from tile 0 on; the guard
      // only keeps a fully masked row from producing NaN.
      base[r] = mn == -INFINITY ? 0.0f : mn;
      alpha[r] = Exp2(m[r] - base[r]);  // 0 on the first tile
      m[r] = mn;
    }

    // P = exp2(S − m) rounded to bf16, packed as the A fragments of P·V (k = positions).
    uint32_t pa[kMTiles][4][4];
    float sum[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) sum[r] = 0.0f;
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const float* s = sc[mt][2 * kk + half];
          const int r0 = 2 * mt, r1 = 2 * mt + 1;
          const uint32_t lo0 = RoundBf16(Exp2(s[0] - base[r0]), sum[r0]);
          const uint32_t hi0 = RoundBf16(Exp2(s[1] - base[r0]), sum[r0]);
          const uint32_t lo1 = RoundBf16(Exp2(s[2] - base[r1]), sum[r1]);
          const uint32_t hi1 = RoundBf16(Exp2(s[3] - base[r1]), sum[r1]);
          pa[mt][kk][2 * half] = lo0 | (hi0 << 16);      // row g
          pa[mt][kk][2 * half + 1] = lo1 | (hi1 << 16);  // row g + 8
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) l[r] = l[r] * alpha[r] + sum[r];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
      for (int nt = 0; nt < kVTiles; ++nt) {
        o[mt][nt][0] *= alpha[2 * mt];
        o[mt][nt][1] *= alpha[2 * mt];
        o[mt][nt][2] *= alpha[2 * mt + 1];
        o[mt][nt][3] *= alpha[2 * mt + 1];
      }
    }

    internal::CpAsyncWait<0>();
    __syncthreads();  // V_j visible; every warp is done with K_j
    if (j + 1 < n_tiles) {
      LoadKTile(k_s, a, h, s0 + kBlockN, s_max);
      internal::CpAsyncCommit();
    }

    // O += P·V.
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
      for (int nt = 0; nt < kVTiles; nt += 2) {
        if (nt < v_tiles) {  // v_dim % 16 == 0: tile nt + 1 exists too
          uint32_t bf[4];
          LdMatrixX4Trans(bf, v_s + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * vp + nt * 8 +
                                  (lane >> 4) * 8);
#pragma unroll
          for (int mt = 0; mt < kMTiles; ++mt) {
            const uint32_t* pf = pa[mt][kk];
            internal::MmaBf16(o[mt][nt], pf[0], pf[1], pf[2], pf[3], bf[0], bf[1]);
            internal::MmaBf16(o[mt][nt + 1], pf[0], pf[1], pf[2], pf[3], bf[2], bf[3]);
          }
        }
      }
    }
  }

  // Epilogue: full row sums over the quad, O / l rounded once to bf16.
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    float lr = l[r];
    lr += __shfl_xor_sync(0xffffffffu, lr, 1);
    lr += __shfl_xor_sync(0xffffffffu, lr, 2);
    const float inv = lr > 0.0f ? 1.0f / lr : 0.0f;
    const int mt = r / 2, half = r % 2;
    const int64_t t = t0 + warp_row + 8 * r + g;
    if (t >= p.tokens) continue;
    uint16_t* out = p.out + t * p.out_token_stride + h * p.out_head_stride;
#pragma unroll
    for (int nt = 0; nt < kVTiles; ++nt) {
      if (nt < v_tiles) {
        const int col = nt * 8 + 2 * c;
        const float x = o[mt][nt][2 * half] * inv, y = o[mt][nt][2 * half + 1] * inv;
        if (a.pair_store) {
          *reinterpret_cast<uint32_t*>(out + col) = internal::PackBf16x2(x, y);
        } else {
          out[col] = FloatToBf16Bits(x);
          out[col + 1] = FloatToBf16Bits(y);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Generic kernel.

constexpr int kDimsPerThread = (kMaxDim + kThreads - 1) / kThreads;

__global__ void __launch_bounds__(kThreads) MlaPrefillGenericKernel(const MlaPrefillParams p) {
  __shared__ float q_s[kMaxDim];
  __shared__ float score_s[kBlockN];
  __shared__ float prob_s[kBlockN];

  const int64_t h = blockIdx.x % p.heads;
  const int64_t t = p.tokens - 1 - blockIdx.x / p.heads;  // longest rows first
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32;
  const int nope = static_cast<int>(p.nope_dim), rope = static_cast<int>(p.rope_dim);
  const int vd = static_cast<int>(p.v_dim);

  const uint16_t* qp = p.q + t * p.q_token_stride + h * p.q_head_stride;
  for (int i = tid; i < nope + rope; i += kThreads) q_s[i] = Bf16BitsToFloat(qp[i]);

  float acc[kDimsPerThread];
#pragma unroll
  for (int k = 0; k < kDimsPerThread; ++k) acc[k] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  const int64_t len = p.q_start + t + 1;  // positions 0 .. q_start + t
  __syncthreads();                        // q_s complete

  for (int64_t start = 0; start < len; start += kBlockN) {
    const int n = static_cast<int>(min(static_cast<int64_t>(kBlockN), len - start));
    // 1. Scores: a warp per position, lanes split the dot product.
    for (int j = warp; j < n; j += kWarps) {
      const int64_t s = start + j;
      const uint16_t* kn = p.kv + s * p.kv_token_stride + h * p.kv_head_stride;
      float dot = 0.0f;
      for (int i = lane; i < nope; i += 32) dot += q_s[i] * Bf16BitsToFloat(kn[i]);
      if (rope > 0) {
        const uint16_t* kr = p.k_rope + s * p.k_rope_stride;
        for (int i = lane; i < rope; i += 32) dot += q_s[nope + i] * Bf16BitsToFloat(kr[i]);
      }
      dot = internal::WarpSum(dot);
      if (lane == 0) score_s[j] = dot * p.softmax_scale;
    }
    __syncthreads();  // score_s complete; prob_s of the previous block no longer read

    // 2. Online softmax update (every thread derives the same maximum and factors).
    float blk_max = -INFINITY;
    for (int j = 0; j < n; ++j) blk_max = fmaxf(blk_max, score_s[j]);
    const float m_new = fmaxf(m, blk_max);
    const float rescale = expf(m - m_new);  // 0 on the first block
    if (tid < n) prob_s[tid] = expf(score_s[tid] - m_new);
    __syncthreads();  // prob_s complete; score_s free for the next block

    // 3. Rescale and accumulate the values.
    float blk_sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kDimsPerThread; ++k) acc[k] *= rescale;
    for (int j = 0; j < n; ++j) {
      const float w = prob_s[j];
      blk_sum += w;
      const uint16_t* v = p.kv + (start + j) * p.kv_token_stride + h * p.kv_head_stride + nope;
#pragma unroll
      for (int k = 0; k < kDimsPerThread; ++k) {
        const int d = tid + k * kThreads;
        if (d < vd) acc[k] += w * Bf16BitsToFloat(v[d]);
      }
    }
    l = l * rescale + blk_sum;
    m = m_new;
  }

  uint16_t* out = p.out + t * p.out_token_stride + h * p.out_head_stride;
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
  for (int k = 0; k < kDimsPerThread; ++k) {
    const int d = tid + k * kThreads;
    if (d < vd) out[d] = FloatToBf16Bits(acc[k] * inv);
  }
}

bool Aligned(const void* ptr, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(ptr) % bytes == 0;
}

bool TensorCorePath(const MlaPrefillParams& p) {
  const int64_t qk = p.nope_dim + p.rope_dim;
  if (p.nope_dim % 8 != 0 || qk % 16 != 0 || p.v_dim % 16 != 0) return false;
  if (!Aligned(p.q, 16) || !Aligned(p.kv, 16)) return false;
  if (p.q_token_stride % 8 != 0 || p.q_head_stride % 8 != 0 || p.kv_token_stride % 8 != 0 ||
      p.kv_head_stride % 8 != 0) {
    return false;
  }
  if (p.rope_dim > 0 && (!Aligned(p.k_rope, 16) || p.k_rope_stride % 8 != 0)) return false;
  return true;
}

template <int kVTiles, int kMTiles>
absl::Status LaunchTc(const TcArgs& a, cudaStream_t stream) {
  constexpr int kBlockM = 16 * kMTiles * kWarps;
  const int64_t q_tiles = (a.p.tokens + kBlockM - 1) / kBlockM;
  if (q_tiles > 65535 || a.p.heads > 0x7fffffff) {
    return absl::InvalidArgumentError("mla_prefill: tokens or heads exceed the grid");
  }
  const size_t smem = sizeof(uint16_t) * (static_cast<size_t>(kBlockM + kBlockN) * a.qk_pitch +
                                          static_cast<size_t>(kBlockN) * a.v_pitch);
  R1_CUDA_RETURN_IF_ERROR(
      cudaFuncSetAttribute(MlaPrefillTcKernel<kVTiles, kMTiles>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
      "mla_prefill smem attribute");
  const dim3 grid(static_cast<unsigned>(a.p.heads), static_cast<unsigned>(q_tiles));
  MlaPrefillTcKernel<kVTiles, kMTiles><<<grid, kThreads, smem, stream>>>(a);
  return internal::LaunchStatus("mla_prefill launch");
}

}  // namespace

absl::Status LaunchMlaPrefill(const MlaPrefillParams& p, cudaStream_t stream) {
  if (auto st = ValidateMlaPrefill(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  if (!TensorCorePath(p)) {
    if (p.tokens > 0x7fffffff / p.heads) {
      return absl::InvalidArgumentError("mla_prefill: tokens × heads exceeds the grid");
    }
    MlaPrefillGenericKernel<<<static_cast<unsigned>(p.tokens * p.heads), kThreads, 0, stream>>>(p);
    return internal::LaunchStatus("mla_prefill generic launch");
  }
  TcArgs a;
  a.p = p;
  a.scale_log2 = p.softmax_scale * kLog2e;
  a.qk = static_cast<int>(p.nope_dim + p.rope_dim);
  a.qk_pitch = a.qk + kPad;
  a.v_pitch = static_cast<int>(p.v_dim) + kPad;
  a.pair_store = Aligned(p.out, 4) && p.out_token_stride % 2 == 0 && p.out_head_stride % 2 == 0;
  if (p.v_dim <= 32) return LaunchTc<4, 2>(a, stream);
  if (p.v_dim <= 64) return LaunchTc<8, 2>(a, stream);
  if (p.v_dim <= 128) return LaunchTc<16, 2>(a, stream);
  return LaunchTc<32, 1>(a, stream);
}

}  // namespace r1::kernels
