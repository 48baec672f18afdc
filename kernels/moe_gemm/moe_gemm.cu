// Weight-streaming grouped GEMMs for the decode regime (see moe_gemm.h).
//
// Shape of the work: a CTA of 8 warps owns 128 weight rows (one FP8 scale block row) of one
// expert; each warp owns 16 rows (one m16 MMA tile) and all tokens of the pass (FP8: up to 64,
// i.e. up to eight n8 tiles; INT4: up to 32). Registers are capped at 128 so two CTAs (16 warps)
// share an SM. A pass streams the CTA's weight rows once, so a group of 33–64 tokens costs one
// weight read instead of two (the decode regime of a large batch: 32–64 tokens per expert).
//
// Measured on H200 (bench/results/kernels-2026-11-22.md): FP8 streams 3.9–4.1 TB/s of weights at
// 1–8 tokens per expert, falling to ~3.0 at 32; INT4 reaches 2.7–2.9 TB/s at 1–8 tokens and ~1.8
// at 32. INT4 is issue/latency-bound, not memory-bound (Nsight Compute at 32 tokens: DRAM 40%,
// ALU pipe 46%, 1.2 eligible warps per scheduler — the nibble→bf16 dequantisation and the MMAs'
// operand loads); a 16-warp, 256-row CTA that kept 25–50% more weight bytes in flight in the
// same shared memory was no faster for either format, so bytes in flight are not the limit. Weights
// and activations stream through a multi-stage cp.async pipeline in 128-wide K blocks; the MMA's A
// operand is the weight (rows = output channels), B the tokens.
//
// K permutation. A thread of an m16n8 MMA tile holds the A elements of K slots {4l..4l+3} and
// {16+4l..16+4l+3} (FP8, k32) — l = lane % 4. Any bijection between those logical slots and the
// physical K positions gives the same dot product as long as A and B use the same one, so each
// thread simply loads 16 contiguous bytes per row from shared memory (one LDS.128) and uses its
// words as the fragments of two consecutive k32 steps; the token fragments are loaded the same
// way. The INT4 kernel does the same with k16 bf16 steps (one 16-byte load = 32 int4 values =
// eight k16 steps), dequantising each 32-bit word into four bf16 pairs with a mask-or and one
// bf16x2 subtraction (the word's nibble interleave is chosen for this, int4_quant.h).
#include <algorithm>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/moe_gemm/moe_gemm_cuda.h"

