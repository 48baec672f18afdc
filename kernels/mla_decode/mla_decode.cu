// MLA absorbed decode over the paged latent cache (see mla_decode.h), sm_90a.
//
// CTA = (64-head group, sequence split, batch entry); two warpgroups (256 threads); one CTA per
// SM (≈225 KB of shared memory). Shared memory holds the CTA's queries (64 heads × 576 bf16),
// two KV pages (64 tokens × 576 bf16 each, double-buffered with cp.async) and the bf16
// probability tile P (64 heads × 64 tokens), all in the 128-byte-swizzled layout of wgmma.cuh.
//
// Per KV page:
//   1. warpgroup w computes a partial S_w = Q[:, Kw]·K[:, Kw]^T over its half Kw of the 576-wide
//      dot product (18 wgmma m64n64k16 steps, both operands from shared memory: each warpgroup
//      reads only its half of Q), then the two halves are exchanged so that warpgroup w holds the
//      full scores of tokens [32w, 32w+32) (the exchange reuses the P tile and the page's rope
//      atom, both free at that point);
//   2. online softmax in fp32 (exp2 domain): the two warpgroups exchange their row maxima through
//      shared memory so both use the same running max; each writes its half of P (bf16);
//   3. warpgroup w accumulates O[:, 256w..256w+255] += P·V (wgmma m64n256k16, K = 64 tokens, the
//      V operand read N-major from the same page tile); O lives in registers (128 f32/thread).
// The epilogue divides by the row sums (or, with splits, writes normalised partials and their
// log-sum-exp for MlaCombineKernel).
//
// FP8 cache (kFp8 instantiation): the second KV tile's space holds instead one staged FP8 page
// (64 rows × 656 bytes, linear, cp.async); at the top of each page iteration all 256 threads
// dequantise it into the (single) bf16 tile — c_kv = bf16(e4m3 · scale), k_rope copied — in the
// same swizzled layout, then issue the next page's copy into the staging area, so the load of page
// n+1 overlaps the compute of page n as in the BF16 path; steps 1–3 are unchanged. The dequantised
// values are bit-identical to DequantizeMlaFp8Row's (e4m3→f16 is exact, one f32 multiply, RNE).
//
// Measured on H200 (bench/results/kernels-2026-11-22.md), batch 64 × 4096 tokens × 128 heads:
// ~180 µs = 1.7 TB/s of cache, ~400 TFLOP/s. At 128 heads the op does 242 FLOP per cache byte, so
// it is bound by the tensor cores, not HBM; Nsight Compute shows the tensor pipe 41% busy and 0.56
// eligible warps per scheduler: the three phases above run one after another in both warpgroups
// (each waits on its wgmma and on the CTA barriers), so the tensor cores idle during the softmax
// and the score exchange. Closing the gap means overlapping them (FlashMLA / FlashAttention-3
// style: issue the next page's QK before this page's softmax, or ping-pong two head groups).
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/internal/wgmma.cuh"
#include "kernels/mla_decode/mla_decode_cuda.h"

