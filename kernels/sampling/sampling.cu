// One CTA of 1024 threads per row:
//   greedy — block argmax of the logits' keys;
//   sampling — radix select (4 passes of 8 bits) for the key of the 1024-th largest z, gather
//   the candidates (ties at that key by lowest index), bitonic sort by (key desc, index asc),
//   then top-k / top-p in that order (the running sum by one thread, in order, as the reference
//   does) and an exponential race over the kept candidates.
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/sampling/sampling_cuda.h"

namespace r1::kernels {
namespace {

constexpr int kThreads = 1024;
static_assert(kThreads == kSamplingMaxCandidates);

// Block-wide exclusive scan of one int per thread; returns the block total in *total.
__device__ int BlockExclusiveScan(int v, int* scratch, int* total) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) scratch[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int s = scratch[lane];
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, s, o);
      if (lane >= o) s += y;
    }
    scratch[lane] = s;  // inclusive warp totals
  }
  __syncthreads();
  const int base = warp > 0 ? scratch[warp - 1] : 0;
  *total = scratch[31];
  __syncthreads();
  return base + x - v;
}

__global__ void __launch_bounds__(kThreads) SamplingKernel(const SamplingParams p) {
  __shared__ unsigned long long cand[kThreads];  // (key << 32) | ~index
  __shared__ int hist[256];
  __shared__ int scratch[32];
  __shared__ float e[kThreads];
  __shared__ unsigned long long best_pair;
  __shared__ uint32_t sh_prefix;
  __shared__ int sh_remaining, sh_counter, sh_cut;
  const int64_t r = blockIdx.x;
  const float* logits = p.logits + r * p.logits_stride;
  const int tid = threadIdx.x;
  const float t = p.temperature[r];
  const int64_t vocab = p.vocab;

  if (!(t > 0.0f)) {  // greedy: max key, lowest index
    unsigned long long best = 0;
    for (int64_t i = tid; i < vocab; i += kThreads) {
      const unsigned long long c = (static_cast<unsigned long long>(SamplingKey(logits[i])) << 32) |
                                   (0xffffffffu - static_cast<uint32_t>(i));
      best = c > best ? c : best;
    }
    if (tid == 0) best_pair = 0;
    __syncthreads();
    atomicMax(&best_pair, best);
    __syncthreads();
    if (tid == 0) p.out[r] = static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(best_pair));
    return;
  }

  const int ncand = static_cast<int>(vocab < kThreads ? vocab : kThreads);
  // Radix select: the key K of the ncand-th largest z, and how many elements equal to K to take.
  if (tid == 0) {
    sh_prefix = 0;
    sh_remaining = ncand;
  }
  uint32_t mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (tid < 256) hist[tid] = 0;
    __syncthreads();
    const uint32_t prefix = sh_prefix;
    for (int64_t i = tid; i < vocab; i += kThreads) {
      const uint32_t k = SamplingKey(logits[i] / t);
      if ((k & mask) == prefix) atomicAdd(&hist[(k >> shift) & 0xff], 1);
    }
    __syncthreads();
    if (tid == 0) {
      int remaining = sh_remaining, b = 255;
      for (; b > 0; --b) {
        if (hist[b] >= remaining) break;
        remaining -= hist[b];
      }
      sh_remaining = remaining;
      sh_prefix = prefix | (static_cast<uint32_t>(b) << shift);
    }
    mask |= 0xffu << shift;
    __syncthreads();
  }
  const uint32_t kth = sh_prefix;
  const int take_equal = sh_remaining;  // elements with key == kth to take, lowest index first
  // Gather: keys above kth anywhere; ties by rank among contiguous per-thread index ranges.
  if (tid == 0) sh_counter = 0;
  cand[tid] = 0;
  __syncthreads();
  const int64_t seg = (vocab + kThreads - 1) / kThreads;
  const int64_t lo = tid * seg, hi = lo + seg < vocab ? lo + seg : vocab;
  int ties = 0;
  for (int64_t i = lo; i < hi; ++i) {
    const uint32_t k = SamplingKey(logits[i] / t);
    const unsigned long long c =
        (static_cast<unsigned long long>(k) << 32) | (0xffffffffu - static_cast<uint32_t>(i));
    if (k > kth) {
      cand[atomicAdd(&sh_counter, 1)] = c;
    } else if (k == kth) {
      ++ties;
    }
  }
  int total_ties;
  int rank = BlockExclusiveScan(ties, scratch, &total_ties);
  const int above = ncand - take_equal;
  for (int64_t i = lo; i < hi && rank < take_equal; ++i) {
    const uint32_t k = SamplingKey(logits[i] / t);
    if (k == kth) {
      cand[above + rank] =
          (static_cast<unsigned long long>(k) << 32) | (0xffffffffu - static_cast<uint32_t>(i));
      ++rank;
    }
  }
  __syncthreads();
  // Bitonic sort, descending.
  for (int size = 2; size <= kThreads; size <<= 1) {
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      const int j = tid ^ stride;
      if (j > tid) {
        const bool desc = (tid & size) == 0;
        const unsigned long long a = cand[tid], b = cand[j];
        if (desc ? a < b : a > b) {
          cand[tid] = b;
          cand[j] = a;
        }
      }
      __syncthreads();
    }
  }
  int kept = ncand;
  if (p.top_k && p.top_k[r] > 0 && p.top_k[r] < kept) kept = p.top_k[r];
  const int32_t my_idx = static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(cand[tid]));
  const int32_t idx0 = static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(cand[0]));
  const float my_z = tid < kept ? logits[my_idx] / t : 0.0f;
  const bool use_top_p = p.top_p && p.top_p[r] < 1.0f;
  if (use_top_p) {
    const float z0 = logits[idx0] / t;
    if (tid < kept) e[tid] = expf(my_z - z0);
    __syncthreads();
    if (tid == 0) {
      float total = 0.0f;
      for (int j = 0; j < kept; ++j) total += e[j];
      const float target = p.top_p[r] * total;
      float run = 0.0f;
      int cut = kept;
      for (int j = 0; j < kept; ++j) {
        run += e[j];
        if (run >= target) {
          cut = j + 1;
          break;
        }
      }
      sh_cut = cut;
    }
    __syncthreads();
    kept = sh_cut;
  }
  // Exponential race: maximise z − log(−log u); ties towards the earlier candidate.
  unsigned long long mine = 0;
  if (tid < kept) {
    const float u = SamplingUniform(p.seed[r], p.offset[r], static_cast<uint32_t>(my_idx));
    const float score = my_z - logf(-logf(u));
    mine = (static_cast<unsigned long long>(SamplingKey(score)) << 32) |
           (0xffffffffu - static_cast<uint32_t>(tid));
  }
  if (tid == 0) best_pair = 0;
  __syncthreads();
  if (tid < kept) atomicMax(&best_pair, mine);
  __syncthreads();
  if (tid == 0) {
    const int j = static_cast<int>(0xffffffffu - static_cast<uint32_t>(best_pair));
    p.out[r] = static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(cand[j]));
  }
}

}  // namespace

absl::Status LaunchSampling(const SamplingParams& p, cudaStream_t stream) {
  if (auto st = ValidateSampling(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  if (p.rows > 0x7fffffff) return absl::InvalidArgumentError("sampling: too many rows");
  SamplingKernel<<<static_cast<unsigned>(p.rows), kThreads, 0, stream>>>(p);
  return internal::LaunchStatus("sampling launch");
}

}  // namespace r1::kernels