namespace r1::kernels {
namespace {

using internal::CpAsync16;
using internal::CpAsyncCommit;
using internal::CpAsyncWait;
using internal::LdShared128;

constexpr int kRows = kStreamGemmRowsPerCta;             // 128
constexpr int kThreads = 256;                            // 8 warps × 16 weight rows
constexpr int kMaxTok = kStreamGemmTokensPerPass;        // 32 (INT4)
constexpr int kMaxTokFp8 = kStreamGemmFp8TokensPerPass;  // 64

struct GroupRange {
  int64_t begin, end;
};

__device__ __forceinline__ GroupRange LoadGroup(const int32_t* offsets, int64_t group,
                                                int64_t tokens) {
  if (offsets == nullptr) return {0, tokens};
  int64_t b = offsets[group], e = offsets[group + 1];
  b = min(max(b, int64_t{0}), tokens);
  e = min(max(e, b), tokens);
  return {b, e};
}

// ------------------------------------------------------------------------------------------
// Pipeline shape. Streaming at ~4 TB/s needs on the order of 100 KB of weight loads outstanding
// per SM (bandwidth × loaded HBM latency). Each CTA keeps stages−1 K blocks of its 128 weight rows
// in flight, two CTAs per SM, and the stage count depends on the pass's token count (fewer
// tokens → smaller activation tile → more stages in the same ~110 KB). Scales travel in the same
// stages (cp.async), so the loop never waits on a plain global load.
// ------------------------------------------------------------------------------------------

// 4-byte global→shared copy with zero-fill.
__device__ __forceinline__ void CpAsync4(void* smem, const void* gmem, bool valid) {
  const int bytes = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(internal::SmemAddr(smem)),
               "l"(gmem), "r"(bytes)
               : "memory");
}

// ------------------------------------------------------------------------------------------
// FP8 W8A8
// ------------------------------------------------------------------------------------------

constexpr int kFp8WBytes = kRows * 128;  // 16 KB: 128 rows × 128 K
template <int NT>
struct Fp8Stage {
  static constexpr int kXBytes = NT * 8 * 128;  // tokens × 128 K
  // Token scales (NT·8 floats, padded to 32), then the weight scale at float kWsIdx.
  static constexpr int kWsIdx = NT * 8 > 32 ? NT * 8 : 32;
  static constexpr int kScaleOff = kFp8WBytes + kXBytes;
  static constexpr int kBytes = kScaleOff + (kWsIdx + 1 + 63) / 64 * 256;
  static constexpr int kStages = NT == 8 ? 4 : NT == 4 ? 5 : 6;
  static constexpr int kSmem = kStages * kBytes;
};
constexpr int kFp8SmemBytes = Fp8Stage<2>::kSmem;  // the largest of the four
static_assert(Fp8Stage<1>::kSmem <= kFp8SmemBytes && Fp8Stage<4>::kSmem <= kFp8SmemBytes &&
              Fp8Stage<8>::kSmem <= kFp8SmemBytes);
static_assert(Fp8Stage<8>::kWsIdx < kThreads);

struct Fp8KernelArgs {
  const uint8_t* x;
  const float* x_scale;
  int64_t x_scale_ld;
  const uint8_t* w;
  const float* w_scale;
  int64_t w_scale_ld;
  const int32_t* offsets;
  uint16_t* out;
  int64_t out_ld;
  float* partial;
  int64_t tokens, n, k;
  int splits;
};

// 16-byte chunk c (0..7) of a 128-byte row r lives at chunk c ^ 4·(r & 1): the eight lanes of a
// quarter warp read rows 2i and 2i+1 at the same four chunks, which then fall in disjoint banks.
__device__ __forceinline__ int SwzFp8(int r, int c) { return c ^ ((r & 1) << 2); }

template <int NT>
__device__ __forceinline__ void Fp8Pass(const Fp8KernelArgs& a, uint8_t* smem, const uint8_t* w,
                                        const float* ws, int64_t n0, int64_t tok0, int cnt, int kb0,
                                        int kb1) {
  using St = Fp8Stage<NT>;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, l = lane % 4;
  const float* ws_row = ws + (n0 / 128) * a.w_scale_ld;

  // Per-thread copy assignment, fixed for the pass: weight chunks (row tid/8 + 32i, chunk tid%8)
  // for i < 4, activation chunks (row tid/8 + 32j, chunk tid%8) for the rows < NT·8, and the
  // scales.
  constexpr int kXLoads = (NT * 8 + 31) / 32;  // activation chunks per thread (1, or 2 at NT 8)
  const int cr = tid / 8, cc = tid % 8;
  const uint8_t* wsrc = w + (n0 + cr) * a.k + cc * 16;
  const int wdst = cr * 128 + SwzFp8(cr, cc) * 16;
  const uint8_t* xsrc[kXLoads];
  bool xvalid[kXLoads];
#pragma unroll
  for (int j = 0; j < kXLoads; ++j) {
    xvalid[j] = cr + 32 * j < cnt;
    xsrc[j] = a.x + (tok0 + (xvalid[j] ? cr + 32 * j : 0)) * a.k + cc * 16;
  }
  const int64_t row_step = 32 * a.k;

  auto load_stage = [&](int kb, int slot) {
    uint8_t* sw = smem + slot * St::kBytes;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const bool valid = n0 + cr + 32 * i < a.n;
      internal::CpAsync16(sw + wdst + i * 4096, valid ? wsrc + i * row_step + kb * 128 : w, valid);
    }
#pragma unroll
    for (int j = 0; j < kXLoads; ++j) {
      // Row cr + 32j has cr's parity, so its swizzled chunk is at wdst + 32j rows.
      if (cr + 32 * j < NT * 8)
        internal::CpAsync16(sw + kFp8WBytes + wdst + j * 4096, xsrc[j] + kb * 128, xvalid[j]);
    }
    float* ss = reinterpret_cast<float*>(sw + St::kScaleOff);
    if (tid < NT * 8) {
      const bool valid = tid < cnt;
      CpAsync4(ss + tid, a.x_scale + kb * a.x_scale_ld + tok0 + (valid ? tid : 0), valid);
    } else if (tid == St::kWsIdx) {
      CpAsync4(ss + St::kWsIdx, ws_row + kb, true);
    }
  };

