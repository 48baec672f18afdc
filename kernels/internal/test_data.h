// Random test data and comparison helpers for the kernel tests and benches (host only, no CUDA).
#ifndef R1_KERNELS_INTERNAL_TEST_DATA_H_
#define R1_KERNELS_INTERNAL_TEST_DATA_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/numeric.h"

namespace r1::kernels::testing {

inline std::vector<uint16_t> RandomBf16(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = FloatToBf16(d(rng));
  return v;
}

inline std::vector<float> RandomFloat(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Random e4m3fn codes without NaN (0x7f/0xff).
inline std::vector<uint8_t> RandomFp8(size_t n, std::mt19937& rng) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) {
    do b = static_cast<uint8_t>(rng() & 0xff);
    while ((b & 0x7f) == 0x7f);
  }
  return v;
}

inline std::vector<float> Bf16ToFloatVec(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = Bf16ToFloat(v[i]);
  return out;
}

// Error of `got` against `want`: relative L2 (‖got − want‖/‖want‖), max abs difference, and
// whether any value is NaN or Inf.
struct ErrorStats {
  double rel_l2 = 0;
  double max_abs = 0;
  double max_ref = 0;
  bool non_finite = false;
  std::string ToString() const {
    return "rel_l2=" + std::to_string(rel_l2) + " max_abs=" + std::to_string(max_abs) +
           " max|ref|=" + std::to_string(max_ref) + (non_finite ? " NON-FINITE" : "");
  }
};

inline ErrorStats Compare(const std::vector<float>& got, const std::vector<float>& want) {
  ErrorStats s;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (!std::isfinite(got[i])) s.non_finite = true;
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
    s.max_abs = std::max(s.max_abs, std::fabs(d));
    s.max_ref = std::max(s.max_ref, std::fabs(static_cast<double>(want[i])));
  }
  if (got.size() != want.size()) s.non_finite = true;
  s.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return s;
}

}  // namespace r1::kernels::testing

#endif  // R1_KERNELS_INTERNAL_TEST_DATA_H_
