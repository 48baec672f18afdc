// Thin cuBLASLt wrapper shared by the dense GEMM ops (fp8_gemm, bf16_gemm): one handle per
// device for the process, and a cache of heuristic algorithm choices keyed by the full problem
// description. Thread-safe. Host code; needs the CUDA toolkit.
#ifndef R1_KERNELS_INTERNAL_CUBLASLT_H_
#define R1_KERNELS_INTERNAL_CUBLASLT_H_

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace r1::kernels::internal {

// Column-major problem D[m×n] = op(A)·op(B) (alpha 1, beta 0), cuBLASLt's conventions.
struct LtGemm {
  cudaDataType_t a_type = CUDA_R_16BF, b_type = CUDA_R_16BF, d_type = CUDA_R_16BF;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cublasOperation_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
  uint64_t m = 0, n = 0, k = 0;  // of D = op(A)[m×k] · op(B)[k×n]
  int64_t lda = 0, ldb = 0, ldd = 0;
  // Block-scaling modes (cublasLtMatmulMatrixScale_t) or -1 for none, with their device scales.
  int a_scale_mode = -1, b_scale_mode = -1;
  const void* a_scale = nullptr;
  const void* b_scale = nullptr;
};

// Runs the GEMM. Returns NotFound when cuBLASLt has no algorithm for the problem (callers may
// fall back to their own kernel), Internal on any other cuBLASLt failure.
absl::Status LtMatmul(const LtGemm& g, const void* a, const void* b, void* d, void* workspace,
                      size_t workspace_bytes, cudaStream_t stream);

// Times up to `candidates` of cuBLASLt's heuristic algorithms for this exact problem (each run
// `iters` times on `stream`, which is synchronised) and caches the fastest, so later LtMatmul
// calls with the same problem use it; the heuristic's first pick is kept unless the fastest beats
// it by more than 2% when the two are timed again, alternately. Writes `d` while timing. Returns
// NotFound when there is no algorithm. Meant for start-up, not the serving loop.
absl::Status LtAutotune(const LtGemm& g, const void* a, const void* b, void* d, void* workspace,
                        size_t workspace_bytes, cudaStream_t stream, int candidates = 16,
                        int iters = 10);

}  // namespace r1::kernels::internal

#endif  // R1_KERNELS_INTERNAL_CUBLASLT_H_