  float acc[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[nt][i] = 0.0f;

#pragma unroll 1
  for (int s = 0; s < St::kStages - 1; ++s) {
    if (kb0 + s < kb1) load_stage(kb0 + s, s);
    CpAsyncCommit();
  }
  const int r0 = warp * 16 + g;  // this thread's weight rows: r0, r0 + 8
  int slot = 0;
#pragma unroll 1
  for (int kb = kb0; kb < kb1; ++kb) {
    CpAsyncWait<St::kStages - 2>();
    __syncthreads();
    {
      const int nk = kb + St::kStages - 1;
      const int nslot = slot == 0 ? St::kStages - 1 : slot - 1;  // (slot + kStages − 1) % kStages
      if (nk < kb1) load_stage(nk, nslot);
      CpAsyncCommit();
    }
    const uint8_t* sw = smem + slot * St::kBytes;
    const uint8_t* sx = sw + kFp8WBytes;
    const float* ss = reinterpret_cast<const float*>(sw + St::kScaleOff);
    // The weight fragments of both k64 halves stay in registers while the token tiles go by;
    // each tile's block partial lives only for its own iteration (keeps NT = 8 within the
    // 128-register cap).
    uint4 alo[2], ahi[2];
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      alo[c] = LdShared128(sw + r0 * 128 + SwzFp8(r0, c * 4 + l) * 16);
      ahi[c] = LdShared128(sw + (r0 + 8) * 128 + SwzFp8(r0 + 8, c * 4 + l) * 16);
    }
    const float wsv = ss[St::kWsIdx];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int r = nt * 8 + g;
      float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const uint4 b = LdShared128(sx + r * 128 + SwzFp8(r, c * 4 + l) * 16);
        internal::MmaE4m3(part, alo[c].x, ahi[c].x, alo[c].y, ahi[c].y, b.x, b.y);
        internal::MmaE4m3(part, alo[c].z, ahi[c].z, alo[c].w, ahi[c].w, b.z, b.w);
      }
      const float2 xs = *reinterpret_cast<const float2*>(ss + nt * 8 + l * 2);
      const float s0 = xs.x * wsv, s1 = xs.y * wsv;
      acc[nt][0] += part[0] * s0;
      acc[nt][1] += part[1] * s1;
      acc[nt][2] += part[2] * s0;
      acc[nt][3] += part[3] * s1;
    }
    slot = slot == St::kStages - 1 ? 0 : slot + 1;
  }
  CpAsyncWait<0>();
  __syncthreads();  // the next pass reuses the stages

#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t row = n0 + r0 + (i >= 2 ? 8 : 0);
      const int t = nt * 8 + l * 2 + (i & 1);
      if (row >= a.n || t >= cnt) continue;
      if (a.splits == 1) {
        a.out[(tok0 + t) * a.out_ld + row] = internal::FloatToBf16Bits(acc[nt][i]);
      } else {
        a.partial[(static_cast<int64_t>(blockIdx.z) * a.tokens + tok0 + t) * a.n + row] =
            acc[nt][i];
      }
    }
}