namespace r1::kernels {
namespace {

using internal::CpAsync16;

constexpr int kHeadsPerCta = 64;
constexpr int kThreads = 256;
constexpr int kAtomBytes = 64 * 128;        // 64 rows × 64 bf16
constexpr int kTileBytes = 9 * kAtomBytes;  // 64 rows × 576 bf16
constexpr int kSmemQ = 0;
constexpr int kSmemKv = kTileBytes;            // two tiles
constexpr int kSmemP = 3 * kTileBytes;         // 64 × 64 bf16
constexpr int kSmemMax = kSmemP + kAtomBytes;  // [2][64] f32
constexpr int kSmemSum = kSmemMax + 2 * 64 * 4;
constexpr int kSmemUsed = kSmemSum + 2 * 64 * 4;
constexpr int kSmemBytes = kSmemUsed + 1024;  // slack to align the base to 1024
// FP8 cache: one staged page in the second KV tile's space (unused by the FP8 path).
constexpr int kSmemFp8Stage = kSmemKv + kTileBytes;
constexpr int kFp8PageChunks = static_cast<int>(kMlaPageTokens * kMlaFp8RowBytes / 16);  // 2624
constexpr int kFp8RowChunks = static_cast<int>(kMlaFp8RowBytes / 16);                    // 41
static_assert(kMlaFp8RowBytes % 16 == 0 && kMlaFp8RopeOffset % 16 == 0, "16-byte chunks");
static_assert(kMlaPageTokens * kMlaFp8RowBytes <= kTileBytes, "staged FP8 page fits a tile");
constexpr float kLog2e = 1.4426950408889634f;

struct Args {
  const uint16_t* q_latent;
  const uint16_t* q_rope;
  int64_t q_batch_stride, q_head_stride;
  const uint16_t* cache;     // bf16 cache (kFp8 = false)
  const uint8_t* cache_fp8;  // FP8 cache (kFp8 = true)
  int64_t num_pages;
  const int32_t* block_table;
  int64_t bt_stride;
  const int32_t* seq_lens;
  float* out;
  uint16_t* out_bf16;
  float* part_o;    // [batch][splits][heads][512] (splits > 1)
  float* part_lse;  // [batch][splits][heads]      (splits > 1), log2 domain
  int64_t heads;
  int splits;
  float scale_log2;  // softmax_scale · log2(e)
};

// Byte offset of 16-byte chunk `c` (0..7) of row `r` inside a 128-byte-swizzled atom.
__device__ __forceinline__ int SwOff(int r, int c) { return r * 128 + ((c ^ (r & 7)) << 4); }

// Score exchange between the warpgroups (register indices must be compile-time constants, hence
// the template): warpgroup W keeps accumulator chunks 4W..4W+3 (columns 32W..32W+31) and hands the
// other 16 values to its partner thread through `xw`; `xr` holds what the partner handed over.
template <int W>
__device__ __forceinline__ void GiveScores(const float (&sp)[32], float4* xw, int t) {
  constexpr int kGive = (1 - W) * 16;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    xw[j * 128 + t] = make_float4(sp[kGive + 4 * j], sp[kGive + 4 * j + 1], sp[kGive + 4 * j + 2],
                                  sp[kGive + 4 * j + 3]);
  }
}

template <int W>
__device__ __forceinline__ void TakeScores(const float (&sp)[32], float (&s)[16], const float4* xr,
                                           int t) {
  constexpr int kKeep = W * 16;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float4 o4 = xr[j * 128 + t];
    s[4 * j + 0] = sp[kKeep + 4 * j + 0] + o4.x;
    s[4 * j + 1] = sp[kKeep + 4 * j + 1] + o4.y;
    s[4 * j + 2] = sp[kKeep + 4 * j + 2] + o4.z;
    s[4 * j + 3] = sp[kKeep + 4 * j + 3] + o4.w;
  }
}

__device__ __forceinline__ void StoreOut(const Args& a, int64_t idx, float v0, float v1) {
  if (a.out != nullptr) {
    *reinterpret_cast<float2*>(a.out + idx) = make_float2(v0, v1);
  } else {
    *reinterpret_cast<uint32_t*>(a.out_bf16 + idx) = internal::PackBf16x2(v0, v1);
  }
}

// Eight e4m3 codes (little-endian in `q`) times `s`, rounded to bf16: one 16-byte chunk.
__device__ __forceinline__ uint4 DequantE4m3x8(uint2 q, float s) {
  uint32_t w[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const uint32_t word = j < 2 ? q.x : q.y;
    const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(
        static_cast<__nv_fp8x2_storage_t>(word >> (16 * (j % 2))), __NV_E4M3);
    const float2 f = __half22float2(__half2(h));
    w[j] = internal::PackBf16x2(f.x * s, f.y * s);
  }
  return make_uint4(w[0], w[1], w[2], w[3]);
}

