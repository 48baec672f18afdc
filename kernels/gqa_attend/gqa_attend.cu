#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/gqa_attend/gqa_attend_cuda.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"

namespace r1::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kH = kGqaMaxHeadsPerCta;

// One CTA per (token, kv head × head group, split): 4 warps take 32-position tiles of the
// split's range in turn. Per tile, lane j scores position tile + j against the CTA's (≤ 8)
// query heads (q in shared memory), the warp updates its online softmax, then accumulates the
// tile's values with each lane owning D/32 output dims. The warps' states are merged at the end,
// into the output (one split) or the workspace (o normalised, and its log-sum-exp).
template <int D>
__global__ void __launch_bounds__(kWarps * 32)
    GqaAttendKernel(const GqaAttendParams p, int64_t chunk, int splits) {
  constexpr int kVpl = (D + 31) / 32;  // value dims per lane
  __shared__ float q_s[kH][D];
  __shared__ float p_s[kWarps][kH][32];
  __shared__ float o_s[kWarps][kH][D];
  __shared__ float m_s[kWarps][kH], l_s[kWarps][kH];

  const int64_t t = blockIdx.x;
  const int group = p.heads / p.kv_heads;
  const int head_groups = (group + kH - 1) / kH;
  const int g = static_cast<int>(blockIdx.y) / head_groups;
  const int h0 = g * group + (static_cast<int>(blockIdx.y) % head_groups) * kH;
  const int nh = min(kH, g * group + group - h0);
  const int split = static_cast<int>(blockIdx.z);
  const int64_t len = p.seq_lens[t];
  const int64_t begin = split * chunk, end = min(len, begin + chunk);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  for (int i = threadIdx.x; i < kH * D; i += kWarps * 32) {
    const int hh = i / D, j = i % D;
    q_s[hh][j] =
        hh < nh ? internal::Bf16BitsToFloat(p.q[t * p.q_stride + (h0 + hh) * D + j]) : 0.0f;
  }
  __syncthreads();

  float m[kH], l[kH], acc[kH][kVpl];
#pragma unroll
  for (int hh = 0; hh < kH; ++hh) {
    m[hh] = -INFINITY;
    l[hh] = 0.0f;
#pragma unroll
    for (int i = 0; i < kVpl; ++i) acc[hh][i] = 0.0f;
  }
  const uint16_t* kbase = p.k_cache + g * D;
  const uint16_t* vbase = p.v_cache + g * D;
  const int dim0 = lane * kVpl;  // this lane's first value dim (lanes past D idle)
  for (int64_t tile = begin + warp * 32; tile < end; tile += kWarps * 32) {
    const int64_t s = tile + lane;
    const bool valid = s < end;
    long long off = 0;
    float sc[kH];
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) sc[hh] = -INFINITY;
    if (valid) {
      const int64_t page = p.block_table[t * p.block_table_stride + s / kGqaPageTokens];
      off = page * p.page_stride + (s % kGqaPageTokens) * p.row_stride;
      const uint4* k4 = reinterpret_cast<const uint4*>(kbase + off);
      float dot[kH];
#pragma unroll
      for (int hh = 0; hh < kH; ++hh) dot[hh] = 0.0f;
#pragma unroll 4
      for (int c = 0; c < D / 8; ++c) {
        const uint4 raw = k4[c];
        const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
        float kf[8];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          kf[2 * e] = internal::Bf16BitsToFloat(static_cast<uint16_t>(w[e] & 0xffff));
          kf[2 * e + 1] = internal::Bf16BitsToFloat(static_cast<uint16_t>(w[e] >> 16));
        }
#pragma unroll
        for (int hh = 0; hh < kH; ++hh) {
          if (hh < nh) {
#pragma unroll
            for (int e = 0; e < 8; ++e) dot[hh] = fmaf(q_s[hh][c * 8 + e], kf[e], dot[hh]);
          }
        }
      }
#pragma unroll
      for (int hh = 0; hh < kH; ++hh) sc[hh] = dot[hh] * p.softmax_scale;
    }
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) {
      if (hh >= nh) continue;  // uniform over the CTA
      // Lane 0's position is always valid (tile < end), so the tile maximum is finite.
      const float nm = fmaxf(m[hh], internal::WarpMax(sc[hh]));
      const float corr = __expf(m[hh] - nm);
      const float pr = valid ? __expf(sc[hh] - nm) : 0.0f;
      l[hh] = l[hh] * corr + internal::WarpSum(pr);
#pragma unroll
      for (int i = 0; i < kVpl; ++i) acc[hh][i] *= corr;
      m[hh] = nm;
      p_s[warp][hh][lane] = pr;
    }
    __syncwarp();
    const int nvalid = static_cast<int>(min(static_cast<int64_t>(32), end - tile));
    for (int j = 0; j < nvalid; ++j) {
      const long long voff = __shfl_sync(0xffffffffu, off, j);
      if (dim0 < D) {
        const uint16_t* v = vbase + voff + dim0;
        float vf[kVpl];
#pragma unroll
        for (int i = 0; i < kVpl; ++i) vf[i] = internal::Bf16BitsToFloat(v[i]);
#pragma unroll
        for (int hh = 0; hh < kH; ++hh) {
          if (hh < nh) {
            const float pj = p_s[warp][hh][j];
#pragma unroll
            for (int i = 0; i < kVpl; ++i) acc[hh][i] = fmaf(pj, vf[i], acc[hh][i]);
          }
        }
      }
    }
    __syncwarp();
  }