__global__ void __launch_bounds__(kThreads, 2) StreamFp8Kernel(const Fp8KernelArgs a) {
  extern __shared__ __align__(128) uint8_t smem[];
  const GroupRange gr = LoadGroup(a.offsets, blockIdx.y, a.tokens);
  if (gr.end <= gr.begin) return;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const int nkb = static_cast<int>(a.k / 128);
  const int per = (nkb + a.splits - 1) / a.splits;
  const int kb0 = blockIdx.z * per, kb1 = min(nkb, kb0 + per);
  const uint8_t* w = a.w + static_cast<int64_t>(blockIdx.y) * a.n * a.k;
  const float* ws =
      a.w_scale + static_cast<int64_t>(blockIdx.y) * ((a.n + 127) / 128) * a.w_scale_ld;
  for (int64_t t0 = gr.begin; t0 < gr.end; t0 += kMaxTokFp8) {
    const int cnt = static_cast<int>(min(static_cast<int64_t>(kMaxTokFp8), gr.end - t0));
    if (cnt <= 8) {
      Fp8Pass<1>(a, smem, w, ws, n0, t0, cnt, kb0, kb1);
    } else if (cnt <= 16) {
      Fp8Pass<2>(a, smem, w, ws, n0, t0, cnt, kb0, kb1);
    } else if (cnt <= 32) {
      Fp8Pass<4>(a, smem, w, ws, n0, t0, cnt, kb0, kb1);
    } else {
      Fp8Pass<8>(a, smem, w, ws, n0, t0, cnt, kb0, kb1);
    }
  }
}

// Sums split-K partials in split order (deterministic) and rounds to bf16.
__global__ void ReduceSplitsKernel(const float* __restrict__ partial, int splits, int64_t tokens,
                                   int64_t n, uint16_t* __restrict__ out, int64_t out_ld) {
  const int64_t total = tokens * n;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (int j = 0; j < splits; ++j) s += partial[j * total + i];
    out[(i / n) * out_ld + i % n] = internal::FloatToBf16Bits(s);
  }
}

// ------------------------------------------------------------------------------------------
// INT4 W4A16
// ------------------------------------------------------------------------------------------

// A stage holds two K groups (256 K): 128 bytes per weight row, a full 128-byte line (one group
// per stage would fetch 64-byte half lines per row).
constexpr int kI4WBytes = kRows * 128;  // 16 KB: 128 rows × 256 int4
template <int NT>
struct I4Stage {
  static constexpr int kXBytes = NT * 8 * 512;           // tokens × 256 bf16
  static constexpr int kScaleOff = kI4WBytes + kXBytes;  // 2 groups × 128 bf16 row scales
  static constexpr int kBytes = kScaleOff + 512;
  static constexpr int kStages = NT == 1 ? 5 : NT == 2 ? 4 : 3;
  static constexpr int kSmem = kStages * kBytes;
};
constexpr int kI4SmemBytes = I4Stage<1>::kSmem;
static_assert(I4Stage<2>::kSmem <= kI4SmemBytes && I4Stage<4>::kSmem <= kI4SmemBytes);

struct Int4KernelArgs {
  const uint16_t* x;
  const uint8_t* w;
  const uint16_t* w_scale;
  const int32_t* offsets;
  uint16_t* out;
  int64_t tokens, n, k;
};

// Activation rows are 512 bytes (two 256-byte halves of 16 chunks, one per K group); thread l
// reads chunks 4l..4l+3 of a half. This swizzle puts the 8 lanes of a quarter warp (two token
// rows, four l) in 8 distinct banks.
__device__ __forceinline__ int SwzI4(int r, int c) { return c ^ (((c >> 3) & 1) << 1) ^ (r & 1); }

// Eight int4 values (offset-binary interleaved word, int4_quant.h) → four bf16x2:
// (v0,v1) (v2,v3) (v4,v5) (v6,v7).
__device__ __forceinline__ void DequantInt4x8(uint32_t u, uint32_t (&p)[4]) {
  const __nv_bfloat162 bias = __floats2bfloat162_rn(136.0f, 136.0f);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    uint32_t t = ((u >> (4 * j)) & 0x000f000fu) | 0x43004300u;  // bf16 128 + (q + 8), exact
    __nv_bfloat162 v = *reinterpret_cast<__nv_bfloat162*>(&t);
    v = __hsub2(v, bias);
    p[j] = *reinterpret_cast<uint32_t*>(&v);
  }
}