// Dequantises the staged FP8 page into the swizzled bf16 tile. Thread (cr, cc) writes the chunks
// the BF16 path's copy would: rows cr and cr + 32, chunk cc of each of the 9 atoms.
__device__ __forceinline__ void DequantFp8Page(const uint8_t* stage, uint8_t* tile, int cr, int cc,
                                               int sw_off) {
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const uint8_t* src = stage + (cr + 32 * j) * kMlaFp8RowBytes;
    const float4 sc = *reinterpret_cast<const float4*>(src + kMlaFp8ScaleOffset);
    const float scale[4] = {sc.x, sc.y, sc.z, sc.w};
#pragma unroll
    for (int atom = 0; atom < 8; ++atom) {
      const uint2 q = *reinterpret_cast<const uint2*>(src + atom * 64 + cc * 8);
      *reinterpret_cast<uint4*>(tile + atom * kAtomBytes + j * 4096 + sw_off) =
          DequantE4m3x8(q, scale[atom / 2]);
    }
    *reinterpret_cast<uint4*>(tile + 8 * kAtomBytes + j * 4096 + sw_off) =
        *reinterpret_cast<const uint4*>(src + kMlaFp8RopeOffset + cc * 16);
  }
}

template <bool kFp8>
__global__ void __launch_bounds__(kThreads, 1) MlaDecodeKernel(const Args a) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) &
                                             ~static_cast<uintptr_t>(1023));
  float* s_max = reinterpret_cast<float*>(smem + kSmemMax);
  float* s_sum = reinterpret_cast<float*>(smem + kSmemSum);
  uint8_t* s_p = smem + kSmemP;

  const int hg = blockIdx.x, split = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
  const int64_t h0 = static_cast<int64_t>(hg) * kHeadsPerCta;
  const int len = min(max(a.seq_lens[b], 0), static_cast<int>(a.bt_stride * kMlaPageTokens));
  const int nblk = (len + kMlaPageTokens - 1) / kMlaPageTokens;
  const int bps = (nblk + a.splits - 1) / a.splits;
  const int blk0 = split * bps, blk1 = min(nblk, blk0 + bps);
  const int row0 = warp * 16 + lane / 4;  // this thread's two head rows: row0, row0 + 8
  const int quad = lane % 4;

  if (blk0 >= blk1) {  // nothing to attend to in this split
    for (int i = tid; i < kHeadsPerCta * kMlaLatentDim; i += kThreads) {
      const int64_t h = h0 + i / kMlaLatentDim, d = i % kMlaLatentDim;
      if (a.splits == 1) {
        const int64_t idx = (b * a.heads + h) * kMlaLatentDim + d;
        if (a.out)
          a.out[idx] = 0.0f;
        else
          a.out_bf16[idx] = 0;
      } else {
        a.part_o[((static_cast<int64_t>(b) * a.splits + split) * a.heads + h) * kMlaLatentDim + d] =
            0.0f;
        if (d == 0)
          a.part_lse[(static_cast<int64_t>(b) * a.splits + split) * a.heads + h] = -INFINITY;
      }
    }
    return;
  }

  // Copy assignment: thread t copies rows t/8 and t/8 + 32 (chunk t%8) of every 64-column atom,
  // so its shared-memory offset inside an atom is fixed (the swizzle depends on row % 8 only).
  const int cr = tid / 8, cc = tid % 8;
  const int sw_off = SwOff(cr, cc);  // row cr + 32 adds 4096 (same row % 8)
  // Queries: 64 heads × (512 latent + 64 rope), swizzled into 9 atoms.
  {
    const uint16_t* ql = a.q_latent + b * a.q_batch_stride + (h0 + cr) * a.q_head_stride + cc * 8;
    const uint16_t* qr = a.q_rope + b * a.q_batch_stride + (h0 + cr) * a.q_head_stride + cc * 8;
    const int64_t step = 32 * a.q_head_stride;
#pragma unroll
    for (int atom = 0; atom < 9; ++atom) {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const uint16_t* src = atom < 8 ? ql + j * step + atom * 64 : qr + j * step;
        CpAsync16(smem + kSmemQ + atom * kAtomBytes + j * 4096 + sw_off, src, true);
      }
    }
  }
  auto load_kv = [&](int blk, int buf) {
    int page = a.block_table[static_cast<int64_t>(b) * a.bt_stride + blk];
    page = min(max(page, 0), static_cast<int>(a.num_pages - 1));  // never read out of bounds
    const int valid = len - blk * kMlaPageTokens;  // rows past the sequence are zero-filled
    const uint16_t* src =
        a.cache + (static_cast<int64_t>(page) * kMlaPageTokens + cr) * kMlaCacheDim + cc * 8;
    uint8_t* dst = smem + kSmemKv + buf * kTileBytes + sw_off;
#pragma unroll
    for (int atom = 0; atom < 9; ++atom) {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const bool v = cr + 32 * j < valid;
        CpAsync16(dst + atom * kAtomBytes + j * 4096,
                  v ? src + j * 32 * kMlaCacheDim + atom * 64 : a.cache, v);
      }
    }
  };
  // FP8: page blk's 656-byte rows, linear, into the staging area; rows past the sequence zeroed.
  auto load_fp8 = [&](int blk) {
    int page = a.block_table[static_cast<int64_t>(b) * a.bt_stride + blk];
    page = min(max(page, 0), static_cast<int>(a.num_pages - 1));
    const int valid = len - blk * kMlaPageTokens;
    const uint8_t* src =
        a.cache_fp8 + static_cast<int64_t>(page) * kMlaPageTokens * kMlaFp8RowBytes;
    for (int i = tid; i < kFp8PageChunks; i += kThreads) {
      const bool v = i / kFp8RowChunks < valid;
      CpAsync16(smem + kSmemFp8Stage + i * 16, v ? src + i * 16 : a.cache_fp8, v);
    }
  };
  if constexpr (kFp8) {
    load_fp8(blk0);
  } else {
    load_kv(blk0, 0);
  }
  internal::CpAsyncCommit();

  const uint64_t desc_q = internal::MakeSw128Desc(smem + kSmemQ, 16, 1024);
  const uint64_t desc_kv0 = internal::MakeSw128Desc(smem + kSmemKv, 16, 1024);
  const uint64_t desc_kv1 = internal::MakeSw128Desc(smem + kSmemKv + kTileBytes, 16, 1024);
  const uint64_t desc_p = internal::MakeSw128Desc(smem + kSmemP, 16, 1024);
  const uint64_t desc_v0 =
      internal::MakeSw128Desc(smem + kSmemKv + wg * 4 * kAtomBytes, kAtomBytes, 1024);
  const uint64_t desc_v1 =
      internal::MakeSw128Desc(smem + kSmemKv + kTileBytes + wg * 4 * kAtomBytes, kAtomBytes, 1024);
  float o[128];
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  for (int blk = blk0; blk < blk1; ++blk) {
    const int buf = kFp8 ? 0 : (blk - blk0) & 1;
    internal::CpAsyncWait<0>();         // page blk (issued one iteration ago) has landed
    internal::FenceProxyAsyncShared();  // copied bytes are read by wgmma (async proxy)
    // Also: both warpgroups have finished the previous page's PV, so its buffer and P are free.
    __syncthreads();
    if constexpr (kFp8) {
      DequantFp8Page(smem + kSmemFp8Stage, smem + kSmemKv, cr, cc, sw_off);
      internal::FenceProxyAsyncShared();  // the tile's generic-proxy stores are read by wgmma
      __syncthreads();                    // tile complete, staging area free
      if (blk + 1 < blk1) load_fp8(blk + 1);
    } else {
      if (blk + 1 < blk1) load_kv(blk + 1, buf ^ 1);
    }
    internal::CpAsyncCommit();

    // 1. Partial scores over this warpgroup's half of the 576 dims, all 64 tokens.
    float sp[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) sp[i] = 0.0f;
    internal::WgmmaFence();
#pragma unroll
    for (int j = 0; j < 18; ++j) {
      const int kk = wg * 18 + j;
      const uint32_t off = static_cast<uint32_t>((kk / 4) * kAtomBytes + (kk % 4) * 32) >> 4;
      internal::WgmmaM64N64K16(sp, desc_q + off, (buf ? desc_kv1 : desc_kv0) + off, j > 0);
    }
    internal::WgmmaCommit();
    internal::WgmmaWait<0>();
#pragma unroll
    for (int i = 0; i < 32; ++i) internal::FenceOperand(sp[i]);
    // Exchange: warpgroup w keeps columns [32w, 32w+32) (accumulator chunks 4w..4w+3) and hands
    // the other half to its partner thread (same index in the other warpgroup). Warpgroup 0
    // writes into the P tile (free since the loop-top barrier), warpgroup 1 into this page's rope
    // atom (read only by warpgroup 1's own QK steps, which it has just waited for).
    uint8_t* rope_atom = smem + kSmemKv + buf * kTileBytes + 8 * kAtomBytes;
    float4* xw = reinterpret_cast<float4*>(wg == 0 ? s_p : rope_atom);
    const float4* xr = reinterpret_cast<const float4*>(wg == 0 ? rope_atom : s_p);
    if (wg == 0) {
      GiveScores<0>(sp, xw, tid % 128);
    } else {
      GiveScores<1>(sp, xw, tid % 128);
    }
    __syncthreads();
    float s[16];
    if (wg == 0) {
      TakeScores<0>(sp, s, xr, tid % 128);
    } else {
      TakeScores<1>(sp, s, xr, tid % 128);
    }

    // 2. Online softmax (log2 domain). Column of s[4i + j(+2)]: token 8i + 2·quad + j.
    const int tok_base = blk * kMlaPageTokens + wg * 32;
    float mloc[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const bool valid = tok_base + 8 * i + 2 * quad + j < len;
        s[4 * i + j] = valid ? s[4 * i + j] * a.scale_log2 : -INFINITY;
        s[4 * i + 2 + j] = valid ? s[4 * i + 2 + j] * a.scale_log2 : -INFINITY;
        mloc[0] = fmaxf(mloc[0], s[4 * i + j]);
        mloc[1] = fmaxf(mloc[1], s[4 * i + 2 + j]);
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mloc[r] = fmaxf(mloc[r], __shfl_xor_sync(0xffffffffu, mloc[r], 1));
      mloc[r] = fmaxf(mloc[r], __shfl_xor_sync(0xffffffffu, mloc[r], 2));
    }
    if (quad == 0) {
      s_max[wg * 64 + row0] = mloc[0];
      s_max[wg * 64 + row0 + 8] = mloc[1];
    }
    __syncthreads();
    // Lazy rescaling: the running max m only moves when the page's max exceeds it by more than
    // 2^8; otherwise P = 2^(s − m) ≤ 256 (fine in bf16/fp32) and O, l keep their scale. The
    // result is exact either way since O and l always share the same m.
    float alpha[2];
    bool rescale = false;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = row0 + 8 * r;
      const float mblk = fmaxf(s_max[row], s_max[64 + row]);
      alpha[r] = 1.0f;
      if (mblk > m[r] + 8.0f) {
        alpha[r] = exp2f(m[r] - mblk);  // m = -inf on the first page → 0
        m[r] = mblk;
        l[r] *= alpha[r];
        rescale = true;
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float p[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        p[j] = exp2f(s[4 * i + j] - m[j >> 1]);
        l[j >> 1] += p[j];
      }
      const int chunk = wg * 4 + i;
      *reinterpret_cast<uint32_t*>(s_p + SwOff(row0, chunk) + 4 * quad) =
          internal::PackBf16x2(p[0], p[1]);
      *reinterpret_cast<uint32_t*>(s_p + SwOff(row0 + 8, chunk) + 4 * quad) =
          internal::PackBf16x2(p[2], p[3]);
    }
    if (__any_sync(0xffffffffu, rescale)) {
#pragma unroll
      for (int i = 0; i < 32; ++i) {
        o[4 * i + 0] *= alpha[0];
        o[4 * i + 1] *= alpha[0];
        o[4 * i + 2] *= alpha[1];
        o[4 * i + 3] *= alpha[1];
      }
    }
    internal::FenceProxyAsyncShared();
    __syncthreads();

    // 3. O[:, 256·wg ..] += P · V.
    internal::WgmmaFence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      // A = P (64 heads × 16 tokens, K-major); B = V rows kk·16.. as N-major (dims), this
      // warpgroup's 256 dims = 4 atoms LBO apart.
      internal::WgmmaM64N256K16TransB(o, desc_p + kk * 2,
                                      (buf ? desc_v1 : desc_v0) + kk * (2048 >> 4), true);
    }
    internal::WgmmaCommit();
    internal::WgmmaWait<0>();
