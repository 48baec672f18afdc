// Choice between our FP8 grouped expert GEMM and CUTLASS's (see moe_gemm_backend.h), from a table
// of measured times. Pure and CPU-only: the table is data, the choice a function of the shape.
#include "kernels/moe_gemm/moe_gemm_backend.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace r1::kernels {
namespace {

// Median µs per call, 32 local experts with equal token counts, R1's expert shapes (gate_up
// n=4096 k=7168, down n=7168 k=2048), all three implementations in the same run of
// `moe_gemm_cutlass_bench` ("table:" rows: {tokens_per_expert, experts, n, k, ours, CUTLASS decode
// tile, CUTLASS prefill tile}). Measured on an NVIDIA H100 80GB HBM3, 2026-12-07
// (bench/results/kernels-side-by-side-h100-2026-12-07.md): CUTLASS's decode tile is 0–8% faster
// up to 32 tokens per expert (within the margin up to 16), its prefill tile 1.4–4.1× faster
// from 64.
constexpr auto kTimings = std::to_array<MoeGemmFp8Timing>({
    {1, 32, 4096, 7168, 330.2, 316.2, 325.7},
    {8, 32, 4096, 7168, 332.8, 319.9, 327.1},
    {16, 32, 4096, 7168, 344.9, 327.6, 332.2},
    {32, 32, 4096, 7168, 358.4, 331.4, 335.8},
    {64, 32, 4096, 7168, 497.6, 497.1, 345.6},
    {128, 32, 4096, 7168, 1059.2, 854.9, 359.7},
    {256, 32, 4096, 7168, 2057.4, 1444.6, 507.0},
    {512, 32, 4096, 7168, 4078.0, 3034.0, 1047.9},
    {1, 32, 7168, 2048, 168.8, 166.7, 180.3},
    {8, 32, 7168, 2048, 171.1, 171.7, 174.5},
    {16, 32, 7168, 2048, 181.8, 175.7, 176.9},
    {32, 32, 7168, 2048, 188.3, 177.8, 181.3},
    {64, 32, 7168, 2048, 262.6, 243.4, 185.8},
    {128, 32, 7168, 2048, 522.8, 363.3, 195.1},
    {256, 32, 7168, 2048, 1033.4, 636.6, 295.9},
    {512, 32, 7168, 2048, 2196.2, 1229.7, 563.3},
});

double LogDistance(int64_t a, int64_t b) {
  return std::fabs(std::log2(static_cast<double>(std::max<int64_t>(a, 1))) -
                   std::log2(static_cast<double>(std::max<int64_t>(b, 1))));
}

// The rule both formats share (moe_gemm_backend.h): the row for (n, k) nearest in log scale to
// the estimate (ties: the first), its faster CUTLASS tile only when it beats ours by the margin.
MoeGemmBackend ChooseFromTimings(int64_t tokens_per_expert_estimate, int64_t n, int64_t k,
                                 bool ours_ok, bool cutlass_ok,
                                 absl::Span<const MoeGemmTiming> timings) {
  if (!ours_ok) return MoeGemmBackend::kNone;
  if (!cutlass_ok) return MoeGemmBackend::kOurs;
  const MoeGemmTiming* best = nullptr;
  double best_d = 0;
  for (const MoeGemmTiming& t : timings) {
    if (t.n != n || t.k != k) continue;
    const double d = LogDistance(tokens_per_expert_estimate, t.tokens_per_expert);
    if (best == nullptr || d < best_d) {
      best = &t;
      best_d = d;
    }
  }
  if (best == nullptr || !(best->ours_us > 0)) return MoeGemmBackend::kOurs;
  MoeGemmBackend lib = MoeGemmBackend::kNone;
  double lib_us = 0;
  if (best->cutlass_decode_us > 0) {
    lib = MoeGemmBackend::kCutlassDecode;
    lib_us = best->cutlass_decode_us;
  }
  if (best->cutlass_prefill_us > 0 &&
      (lib == MoeGemmBackend::kNone || best->cutlass_prefill_us < lib_us)) {
    lib = MoeGemmBackend::kCutlassPrefill;
    lib_us = best->cutlass_prefill_us;
  }
  if (lib != MoeGemmBackend::kNone && lib_us < best->ours_us * (1.0 - kMoeGemmCutlassMargin))
    return lib;
  return MoeGemmBackend::kOurs;
}

}  // namespace

