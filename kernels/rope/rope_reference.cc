#include <algorithm>
#include <cmath>
#include <numbers>

#include "common/numeric.h"
#include "kernels/rope/rope.h"

namespace r1::kernels {
namespace {

// Correction dimension for `rot` rotations (spec §6.4).
double CorrDim(const YarnConfig& c, double rot) {
  return c.dim * std::log(static_cast<double>(c.original_max_pos) / (rot * 2 * std::numbers::pi)) /
         (2 * std::log(c.base));
}

double YarnM(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

std::vector<float> YarnInvFreq(const YarnConfig& c) {
  const int half = c.dim / 2;
  const float low = static_cast<float>(std::max(std::floor(CorrDim(c, c.beta_fast)), 0.0));
  float high = static_cast<float>(std::min(std::ceil(CorrDim(c, c.beta_slow)), c.dim - 1.0));
  if (low == high) high += 0.001f;
  std::vector<float> theta(half);
  for (int i = 0; i < half; ++i) {
    const float f = 1.0f / std::pow(static_cast<float>(c.base), static_cast<float>(2 * i) / c.dim);
    const float ramp = std::clamp((static_cast<float>(i) - low) / (high - low), 0.0f, 1.0f);
    const float smooth = 1.0f - ramp;  // 1 keeps the original frequency
    theta[i] = c.factor > 1 ? f / static_cast<float>(c.factor) * (1.0f - smooth) + f * smooth : f;
  }
  return theta;
}

float YarnCosSinScale(const YarnConfig& c) {
  if (c.mscale != 0.0 && c.mscale_all_dim != 0.0) {
    return static_cast<float>(YarnM(c.factor, c.mscale) / YarnM(c.factor, c.mscale_all_dim));
  }
  return static_cast<float>(YarnM(c.factor, 1.0));
}

void BuildRopeTable(const YarnConfig& c, int64_t max_pos, std::vector<float>* cos_table,
                    std::vector<float>* sin_table) {
  const std::vector<float> theta = YarnInvFreq(c);
  const float scale = YarnCosSinScale(c);
  const size_t half = theta.size();
  cos_table->resize(max_pos * half);
  sin_table->resize(max_pos * half);
  for (int64_t p = 0; p < max_pos; ++p) {
    for (size_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * theta[i];
      (*cos_table)[p * half + i] = static_cast<float>(std::cos(static_cast<double>(angle))) * scale;
      (*sin_table)[p * half + i] = static_cast<float>(std::sin(static_cast<double>(angle))) * scale;
    }
  }
}

absl::Status ValidateRope(const RopeParams& p) {
  if (p.tokens < 0 || p.heads <= 0 || p.dim <= 0 || p.dim % 2 != 0 || p.dim > 256 ||
      p.max_pos <= 0) {
    return absl::InvalidArgumentError("rope: bad shape");
  }
  if (p.tokens == 0) return absl::OkStatus();
  if (p.x == nullptr || p.positions == nullptr || p.cos_table == nullptr ||
      p.sin_table == nullptr) {
    return absl::InvalidArgumentError("rope: null pointer");
  }
  return absl::OkStatus();
}

absl::Status RopeReference(const RopeParams& p) {
  if (auto st = ValidateRope(p); !st.ok()) return st;
  const int half = p.dim / 2;
  for (int64_t t = 0; t < p.tokens; ++t) {
    const int64_t pos = p.positions[t];
    if (pos < 0 || pos >= p.max_pos)
      return absl::InvalidArgumentError("rope: position out of range");
    const float* c = p.cos_table + pos * half;
    const float* s = p.sin_table + pos * half;
    for (int64_t h = 0; h < p.heads; ++h) {
      uint16_t* z = p.x + t * p.token_stride + h * p.head_stride;
      if (p.layout == RopeLayout::kRotateHalf) {
        for (int i = 0; i < half; ++i) {
          const float a = Bf16ToFloat(z[i]), b = Bf16ToFloat(z[i + half]);
          z[i] = FloatToBf16(a * c[i] - b * s[i]);
          z[i + half] = FloatToBf16(b * c[i] + a * s[i]);
        }
        continue;
      }
      for (int i = 0; i < half; ++i) {
        const float a = Bf16ToFloat(z[2 * i]), b = Bf16ToFloat(z[2 * i + 1]);
        z[2 * i] = FloatToBf16(a * c[i] - b * s[i]);
        z[2 * i + 1] = FloatToBf16(a * s[i] + b * c[i]);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