#pragma unroll
  for (int hh = 0; hh < kH; ++hh) {
    if (lane == 0) {
      m_s[warp][hh] = m[hh];
      l_s[warp][hh] = l[hh];
    }
    if (dim0 < D) {
#pragma unroll
      for (int i = 0; i < kVpl; ++i) o_s[warp][hh][dim0 + i] = acc[hh][i];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < nh * D; i += kWarps * 32) {
    const int hh = i / D, j = i % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, m_s[w][hh]);
    float sum = 0.0f, o = 0.0f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float f = __expf(m_s[w][hh] - mx);  // 0 for a warp without positions
        sum += l_s[w][hh] * f;
        o += o_s[w][hh][j] * f;
      }
    }
    const float val = sum > 0.0f ? o / sum : 0.0f;
    const int h = h0 + hh;
    if (splits == 1) {
      p.out[t * p.out_stride + h * D + j] = internal::FloatToBf16Bits(val);
    } else {
      float* ws = p.workspace + ((t * p.heads + h) * splits + split) * (D + 1);
      ws[j] = val;
      if (j == 0) ws[D] = sum > 0.0f ? mx + __logf(sum) : -INFINITY;
    }
  }
}

// Merges the splits of (token, head): weights exp(lse_s − max lse).
__global__ void GqaCombineKernel(const GqaAttendParams p, int splits) {
  const int64_t t = blockIdx.x;
  const int h = blockIdx.y, D = p.head_dim;
  const float* ws = p.workspace + (t * p.heads + h) * splits * (D + 1);
  for (int j = threadIdx.x; j < D; j += blockDim.x) {
    float mx = -INFINITY;
    for (int s = 0; s < splits; ++s) mx = fmaxf(mx, ws[s * (D + 1) + D]);
    float num = 0.0f, den = 0.0f;
    if (mx != -INFINITY) {
      for (int s = 0; s < splits; ++s) {
        const float f = __expf(ws[s * (D + 1) + D] - mx);
        num += f * ws[s * (D + 1) + j];
        den += f;
      }
    }
    p.out[t * p.out_stride + h * D + j] = internal::FloatToBf16Bits(den > 0.0f ? num / den : 0.0f);
  }
}

}  // namespace

GqaAttendConfig GqaAttendConfigFor(const GqaAttendParams& p) {
  return ChooseGqaAttendConfig(p.tokens, p.heads, p.kv_heads, p.head_dim, p.max_seq_len,
                               internal::SmCount());
}

absl::Status LaunchGqaAttend(const GqaAttendParams& p, cudaStream_t stream) {
  if (auto st = ValidateGqaAttend(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  auto a16 = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  if (!a16(p.k_cache) || !a16(p.v_cache) || p.page_stride % 8 != 0 || p.row_stride % 8 != 0) {
    return absl::InvalidArgumentError(
        "gqa_attend: caches need 16-byte alignment and strides % 8 == 0");
  }
  const GqaAttendConfig cfg = GqaAttendConfigFor(p);
  if (cfg.splits > 1 && (p.workspace == nullptr || p.workspace_bytes < cfg.workspace_bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gqa_attend: ", cfg.splits, " splits need a workspace of ",
                     cfg.workspace_bytes, " bytes, have ", p.workspace_bytes));
  }
  const int group = p.heads / p.kv_heads;
  const int head_groups = (group + kH - 1) / kH;
  const dim3 grid(static_cast<unsigned>(p.tokens), static_cast<unsigned>(p.kv_heads * head_groups),
                  static_cast<unsigned>(cfg.splits));
  const int splits = static_cast<int>(cfg.splits);
  switch (p.head_dim) {
    case 16:
      GqaAttendKernel<16><<<grid, kWarps * 32, 0, stream>>>(p, cfg.chunk, splits);
      break;
    case 32:
      GqaAttendKernel<32><<<grid, kWarps * 32, 0, stream>>>(p, cfg.chunk, splits);
      break;
    case 64:
      GqaAttendKernel<64><<<grid, kWarps * 32, 0, stream>>>(p, cfg.chunk, splits);
      break;
    case 128:
      GqaAttendKernel<128><<<grid, kWarps * 32, 0, stream>>>(p, cfg.chunk, splits);
      break;
    case 256:
      GqaAttendKernel<256><<<grid, kWarps * 32, 0, stream>>>(p, cfg.chunk, splits);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("gqa_attend: head_dim ", p.head_dim, " (CUDA: 16, 32, 64, 128 or 256)"));
  }
  if (auto st = internal::LaunchStatus("gqa_attend launch"); !st.ok()) return st;
  if (splits == 1) return absl::OkStatus();
  const dim3 cgrid(static_cast<unsigned>(p.tokens), static_cast<unsigned>(p.heads));
  GqaCombineKernel<<<cgrid, std::min(p.head_dim, 128), 0, stream>>>(p, splits);
  return internal::LaunchStatus("gqa_attend combine launch");
}

}  // namespace r1::kernels
