#include "worker/model/cpu_ops.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "common/numeric.h"

namespace r1::cpu {

void MatMulNT(const float* x, const float* w, float* y, int64_t m, int64_t n, int64_t k) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, x, static_cast<blasint>(k), w,
              static_cast<blasint>(k), 0.0f, y, static_cast<blasint>(n));
}

void RmsNorm(const float* x, const float* gamma, float* y, int64_t rows, int64_t n, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(n)) + eps);
    for (int64_t i = 0; i < n; ++i) yr[i] = gamma[i] * (xr[i] * inv);
  }
}

void SiluMul(float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] = a[i] / (1.0f + std::exp(-a[i])) * b[i];
}

void Fp8ActQuantDequant(float* x, int64_t rows, int64_t k) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * k;
    for (int64_t g = 0; g < k; g += 128) {
      const int64_t end = std::min(k, g + 128);
      float amax = 1e-4f;
      for (int64_t i = g; i < end; ++i) amax = std::max(amax, std::fabs(xr[i]));
      const float s = amax / 448.0f;
      for (int64_t i = g; i < end; ++i) xr[i] = Fp8E4m3ToFloat(FloatToFp8E4m3(xr[i] / s)) * s;
    }
  }
}

void RoundBf16(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = RoundToBf16(x[i]);
}

void Softmax(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace r1::cpu