template <int NT>
__device__ __forceinline__ void Int4Pass(const Int4KernelArgs& a, uint8_t* smem, const uint8_t* w,
                                         const uint16_t* ws, int64_t n0, int64_t tok0, int cnt) {
  using St = I4Stage<NT>;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, l = lane % 4;
  const int ngroups = static_cast<int>(a.k / 128);
  const int nst = (ngroups + 1) / 2;  // stages of two groups
  const int64_t row_bytes = a.k / 2;

  // Per-thread copy assignment, fixed for the pass: weight chunks (row tid/8 + 32i, chunk tid%8)
  // for i < 4; activation chunks (row tid/32 + 8j, chunk tid%32) for j < NT; scale chunk tid
  // (group tid/16) for tid < 32.
  const int cr = tid / 8, cc = tid % 8;
  const uint8_t* wsrc = w + (n0 + cr) * row_bytes + cc * 16;
  const int wdst = cr * 128 + SwzFp8(cr, cc) * 16;
  const int64_t wstep = 32 * row_bytes;
  const int xr = tid / 32, xc = tid % 32;
  const int xdst = xr * 512 + (xc / 16) * 256 + SwzI4(xr, xc % 16) * 16;  // + j·4096 (xr + 8j)

  auto load_stage = [&](int st, int slot) {
    uint8_t* sw = smem + slot * St::kBytes;
    const bool second = 2 * st + 1 < ngroups;  // an odd group count leaves the last half empty
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const bool valid = n0 + cr + 32 * i < a.n && (cc < 4 || second);
      internal::CpAsync16(sw + wdst + i * 4096, valid ? wsrc + i * wstep + st * 128 : w, valid);
    }
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const int r = xr + 8 * j;
      const bool valid = r < cnt && (xc < 16 || second);
      const uint16_t* src = a.x + (tok0 + (valid ? r : 0)) * a.k + st * 256 + xc * 8;
      internal::CpAsync16(sw + kI4WBytes + xdst + j * 4096, valid ? src : a.x, valid);
    }
    if (tid < 32) {  // 128 row scales of each group: contiguous in the group-major layout
      const int grp = 2 * st + tid / 16;
      const bool valid = n0 + (tid % 16) * 8 < a.n && grp < ngroups;
      internal::CpAsync16(sw + St::kScaleOff + tid * 16,
                          valid ? ws + static_cast<int64_t>(grp) * a.n + n0 + (tid % 16) * 8 : ws,
                          valid);
    }
  };

  float acc[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[nt][i] = 0.0f;

#pragma unroll 1
  for (int s = 0; s < St::kStages - 1; ++s) {
    if (s < nst) load_stage(s, s);
    CpAsyncCommit();
  }
  const int r0 = warp * 16 + g;  // this thread's weight rows: r0, r0 + 8
  // Shared-memory offsets of this thread's fragments. Rows r0 and r0 + 8 have the same parity,
  // so the weight chunk of group h is (4h + l) ^ 4·(g & 1); the activation chunk of word i is
  // 4l + (i ^ x) with x = 2·(l >> 1) + (g & 1) (SwzI4 with c = 4l + i), token row nt·8 + g.
  const int a_off0 = r0 * 128 + ((l ^ ((g & 1) << 2)) << 4);  // group h: ^ (h << 6)
  const int xsw = ((l >> 1) << 1) | (g & 1);
  const int b_off = g * 512 + l * 64;  // + nt·4096 + h·256 + ((i ^ xsw) << 4)
  int slot = 0;
#pragma unroll 1
  for (int st = 0; st < nst; ++st) {
    CpAsyncWait<St::kStages - 2>();
    __syncthreads();
    {
      const int nk = st + St::kStages - 1;
      const int nslot = slot == 0 ? St::kStages - 1 : slot - 1;
      if (nk < nst) load_stage(nk, nslot);
      CpAsyncCommit();
    }
    const uint8_t* sw = smem + slot * St::kBytes;
    const uint8_t* sx = sw + kI4WBytes;
    const uint16_t* ssc = reinterpret_cast<const uint16_t*>(sw + St::kScaleOff);
#pragma unroll
    for (int h = 0; h < 2; ++h) {  // the stage's two K groups
      const uint4 alo = LdShared128(sw + (a_off0 ^ (h << 6)));
      const uint4 ahi = LdShared128(sw + (a_off0 ^ (h << 6)) + 8 * 128);
      float part[NT][4];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i) part[nt][i] = 0.0f;
#pragma unroll
      for (int i = 0; i < 4; ++i) {  // word i of the thread's 16 bytes = K steps 2i, 2i+1
        const uint32_t wlo = i == 0 ? alo.x : i == 1 ? alo.y : i == 2 ? alo.z : alo.w;
        const uint32_t whi = i == 0 ? ahi.x : i == 1 ? ahi.y : i == 2 ? ahi.z : ahi.w;
        uint32_t plo[4], phi[4];
        DequantInt4x8(wlo, plo);
        DequantInt4x8(whi, phi);
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint4 b = LdShared128(sx + b_off + nt * 4096 + h * 256 + ((i ^ xsw) << 4));
          internal::MmaBf16(part[nt], plo[0], phi[0], plo[1], phi[1], b.x, b.y);
          internal::MmaBf16(part[nt], plo[2], phi[2], plo[3], phi[3], b.z, b.w);
        }
      }
      const float s_lo = internal::Bf16BitsToFloat(ssc[h * 128 + r0]);
      const float s_hi = internal::Bf16BitsToFloat(ssc[h * 128 + r0 + 8]);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        acc[nt][0] += part[nt][0] * s_lo;
        acc[nt][1] += part[nt][1] * s_lo;
        acc[nt][2] += part[nt][2] * s_hi;
        acc[nt][3] += part[nt][3] * s_hi;
      }
    }
    slot = slot == St::kStages - 1 ? 0 : slot + 1;
  }
  CpAsyncWait<0>();
  __syncthreads();

