// Token sampling from fp32 logits, with the same result on the CPU and the GPU for a given seed:
//
//  * temperature ≤ 0: greedy — the index of the largest logit (NaN ignored, ties → lowest index).
//  * otherwise, z_i = logit_i / temperature and:
//    1. candidates: the first min(1024, vocab) indices in order of (z desc, index asc) — tokens
//       outside the 1024 most likely are never sampled (for R1's recommended T = 0.6, top-p 0.95
//       their total probability is negligible);
//    2. top-k: keep the first k candidates (k ≤ 0: all);
//    3. top-p: e_j = exp(z_j − z_0) over the kept candidates in order, Z = Σ e_j (summed in
//       order); keep the shortest prefix whose running sum reaches top_p·Z (top_p ≥ 1: all);
//    4. sample by an exponential race (spec §14: argmax p_i / E_i, E_i ~ Exp(1)): the kept
//       candidate maximising z_j − log(−log u_j) (ties → earlier), u_j = SamplingUniform(seed,
//       offset, token index) — a counter-based hash, so a (seed, offset) pair replays exactly.
// The caller varies `offset` per step (e.g. the sequence position).
#ifndef R1_KERNELS_SAMPLING_SAMPLING_H_
#define R1_KERNELS_SAMPLING_SAMPLING_H_

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"

#if defined(__CUDACC__)
#define R1_HOST_DEVICE __host__ __device__
#else
#define R1_HOST_DEVICE
#endif

namespace r1::kernels {

inline constexpr int kSamplingMaxCandidates = 1024;

// Uniform in (0, 1) from (seed, offset, index): splitmix64 finaliser, 23 bits, never 0 or 1.
R1_HOST_DEVICE inline float SamplingUniform(uint64_t seed, uint64_t offset, uint32_t index) {
  uint64_t x = seed + 0x9E3779B97F4A7C15ull * (offset + 1) + 0xD1B54A32D192ED03ull * (index + 1ull);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return (static_cast<float>(static_cast<uint32_t>(x >> 41)) + 0.5f) * (1.0f / 8388608.0f);
}

// Order-preserving key of a float (larger float → larger key); NaN maps to 0 (below −inf).
R1_HOST_DEVICE inline uint32_t SamplingKey(float f) {
  uint32_t u;
#if defined(__CUDA_ARCH__)
  u = __float_as_uint(f);
#else
  std::memcpy(&u, &f, sizeof u);
#endif
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

struct SamplingParams {
  const float* logits = nullptr;       // [rows][logits_stride] f32, vocab used; not null
  int64_t logits_stride = 0;           // ≥ vocab
  int64_t rows = 0;                    // ≥ 0
  int64_t vocab = 0;                   // > 0, < 2^31
  const float* temperature = nullptr;  // [rows]; ≤ 0 → greedy; not null
  const int32_t* top_k = nullptr;      // [rows]; ≤ 0 → no top-k; nullable (= none)
  const float* top_p = nullptr;        // [rows]; ≥ 1 → no top-p; nullable (= none)
  const uint64_t* seed = nullptr;      // [rows]; not null
  const uint64_t* offset = nullptr;    // [rows]; not null
  int32_t* out = nullptr;              // [rows] chosen token ids; not null
};

absl::Status ValidateSampling(const SamplingParams& p);

// CPU reference; pointers are host memory.
absl::Status SamplingReference(const SamplingParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_SAMPLING_SAMPLING_H_
