// General MLA attention in the absorbed form over the paged latent cache (see mla_attend.h),
// sm_90a. The correctness path for models that are not R1-sized; no tensor cores.
//
// CTA = one (entry b, head h), 128 threads (4 warps). The query (latent ; rope) is held in shared
// memory as fp32. Per KV page of up to 64 tokens:
//   1. each warp takes every 4th token; its lanes split the (latent_dim + rope_dim)-wide dot
//      product (coalesced bf16 reads of the cache row), a warp reduction gives the score;
//   2. online softmax in fp32: every thread derives the page maximum from the shared scores, the
//      running maximum m and the rescale factor exp(m_old − m); the first 64 threads turn the
//      scores into probabilities exp(s − m);
//   3. thread t accumulates latent dims t, t + 128, ... (at most 8, in registers) over the page's
//      rows, after rescaling by exp(m_old − m); the running sum l is kept alongside.
// The epilogue writes acc / l rounded once to bf16 (zeros for T = 0). Page ids are clamped into
// [0, num_pages) and lengths into [0, block_table_stride·64] so a bad table cannot fault.
#include <cmath>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/mla_attend/mla_attend_cuda.h"

namespace r1::kernels {
namespace {

using internal::Bf16BitsToFloat;
using internal::FloatToBf16Bits;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kPage = static_cast<int>(kMlaAttendPageTokens);
constexpr int kMaxDimsPerThread = static_cast<int>((kMlaAttendMaxLatent + kThreads - 1) / kThreads);
static_assert(kPage <= kThreads, "one thread per token of a page computes its probability");

__global__ void __launch_bounds__(kThreads) MlaAttendKernel(const MlaAttendParams p) {
  __shared__ float q_s[kMlaAttendMaxLatent + kMlaAttendMaxRope];
  __shared__ float score_s[kPage];
  __shared__ float prob_s[kPage];

  const int64_t b = blockIdx.x / p.heads;
  const int64_t h = blockIdx.x % p.heads;
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32;
  const int latent = static_cast<int>(p.latent_dim);
  const int rope = static_cast<int>(p.rope_dim);
  const int row_dim = latent + rope;

  const uint16_t* ql = p.q_latent + b * p.q_batch_stride + h * p.q_head_stride;
  const uint16_t* qr = p.q_rope + b * p.q_batch_stride + h * p.q_head_stride;
  for (int i = tid; i < latent; i += kThreads) q_s[i] = Bf16BitsToFloat(ql[i]);
  for (int i = tid; i < rope; i += kThreads) q_s[latent + i] = Bf16BitsToFloat(qr[i]);

  const int64_t max_len = p.block_table_stride * kMlaAttendPageTokens;
  const int64_t len = min(max(static_cast<int64_t>(p.seq_lens[b]), int64_t{0}), max_len);
  const int32_t* table = p.block_table + b * p.block_table_stride;

  float acc[kMaxDimsPerThread];
#pragma unroll
  for (int k = 0; k < kMaxDimsPerThread; ++k) acc[k] = 0.0f;
  float m = -INFINITY;  // running maximum of the scores
  float l = 0.0f;       // running sum of exp(score − m)
  __syncthreads();      // q_s complete

  for (int64_t start = 0; start < len; start += kPage) {
    const int n = static_cast<int>(min(static_cast<int64_t>(kPage), len - start));
    const int64_t page =
        min(max(static_cast<int64_t>(table[start / kPage]), int64_t{0}), p.num_pages - 1);
    const uint16_t* rows = p.kv_cache + page * kPage * row_dim;

    // 1. Scores of the page's n tokens.
    for (int j = warp; j < n; j += kWarps) {
      const uint16_t* row = rows + static_cast<int64_t>(j) * row_dim;
      float dot = 0.0f;
      for (int i = lane; i < row_dim; i += 32) dot += q_s[i] * Bf16BitsToFloat(row[i]);
      dot = internal::WarpSum(dot);
      if (lane == 0) score_s[j] = dot * p.softmax_scale;
    }
    __syncthreads();  // score_s complete; prob_s of the previous page no longer read

    // 2. Online softmax update (every thread computes the same m, scale and probabilities).
    float page_max = -INFINITY;
    for (int j = 0; j < n; ++j) page_max = fmaxf(page_max, score_s[j]);
    const float m_new = fmaxf(m, page_max);
    const float rescale = expf(m - m_new);  // 0 on the first page (m = −inf)
    if (tid < n) prob_s[tid] = expf(score_s[tid] - m_new);
    __syncthreads();  // prob_s complete; score_s free for the next page

    // 3. Rescale and accumulate the latent part of the page's rows.
    float page_sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kMaxDimsPerThread; ++k) acc[k] *= rescale;
    for (int j = 0; j < n; ++j) {
      const float w = prob_s[j];
      page_sum += w;
      const uint16_t* row = rows + static_cast<int64_t>(j) * row_dim;
#pragma unroll
      for (int k = 0; k < kMaxDimsPerThread; ++k) {
        const int d = tid + k * kThreads;
        if (d < latent) acc[k] += w * Bf16BitsToFloat(row[d]);
      }
    }
    l = l * rescale + page_sum;
    m = m_new;
  }

  uint16_t* out = p.out + b * p.out_batch_stride + h * p.out_head_stride;
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // T = 0: acc is zero, so is the output
#pragma unroll
  for (int k = 0; k < kMaxDimsPerThread; ++k) {
    const int d = tid + k * kThreads;
    if (d < latent) out[d] = FloatToBf16Bits(acc[k] * inv);
  }
}

}  // namespace

absl::Status LaunchMlaAttend(const MlaAttendParams& p, cudaStream_t stream) {
  if (auto st = ValidateMlaAttend(p); !st.ok()) return st;
  if (p.batch == 0) return absl::OkStatus();
  if (p.batch > 0x7fffffff / p.heads) {
    return absl::InvalidArgumentError("mla_attend: batch × heads exceeds the grid");
  }
  MlaAttendKernel<<<static_cast<unsigned>(p.batch * p.heads), kThreads, 0, stream>>>(p);
  return internal::LaunchStatus("mla_attend launch");
}

}  // namespace r1::kernels
