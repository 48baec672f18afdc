// Dense BF16 GEMM through cuBLASLt: out[i][j] = Σ_k x[i][k] · w[j][k] (fp32 accumulation), output
// bf16 or f32 — for the BF16 weights of the model (lm_head, router logits in fp32, MTP eh_proj,
// dequantised kv_b_proj pieces) and any layer run without FP8.
#ifndef R1_KERNELS_BF16_GEMM_BF16_GEMM_H_
#define R1_KERNELS_BF16_GEMM_BF16_GEMM_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels {

struct Bf16GemmParams {
  const uint16_t* x = nullptr;   // [m][x_ld] bf16 row-major; not null
  int64_t x_ld = 0;              // ≥ k
  const uint16_t* w = nullptr;   // [n][w_ld] bf16 row-major; not null
  int64_t w_ld = 0;              // ≥ k
  uint16_t* out_bf16 = nullptr;  // [m][out_ld] bf16, or nullptr when out_f32 is set
  float* out_f32 = nullptr;      // [m][out_ld] f32, or nullptr when out_bf16 is set
  int64_t out_ld = 0;            // ≥ n
  int64_t m = 0, n = 0, k = 0;   // m ≥ 0; n, k > 0
  void* workspace = nullptr;     // cuBLASLt workspace; nullable
  size_t workspace_bytes = 0;
};

absl::Status ValidateBf16Gemm(const Bf16GemmParams& p);

// CPU reference (fp32 accumulation in k order); pointers are host memory.
absl::Status Bf16GemmReference(const Bf16GemmParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_BF16_GEMM_BF16_GEMM_H_
