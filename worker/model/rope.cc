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

kernels::YarnConfig YarnConfigOf(const ModelConfig& c) {
  kernels::YarnConfig y;
  y.dim = static_cast<int>(c.qk_rope_head_dim);
  y.base = c.rope_theta;
  y.factor = 1.0;
  y.original_max_pos = c.max_position_embeddings;
  if (c.rope_scaling) {
    const RopeScaling& rs = *c.rope_scaling;
    y.factor = rs.factor;
    y.beta_fast = rs.beta_fast;
    y.beta_slow = rs.beta_slow;
    y.original_max_pos = rs.original_max_position_embeddings;
    y.mscale = rs.mscale;
    y.mscale_all_dim = rs.mscale_all_dim;
  }
  return y;
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
      inv_freq_(kernels::YarnInvFreq(YarnConfigOf(c))),
      cos_sin_scale_(kernels::YarnCosSinScale(YarnConfigOf(c))) {}

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