#pragma unroll
    for (int i = 0; i < 128; ++i) internal::FenceOperand(o[i]);
  }
  internal::CpAsyncWait<0>();

  // Row sums across the quad, then across the two warpgroups.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  if (quad == 0) {
    s_sum[wg * 64 + row0] = l[0];
    s_sum[wg * 64 + row0 + 8] = l[1];
  }
  __syncthreads();
  float inv[2], lse[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 8 * r;
    const float total = s_sum[row] + s_sum[64 + row];
    inv[r] = 1.0f / total;
    lse[r] = m[r] + log2f(total);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t h = h0 + row0 + 8 * r;
    int64_t base;
    if (a.splits == 1) {
      base = (b * a.heads + h) * kMlaLatentDim;
    } else {
      const int64_t slot = (static_cast<int64_t>(b) * a.splits + split) * a.heads + h;
      base = slot * kMlaLatentDim;
      if (wg == 0 && quad == 0) a.part_lse[slot] = lse[r];
    }
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      const int64_t col = wg * 256 + 8 * i + 2 * quad;
      const float v0 = o[4 * i + 2 * r] * inv[r], v1 = o[4 * i + 2 * r + 1] * inv[r];
      if (a.splits == 1) {
        StoreOut(a, base + col, v0, v1);
      } else {
        *reinterpret_cast<float2*>(a.part_o + base + col) = make_float2(v0, v1);
      }
    }
  }
}