#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t row = n0 + r0 + (i >= 2 ? 8 : 0);
      const int t = nt * 8 + l * 2 + (i & 1);
      if (row < a.n && t < cnt) {
        a.out[(tok0 + t) * a.n + row] = internal::FloatToBf16Bits(acc[nt][i]);
      }
    }
}

__global__ void __launch_bounds__(kThreads, 2) StreamInt4Kernel(const Int4KernelArgs a) {
  extern __shared__ __align__(128) uint8_t smem[];
  const GroupRange gr = LoadGroup(a.offsets, blockIdx.y, a.tokens);
  if (gr.end <= gr.begin) return;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const uint8_t* w = a.w + static_cast<int64_t>(blockIdx.y) * a.n * (a.k / 2);
  const uint16_t* ws = a.w_scale + static_cast<int64_t>(blockIdx.y) * (a.k / 128) * a.n;
  for (int64_t t0 = gr.begin; t0 < gr.end; t0 += kMaxTok) {
    const int cnt = static_cast<int>(min(static_cast<int64_t>(kMaxTok), gr.end - t0));
    if (cnt <= 8) {
      Int4Pass<1>(a, smem, w, ws, n0, t0, cnt);
    } else if (cnt <= 16) {
      Int4Pass<2>(a, smem, w, ws, n0, t0, cnt);
    } else {
      Int4Pass<4>(a, smem, w, ws, n0, t0, cnt);
    }
  }
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

namespace internal {

absl::Status LaunchStreamGemmFp8(const StreamGemmFp8Args& a, cudaStream_t stream) {
  if (a.tokens == 0) return absl::OkStatus();
  if (!Aligned16(a.x) || !Aligned16(a.w)) {
    return absl::InvalidArgumentError("fp8 stream gemm: x and w must be 16-byte aligned");
  }
  if (a.groups <= 0 || a.groups > 65535) {
    return absl::InvalidArgumentError("fp8 stream gemm: groups out of range");
  }
  const int nkb = static_cast<int>(a.k / 128);
  int splits = std::max(1, std::min(a.splits, nkb));
  if (splits > 1 && a.workspace == nullptr)
    return absl::InvalidArgumentError("split-K needs workspace");
  if (splits > 1) {
    const int per = (nkb + splits - 1) / splits;
    splits = (nkb + per - 1) / per;
  }
  static const bool attr_ok =
      cudaFuncSetAttribute(StreamFp8Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           kFp8SmemBytes) == cudaSuccess;
  if (!attr_ok) return absl::InternalError("fp8 stream gemm: cannot reserve shared memory");
  Fp8KernelArgs k{a.x,   a.x_scale, a.x_scale_ld, a.w,      a.w_scale, a.w_scale_ld, a.offsets,
                  a.out, a.out_ld,  a.workspace,  a.tokens, a.n,       a.k,          splits};
  const dim3 grid(static_cast<unsigned>((a.n + kRows - 1) / kRows), static_cast<unsigned>(a.groups),
                  static_cast<unsigned>(splits));
  StreamFp8Kernel<<<grid, kThreads, kFp8SmemBytes, stream>>>(k);
  if (auto st = LaunchStatus("fp8 stream gemm launch"); !st.ok()) return st;
  if (splits > 1) {
    const int64_t total = a.tokens * a.n;
    const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 4096));
    ReduceSplitsKernel<<<blocks, 256, 0, stream>>>(a.workspace, splits, a.tokens, a.n, a.out,
                                                   a.out_ld);
    return LaunchStatus("fp8 stream gemm split reduce");
  }
  return absl::OkStatus();
}

}  // namespace internal

