#include "worker/model/dense_rope.h"

#include <cmath>

namespace r1 {

std::vector<double> DenseInvFreq(const DenseModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<double> inv(half);
  for (int64_t i = 0; i < half; ++i) {
    inv[i] = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / c.head_dim);
  }
  if (!c.rope_scaling) return inv;
  const Llama3RopeScaling& s = *c.rope_scaling;
  const double L = static_cast<double>(s.original_max_position_embeddings);
  const double low_wavelen = L / s.low_freq_factor;
  const double high_wavelen = L / s.high_freq_factor;
  for (double& f : inv) {
    const double wavelen = 2.0 * M_PI / f;
    if (wavelen < high_wavelen) continue;  // high frequency: kept
    if (wavelen > low_wavelen) {           // low frequency: interpolated by the factor
      f /= s.factor;
      continue;
    }
    const double smooth =
        (L / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    f = (1.0 - smooth) * f / s.factor + smooth * f;
  }
  return inv;
}

DenseRope::DenseRope(const DenseModelConfig& c) : dim_(static_cast<int>(c.head_dim)) {
  for (double f : DenseInvFreq(c)) inv_freq_.push_back(static_cast<float>(f));
}

void DenseRope::Apply(float* x, int64_t pos) const {
  const int half = dim_ / 2;
  const float p = static_cast<float>(pos);
  for (int i = 0; i < half; ++i) {
    const float angle = p * inv_freq_[i];
    const float c = std::cos(angle), s = std::sin(angle);
    const float a = x[i], b = x[i + half];
    x[i] = a * c - b * s;
    x[i + half] = b * c + a * s;
  }
}

void DenseRope::Table(int64_t max_pos, std::vector<float>* cos_table,
                      std::vector<float>* sin_table) const {
  const int half = dim_ / 2;
  cos_table->resize(max_pos * half);
  sin_table->resize(max_pos * half);
  for (int64_t pos = 0; pos < max_pos; ++pos) {
    const float p = static_cast<float>(pos);
    for (int i = 0; i < half; ++i) {
      const float angle = p * inv_freq_[i];
      (*cos_table)[pos * half + i] = std::cos(angle);
      (*sin_table)[pos * half + i] = std::sin(angle);
    }
  }
}

}  // namespace r1
