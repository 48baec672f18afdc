// One CTA of 256 threads per row (the entries are sparse: a few thousand history ids and a few
// biases against a 129280-wide row), three phases separated by __syncthreads():
//   1. biases, one thread per entry: the thread holding the first occurrence of an id in the row
//      adds all of that id's biases in CSR order, the other occurrences do nothing — the same
//      additions in the same order as the reference, without serialising the row on one thread;
//   2. penalties, one thread per history entry (ids distinct: no two threads share a logit);
//   3. −inf over [valid_vocab, vocab).
// Every float operation is an explicitly rounded intrinsic (__fadd_rn, __fdiv_rn, __fmaf_rn, …),
// never contracted or approximated, so the result equals the reference bit for bit.
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/logits_process/logits_process_cuda.h"

namespace r1::kernels {
namespace {

constexpr int kThreads = 256;

// Entry range [*b, *e) of row r of a CSR list; empty for malformed offsets.
__device__ __forceinline__ void RowRange(const int32_t* offsets, int64_t r, int32_t* b,
                                         int32_t* e) {
  *b = offsets[r];
  *e = offsets[r + 1];
  if (*b < 0 || *e < *b) *e = *b = 0;
}

__global__ void __launch_bounds__(kThreads) LogitsProcessKernel(const LogitsProcessParams p) {
  const int64_t r = blockIdx.x;
  float* logits = p.logits + r * p.logits_stride;
  const int32_t vocab = static_cast<int32_t>(p.vocab);

  if (p.bias_offsets != nullptr) {
    int32_t b, e;
    RowRange(p.bias_offsets, r, &b, &e);
    for (int64_t j = b + threadIdx.x; j < e; j += kThreads) {
      const int32_t id = p.bias_ids[j];
      if (id < 0 || id >= vocab) continue;
      bool first = true;
      for (int64_t k = b; k < j; ++k) {
        if (p.bias_ids[k] == id) {
          first = false;
          break;
        }
      }
      if (!first) continue;
      float l = logits[id];
      for (int64_t k = j; k < e; ++k) {
        if (p.bias_ids[k] == id) l = __fadd_rn(l, p.bias_values[k]);
      }
      logits[id] = l;
    }
  }
  __syncthreads();

  const bool rep = p.repetition_penalty != nullptr;
  const bool freq = p.presence_penalty != nullptr || p.frequency_penalty != nullptr;
  if (rep || freq) {
    const float penalty = rep ? p.repetition_penalty[r] : 1.0f;
    const float f = p.frequency_penalty != nullptr ? p.frequency_penalty[r] : 0.0f;
    const float pr = p.presence_penalty != nullptr ? p.presence_penalty[r] : 0.0f;
    int32_t b, e;
    RowRange(p.history_offsets, r, &b, &e);
    for (int64_t j = b + threadIdx.x; j < e; j += kThreads) {
      const int32_t id = p.history_ids[j];
      if (id < 0 || id >= vocab) continue;
      float l = logits[id];
      if (rep) l = l > 0.0f ? __fdiv_rn(l, penalty) : __fmul_rn(l, penalty);
      if (freq) {
        const int32_t c = p.history_output_counts[j];
        if (c > 0) l = __fsub_rn(l, __fmaf_rn(f, __int2float_rn(c), pr));
      }
      logits[id] = l;
    }
  }
  __syncthreads();

  for (int64_t i = p.valid_vocab + threadIdx.x; i < p.vocab; i += kThreads) {
    logits[i] = -__int_as_float(0x7f800000);
  }
}

}  // namespace

absl::Status LaunchLogitsProcess(const LogitsProcessParams& p, cudaStream_t stream) {
  if (auto st = ValidateLogitsProcess(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  if (p.rows > 0x7fffffff) return absl::InvalidArgumentError("logits_process: too many rows");
  LogitsProcessKernel<<<static_cast<unsigned>(p.rows), kThreads, 0, stream>>>(p);
  return internal::LaunchStatus("logits_process launch");
}

}  // namespace r1::kernels
