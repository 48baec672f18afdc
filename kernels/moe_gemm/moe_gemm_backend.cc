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
// `moe_gemm_bench` (rows prefixed "table:" are of exactly this form). Not yet measured: until a
// GPU run fills this, the choice is ours everywhere. Rows go in as
// std::to_array<MoeGemmFp8Timing>({{tokens_per_expert, experts, n, k, ours, decode, prefill},
// ...}).
constexpr std::array<MoeGemmFp8Timing, 0> kTimings{};

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
// implementations in the same run of `moe_gemm_cutlass_int4_bench` (its "table:" rows have exactly
// this form). Not yet measured: until a GPU run fills this, the INT4 choice is ours everywhere.
// Rows go in as std::to_array<MoeGemmInt4Timing>({{tokens_per_expert, experts, n, k, ours,
// decode, prefill}, ...}).
constexpr std::array<MoeGemmInt4Timing, 0> kInt4Timings{};

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
