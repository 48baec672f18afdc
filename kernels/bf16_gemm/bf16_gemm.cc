// BF16 GEMM through cuBLASLt (host code).
#include "kernels/bf16_gemm/bf16_gemm_cuda.h"
#include "kernels/internal/cublaslt.h"

namespace r1::kernels {

absl::Status LaunchBf16Gemm(const Bf16GemmParams& p, cudaStream_t stream) {
  if (auto st = ValidateBf16Gemm(p); !st.ok()) return st;
  if (p.m == 0) return absl::OkStatus();
  auto a16 = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  void* out = p.out_f32 ? static_cast<void*>(p.out_f32) : static_cast<void*>(p.out_bf16);
  if (!a16(p.x) || !a16(p.w) || !a16(out) || p.x_ld % 8 != 0 || p.w_ld % 8 != 0 ||
      p.out_ld % 8 != 0) {
    return absl::InvalidArgumentError("bf16_gemm: needs 16-byte alignment and ld % 8 == 0");
  }
  internal::LtGemm g;
  g.a_type = CUDA_R_16BF;
  g.b_type = CUDA_R_16BF;
  g.d_type = p.out_f32 ? CUDA_R_32F : CUDA_R_16BF;
  g.trans_a = CUBLAS_OP_T;  // w [n][k] row-major = column-major k×n → n×k
  g.trans_b = CUBLAS_OP_N;  // x [m][k] row-major = column-major k×m
  g.m = static_cast<uint64_t>(p.n);
  g.n = static_cast<uint64_t>(p.m);
  g.k = static_cast<uint64_t>(p.k);
  g.lda = p.w_ld;
  g.ldb = p.x_ld;
  g.ldd = p.out_ld;
  return internal::LtMatmul(g, p.w, p.x, out, p.workspace, p.workspace_bytes, stream);
}

}  // namespace r1::kernels