// Merges the splits of one (batch entry, head): weights 2^(lse_s − max lse).
__global__ void MlaCombineKernel(const float* __restrict__ part_o,
                                 const float* __restrict__ part_lse, int splits, int64_t heads,
                                 float* out, uint16_t* out_bf16) {
  const int64_t h = blockIdx.x, b = blockIdx.y;
  const int64_t slot0 = b * splits * heads + h;  // slot of split s: slot0 + s·heads
  float mx = -INFINITY;
  for (int s = 0; s < splits; ++s) mx = fmaxf(mx, part_lse[slot0 + s * heads]);
  const int64_t obase = (b * heads + h) * kMlaLatentDim;
  for (int d = threadIdx.x; d < kMlaLatentDim; d += blockDim.x) {
    float acc = 0.0f, wsum = 0.0f;
    if (mx != -INFINITY) {
      for (int s = 0; s < splits; ++s) {
        const float w = exp2f(part_lse[slot0 + s * heads] - mx);
        acc += w * part_o[(slot0 + s * heads) * kMlaLatentDim + d];
        wsum += w;
      }
      acc /= wsum;
    }
    if (out)
      out[obase + d] = acc;
    else
      out_bf16[obase + d] = internal::FloatToBf16Bits(acc);
  }
}

}  // namespace

