#include "worker/model/rope.h"

#include <algorithm>
#include <cmath>

namespace r1 {
namespace {

double GetMscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

std::vector<double> YarnInvFreq(const ModelConfig& c) {
  const int dim = static_cast<int>(c.qk_rope_head_dim);
  const double base = c.rope_theta;
  std::vector<double> f(dim / 2);
  for (int i = 0; i < dim / 2; ++i) f[i] = 1.0 / std::pow(base, (2.0 * i) / dim);
  if (!c.rope_scaling) return f;
  const RopeScaling& rs = *c.rope_scaling;
  const double l_orig = static_cast<double>(rs.original_max_position_embeddings);
  auto correction_dim = [&](double rotations) {
    return dim * std::log(l_orig / (rotations * 2.0 * M_PI)) / (2.0 * std::log(base));
  };
  double low = std::max(std::floor(correction_dim(rs.beta_fast)), 0.0);
  double high = std::min(std::ceil(correction_dim(rs.beta_slow)), static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  std::vector<double> theta(dim / 2);
  for (int i = 0; i < dim / 2; ++i) {
    double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    theta[i] = f[i] * (1.0 - ramp) + (f[i] / rs.factor) * ramp;
  }
  return theta;
}

double YarnCosSinScale(const ModelConfig& c) {
  if (!c.rope_scaling) return 1.0;
  const RopeScaling& rs = *c.rope_scaling;
  if (rs.mscale != 0.0 && rs.mscale_all_dim != 0.0) {
    return GetMscale(rs.factor, rs.mscale) / GetMscale(rs.factor, rs.mscale_all_dim);
  }
  return GetMscale(rs.factor, 1.0);
}

double SoftmaxScale(const ModelConfig& c) {
  double s = 1.0 / std::sqrt(static_cast<double>(c.qk_head_dim()));
  if (c.rope_scaling && c.rope_scaling->mscale_all_dim != 0.0) {
    double m = GetMscale(c.rope_scaling->factor, c.rope_scaling->mscale_all_dim);
    s *= m * m;
  }
  return s;
}

Rope::Rope(const ModelConfig& c)
    : dim_(static_cast<int>(c.qk_rope_head_dim)),
      cos_sin_scale_(static_cast<float>(YarnCosSinScale(c))) {
  for (double t : YarnInvFreq(c)) inv_freq_.push_back(static_cast<float>(t));
}

void Rope::Apply(float* x, int64_t pos) const {
  const float p = static_cast<float>(pos);
  for (int i = 0; i < dim_ / 2; ++i) {
    const float angle = p * inv_freq_[i];
    const float cs = std::cos(angle) * cos_sin_scale_;
    const float sn = std::sin(angle) * cos_sin_scale_;
    const float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * cs - b * sn;
    x[2 * i + 1] = a * sn + b * cs;
  }
}

}  // namespace r1