const char* MoeGemmBackendName(MoeGemmBackend b) {
  switch (b) {
    case MoeGemmBackend::kOurs:
      return "ours";
    case MoeGemmBackend::kCutlassDecode:
      return "cutlass_decode";
    case MoeGemmBackend::kCutlassPrefill:
      return "cutlass_prefill";
    case MoeGemmBackend::kNone:
      return "none";
  }
  return "?";
}

absl::Span<const MoeGemmFp8Timing> MoeGemmFp8Timings() {
  return absl::MakeConstSpan(kTimings.data(), kTimings.size());
}

MoeGemmFp8Backend ChooseMoeGemmFp8Backend(int64_t tokens_per_expert_estimate, int64_t n, int64_t k,
                                          bool cutlass_available,
                                          absl::Span<const MoeGemmFp8Timing> timings) {
  const bool ours_ok = n > 0 && k > 0 && k % 128 == 0;
  const bool cutlass_ok = ours_ok && cutlass_available && n % 8 == 0;
  return ChooseFromTimings(tokens_per_expert_estimate, n, k, ours_ok, cutlass_ok, timings);
}

// ---- INT4 W4A16 (CutlassMoeGemmInt4 beside LaunchMoeGemmInt4) ----

namespace {

// Median µs per call, 32 local experts with equal token counts, R1's expert shapes, all three
// implementations in the same run of `moe_gemm_cutlass_int4_bench` (its "table:" rows, same form
// as above). Measured on an NVIDIA H100 80GB HBM3, 2026-12-07: ours is 1.1–1.6× faster up to 32
// tokens per expert, CUTLASS's prefill tile 1.3–2.6× faster from 64.
constexpr auto kInt4Timings = std::to_array<MoeGemmInt4Timing>({
    {1, 32, 4096, 7168, 176.7, 253.7, 426.2},
    {4, 32, 4096, 7168, 179.7, 250.2, 421.3},
    {8, 32, 4096, 7168, 183.1, 254.5, 435.7},
    {16, 32, 4096, 7168, 195.5, 258.7, 403.0},
    {32, 32, 4096, 7168, 247.8, 280.2, 391.9},
    {64, 32, 4096, 7168, 492.1, 524.3, 389.9},
    {256, 32, 4096, 7168, 2133.4, 1857.8, 829.8},
    {512, 32, 4096, 7168, 4197.9, 3685.7, 1667.0},
    {1, 32, 7168, 2048, 92.0, 146.0, 234.8},
    {4, 32, 7168, 2048, 92.8, 143.7, 225.4},
    {8, 32, 7168, 2048, 93.0, 140.5, 251.8},
    {16, 32, 7168, 2048, 104.9, 144.7, 280.5},
    {32, 32, 7168, 2048, 134.1, 146.3, 240.4},
    {64, 32, 7168, 2048, 262.7, 285.1, 204.0},
    {256, 32, 7168, 2048, 1043.2, 997.5, 391.4},
    {512, 32, 7168, 2048, 2039.0, 1905.1, 835.1},
});

}  // namespace

absl::Span<const MoeGemmInt4Timing> MoeGemmInt4Timings() {
  return absl::MakeConstSpan(kInt4Timings.data(), kInt4Timings.size());
}

MoeGemmInt4Backend ChooseMoeGemmInt4Backend(int64_t tokens_per_expert_estimate, int64_t n,
                                            int64_t k, bool cutlass_available,
                                            absl::Span<const MoeGemmInt4Timing> timings) {
  const bool ours_ok = n > 0 && k > 0 && k % 128 == 0 && n % 8 == 0;
  const bool cutlass_ok = ours_ok && cutlass_available && n % 16 == 0;
  return ChooseFromTimings(tokens_per_expert_estimate, n, k, ours_ok, cutlass_ok, timings);
}

}  // namespace r1::kernels