absl::Status LaunchMoeGemmFp8(const MoeGemmFp8Params& p, cudaStream_t stream) {
  if (auto st = ValidateMoeGemmFp8(p); !st.ok()) return st;
  internal::StreamGemmFp8Args a;
  a.x = p.x;
  a.x_scale = p.x_scale;
  a.x_scale_ld = p.x_scale_ld;
  a.w = p.w;
  a.w_scale = p.w_scale;
  a.w_scale_ld = p.w_scale_ld;
  a.offsets = p.expert_offsets;
  a.out = p.out;
  a.out_ld = p.n;
  a.tokens = p.tokens;
  a.groups = p.experts;
  a.n = p.n;
  a.k = p.k;
  a.splits = 1;
  return internal::LaunchStreamGemmFp8(a, stream);
}

absl::Status LaunchMoeGemmInt4(const MoeGemmInt4Params& p, cudaStream_t stream) {
  if (auto st = ValidateMoeGemmInt4(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  if (!Aligned16(p.x) || !Aligned16(p.w)) {
    return absl::InvalidArgumentError("moe_gemm_int4: x and w must be 16-byte aligned");
  }
  if (p.experts > 65535) return absl::InvalidArgumentError("moe_gemm_int4: too many experts");
  if (p.n % 8 != 0 || !Aligned16(p.w_scale)) {
    return absl::InvalidArgumentError("moe_gemm_int4: needs n % 8 == 0 and 16-byte aligned scales");
  }
  static const bool attr_ok =
      cudaFuncSetAttribute(StreamInt4Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           kI4SmemBytes) == cudaSuccess;
  if (!attr_ok) return absl::InternalError("moe_gemm_int4: cannot reserve shared memory");
  Int4KernelArgs k{p.x, p.w, p.w_scale, p.expert_offsets, p.out, p.tokens, p.n, p.k};
  const dim3 grid(static_cast<unsigned>((p.n + kRows - 1) / kRows),
                  static_cast<unsigned>(p.experts));
  StreamInt4Kernel<<<grid, kThreads, kI4SmemBytes, stream>>>(k);
  return internal::LaunchStatus("moe_gemm_int4 launch");
}

}  // namespace r1::kernels
