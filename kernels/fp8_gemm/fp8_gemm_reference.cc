#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/numeric.h"
#include "kernels/fp8_gemm/fp8_gemm.h"

namespace r1::kernels {

size_t Fp8GemmWorkspaceBytes(int64_t m, int64_t n, int64_t k) {
  const size_t lt = size_t{32} << 20;
  // Split-K partials of the streaming path: at most 16 splits of m·n floats.
  const size_t split = m <= kFp8GemmStreamMaxM ? static_cast<size_t>(16 * m * n * 4) : 0;
  (void)k;
  return std::max(lt, split);
}

absl::Status ValidateFp8Gemm(const Fp8GemmParams& p) {
  if (p.m < 0 || p.n <= 0 || p.k <= 0 || p.k % 128 != 0) {
    return absl::InvalidArgumentError("fp8_gemm: need m ≥ 0, n > 0, k a positive multiple of 128");
  }
  if (p.x == nullptr || p.x_scale == nullptr || p.w == nullptr || p.w_scale == nullptr ||
      p.out == nullptr) {
    return absl::InvalidArgumentError("fp8_gemm: null pointer");
  }
  if (p.x_scale_ld < p.m) return absl::InvalidArgumentError("fp8_gemm: x_scale_ld < m");
  if (p.w_scale_ld < p.k / 128) return absl::InvalidArgumentError("fp8_gemm: w_scale_ld < k/128");
  if (p.out_ld < p.n) return absl::InvalidArgumentError("fp8_gemm: out_ld < n");
  return absl::OkStatus();
}

Fp8GemmBackend ChooseFp8GemmBackend(const Fp8GemmParams& p) {
  auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  const bool lt_layout = p.m % 4 == 0 && p.x_scale_ld == Fp8GemmActScaleLd(p.m) &&
                         p.w_scale_ld == Fp8GemmWeightScaleLd(p.k) && p.out_ld % 8 == 0 &&
                         aligned(p.x) && aligned(p.w) && aligned(p.out) && aligned(p.x_scale) &&
                         aligned(p.w_scale);
  if (p.m > kFp8GemmStreamMaxM && lt_layout) return Fp8GemmBackend::kCublasLt;
  return Fp8GemmBackend::kStream;
}

absl::Status Fp8GemmReference(const Fp8GemmParams& p) {
  if (auto st = ValidateFp8Gemm(p); !st.ok()) return st;
  const int64_t kbs = p.k / 128;
  std::vector<float> xf(p.k), wf(p.n * p.k);
  for (int64_t i = 0; i < p.n * p.k; ++i) wf[i] = Fp8E4m3ToFloat(p.w[i]);
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t c = 0; c < p.k; ++c) xf[c] = Fp8E4m3ToFloat(p.x[i * p.k + c]);
    for (int64_t j = 0; j < p.n; ++j) {
      const float* w = wf.data() + j * p.k;
      float acc = 0.0f;
      for (int64_t kb = 0; kb < kbs; ++kb) {
        float part = 0.0f;
        for (int64_t c = kb * 128; c < kb * 128 + 128; ++c) part += xf[c] * w[c];
        acc += part * p.x_scale[kb * p.x_scale_ld + i] * p.w_scale[(j / 128) * p.w_scale_ld + kb];
      }
      p.out[i * p.out_ld + j] = FloatToBf16(acc);
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