absl::Status LaunchMlaDecode(const MlaDecodeParams& p, cudaStream_t stream) {
  if (auto st = ValidateMlaDecode(p); !st.ok()) return st;
  if (p.batch == 0) return absl::OkStatus();
  if (p.heads % kHeadsPerCta != 0) return absl::InvalidArgumentError("mla_decode: heads % 64 != 0");
  auto a16 = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  const bool fp8 = p.kv_dtype == MlaKvDtype::kFp8;
  if (!a16(p.q_latent) || !a16(p.q_rope) ||
      !a16(fp8 ? static_cast<const void*>(p.kv_cache_fp8) : static_cast<const void*>(p.kv_cache)) ||
      p.q_head_stride % 8 != 0 || p.q_batch_stride % 8 != 0 || (p.out && !a16(p.out)) ||
      (p.out_bf16 && !a16(p.out_bf16))) {
    return absl::InvalidArgumentError(
        "mla_decode: pointers must be 16-byte aligned, strides % 8 == 0");
  }
  if (p.batch > 65535) return absl::InvalidArgumentError("mla_decode: batch > 65535");
  MlaDecodeConfig cfg = ChooseMlaDecodeConfig(p.batch, p.heads, p.max_seq_len, internal::SmCount());
  if (cfg.splits > 1 && (p.workspace == nullptr || p.workspace_bytes < cfg.workspace_bytes)) {
    cfg.splits = 1;  // correct, just slower
  }
  static const bool attr_ok =
      cudaFuncSetAttribute(MlaDecodeKernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           kSmemBytes) == cudaSuccess &&
      cudaFuncSetAttribute(MlaDecodeKernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           kSmemBytes) == cudaSuccess;
  if (!attr_ok) return absl::InternalError("mla_decode: cannot reserve shared memory");
  Args a;
  a.q_latent = p.q_latent;
  a.q_rope = p.q_rope;
  a.q_batch_stride = p.q_batch_stride;
  a.q_head_stride = p.q_head_stride;
  a.cache = p.kv_cache;
  a.cache_fp8 = p.kv_cache_fp8;
  a.num_pages = p.num_pages;
  a.block_table = p.block_table;
  a.bt_stride = p.block_table_stride;
  a.seq_lens = p.seq_lens;
  a.out = p.out;
  a.out_bf16 = p.out_bf16;
  float* ws = static_cast<float*>(p.workspace);
  a.part_o = ws;
  a.part_lse = ws ? ws + p.batch * cfg.splits * p.heads * kMlaLatentDim : nullptr;
  a.heads = p.heads;
  a.splits = cfg.splits;
  a.scale_log2 = p.softmax_scale * kLog2e;
  const dim3 grid(static_cast<unsigned>(p.heads / kHeadsPerCta), static_cast<unsigned>(cfg.splits),
                  static_cast<unsigned>(p.batch));
  if (fp8) {
    MlaDecodeKernel<true><<<grid, kThreads, kSmemBytes, stream>>>(a);
  } else {
    MlaDecodeKernel<false><<<grid, kThreads, kSmemBytes, stream>>>(a);
  }
  if (auto st = internal::LaunchStatus("mla_decode launch"); !st.ok()) return st;
  if (cfg.splits > 1) {
    MlaCombineKernel<<<dim3(static_cast<unsigned>(p.heads), static_cast<unsigned>(p.batch)), 128, 0,
                       stream>>>(a.part_o, a.part_lse, cfg.splits, p.heads, p.out, p.out_bf16);
    return internal::LaunchStatus("mla_decode combine launch");
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
