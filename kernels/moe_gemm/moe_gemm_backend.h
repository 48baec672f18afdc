// Choice between our FP8 grouped expert GEMM (LaunchMoeGemmFp8, moe_gemm_cuda.h) and CUTLASS's
// blockwise-scaled grouped GEMM (CutlassMoeGemmFp8, moe_gemm_cutlass.h, in either of its two tile
// configurations), from a table of measured times; likewise for INT4 W4A16 (LaunchMoeGemmInt4 or
// CutlassMoeGemmInt4, moe_gemm_cutlass_int4.h). Pure and CPU-only: the table is data
// (moe_gemm_backend.cc), the choice a function of the shape; nothing here needs CUDA or CUTLASS.
#ifndef R1_KERNELS_MOE_GEMM_MOE_GEMM_BACKEND_H_
#define R1_KERNELS_MOE_GEMM_MOE_GEMM_BACKEND_H_

#include <cstdint>

#include "absl/types/span.h"

namespace r1::kernels {

// Which implementation runs a grouped expert GEMM, FP8 or INT4 alike.
enum class MoeGemmBackend {
  kOurs,            // LaunchMoeGemmFp8 / LaunchMoeGemmInt4 (weight streaming)
  kCutlassDecode,   // CutlassMoeGemmFp8 / CutlassMoeGemmInt4 with their decode tile
  kCutlassPrefill,  // CutlassMoeGemmFp8 / CutlassMoeGemmInt4 with their prefill tile
  kNone,            // nothing can run this shape
};
const char* MoeGemmBackendName(MoeGemmBackend b);

// One measured shape (every expert with `tokens_per_expert` tokens): median µs of each
// implementation as the side-by-side benches print them (their "table:" lines have exactly this
// form); 0 where not measured.
struct MoeGemmTiming {
  int64_t tokens_per_expert = 0;
  int64_t experts = 0;
  int64_t n = 0;
  int64_t k = 0;
  double ours_us = 0;
  double cutlass_decode_us = 0;
  double cutlass_prefill_us = 0;
};

// FP8 W8A8: ours (LaunchMoeGemmFp8) or CUTLASS's blockwise-scaled grouped GEMM.
using MoeGemmFp8Backend = MoeGemmBackend;
using MoeGemmFp8Timing = MoeGemmTiming;
inline const char* MoeGemmFp8BackendName(MoeGemmFp8Backend b) { return MoeGemmBackendName(b); }
// The measured table (moe_gemm_backend.cc). Empty until a GPU run fills it.
absl::Span<const MoeGemmFp8Timing> MoeGemmFp8Timings();

// Backend choice (pure). First what can run at all: ours needs k % 128 == 0 (any n); CUTLASS
// needs `cutlass_available` (built, and an object created on this device) and n % 8 == 0 besides.
// When both can, the row of `timings` with the same (n, k) nearest to tokens_per_expert_estimate
// in log scale (ties: the first row; the expert count is not matched) decides: the fastest
// measured entry of that row, a CUTLASS entry only when faster than ours by more than
// kMoeGemmCutlassMargin (ours has no setup kernel and no per-object state). Ours when that row,
// or every row for (n, k), is unmeasured.
inline constexpr double kMoeGemmCutlassMargin = 0.05;
MoeGemmFp8Backend ChooseMoeGemmFp8Backend(
    int64_t tokens_per_expert_estimate, int64_t n, int64_t k, bool cutlass_available,
    absl::Span<const MoeGemmFp8Timing> timings = MoeGemmFp8Timings());

// INT4 W4A16: our weight-streaming kernel (LaunchMoeGemmInt4) or CUTLASS's mixed-input grouped
// GEMM (CutlassMoeGemmInt4, moe_gemm_cutlass_int4.h, either tile; it reads weights converted once
// by PrepareCutlassMoeGemmInt4Weights). Rows as moe_gemm_cutlass_int4_bench prints them.
using MoeGemmInt4Backend = MoeGemmBackend;
using MoeGemmInt4Timing = MoeGemmTiming;
inline const char* MoeGemmInt4BackendName(MoeGemmInt4Backend b) { return MoeGemmBackendName(b); }
// The measured INT4 table (moe_gemm_backend.cc). Empty until a GPU run fills it.
absl::Span<const MoeGemmInt4Timing> MoeGemmInt4Timings();

// INT4 backend choice (pure), with the same rule as ChooseMoeGemmFp8Backend: ours needs
// k % 128 == 0 and n % 8 == 0; CUTLASS needs `cutlass_available` (built, an object created on
// this device and the weights prepared for it) and n % 16 == 0 besides. Then the row for (n, k)
// nearest in log scale to tokens_per_expert_estimate decides (ties: the first row); a CUTLASS
// entry wins only when faster than ours by more than kMoeGemmCutlassMargin. Ours when unmeasured.
MoeGemmInt4Backend ChooseMoeGemmInt4Backend(
    int64_t tokens_per_expert_estimate, int64_t n, int64_t k, bool cutlass_available,
    absl::Span<const MoeGemmInt4Timing> timings = MoeGemmInt4Timings());

}  // namespace r1::kernels

#endif  // R1_KERNELS_MOE_GEMM_MOE_GEMM_BACKEND_H_
