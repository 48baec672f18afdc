// Host-side dispatch of the dense FP8 GEMM: cuBLASLt block-scaled FP8 or the streaming kernel.
#include <cublasLt.h>

#include "kernels/fp8_gemm/fp8_gemm_cuda.h"
#include "kernels/internal/cublaslt.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/moe_gemm/moe_gemm.h"
#include "kernels/moe_gemm/moe_gemm_cuda.h"

namespace r1::kernels {

namespace {

internal::LtGemm LtProblem(const Fp8GemmParams& p) {
  internal::LtGemm g;
  g.a_type = CUDA_R_8F_E4M3;
  g.b_type = CUDA_R_8F_E4M3;
  g.d_type = CUDA_R_16BF;
  g.trans_a = CUBLAS_OP_T;  // weight [n][k] row-major = column-major k×n; op T → n×k
  g.trans_b = CUBLAS_OP_N;  // activations [m][k] row-major = column-major k×m
  g.m = static_cast<uint64_t>(p.n);
  g.n = static_cast<uint64_t>(p.m);
  g.k = static_cast<uint64_t>(p.k);
  g.lda = p.k;
  g.ldb = p.k;
  g.ldd = p.out_ld;  // out [m][out_ld] row-major = column-major n×m
  g.a_scale_mode = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
  g.a_scale = p.w_scale;
  g.b_scale_mode = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
  g.b_scale = p.x_scale;
  return g;
}

}  // namespace

absl::Status AutotuneFp8Gemm(const Fp8GemmParams& p, cudaStream_t stream) {
  if (auto st = ValidateFp8Gemm(p); !st.ok()) return st;
  if (p.m == 0 || ChooseFp8GemmBackend(p) != Fp8GemmBackend::kCublasLt) return absl::OkStatus();
  absl::Status st =
      internal::LtAutotune(LtProblem(p), p.w, p.x, p.out, p.workspace, p.workspace_bytes, stream);
  return absl::IsNotFound(st) ? absl::OkStatus() : st;
}

absl::Status LaunchFp8Gemm(const Fp8GemmParams& p, cudaStream_t stream, Fp8GemmBackend* used) {
  if (auto st = ValidateFp8Gemm(p); !st.ok()) return st;
  if (p.m == 0) return absl::OkStatus();
  if (ChooseFp8GemmBackend(p) == Fp8GemmBackend::kCublasLt) {
    absl::Status st =
        internal::LtMatmul(LtProblem(p), p.w, p.x, p.out, p.workspace, p.workspace_bytes, stream);
    if (st.ok()) {
      if (used) *used = Fp8GemmBackend::kCublasLt;
      return st;
    }
    if (!absl::IsNotFound(st)) return st;
  }
  const StreamGemmConfig cfg =
      ChooseStreamGemmConfig(1, p.m, p.n, p.k, internal::SmCount(),
                             p.workspace ? static_cast<int64_t>(p.workspace_bytes) : 0);
  internal::StreamGemmFp8Args a;
  a.x = p.x;
  a.x_scale = p.x_scale;
  a.x_scale_ld = p.x_scale_ld;
  a.w = p.w;
  a.w_scale = p.w_scale;
  a.w_scale_ld = p.w_scale_ld;
  a.offsets = nullptr;
  a.out = p.out;
  a.out_ld = p.out_ld;
  a.tokens = p.m;
  a.groups = 1;
  a.n = p.n;
  a.k = p.k;
  a.splits = cfg.splits;
  a.workspace = static_cast<float*>(p.workspace);
  if (used) *used = Fp8GemmBackend::kStream;
  return internal::LaunchStreamGemmFp8(a, stream);
}

}  // namespace r1::kernels
