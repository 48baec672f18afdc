#include <cmath>
#include <limits>

#include "common/numeric.h"
#include "kernels/random_fill/random_fill.h"

namespace r1::kernels {

absl::Status ValidateRandomFill(const RandomFillParams& p) {
  const int64_t bytes = FillDtypeBytes(p.dtype);
  if (bytes == 0) return absl::InvalidArgumentError("random_fill: bad dtype");
  if (p.rows < 0 || p.cols <= 0 || p.cols > (int64_t{1} << 32) || p.ld < p.cols) {
    return absl::InvalidArgumentError("random_fill: bad shape");
  }
  if (p.rows > 0 && p.ld > std::numeric_limits<int64_t>::max() / bytes / p.rows) {
    return absl::InvalidArgumentError("random_fill: tensor size overflows int64");
  }
  if (p.valid_rows < -1 || p.valid_rows > p.rows || p.valid_cols < -1 || p.valid_cols > p.cols) {
    return absl::InvalidArgumentError("random_fill: valid_rows/valid_cols out of range");
  }
  if (!std::isfinite(p.amplitude) || !std::isfinite(p.offset)) {
    return absl::InvalidArgumentError("random_fill: amplitude and offset must be finite");
  }
  if (p.rows > 0 && p.out == nullptr) return absl::InvalidArgumentError("random_fill: null out");
  if (reinterpret_cast<uintptr_t>(p.out) % static_cast<uintptr_t>(bytes) != 0) {
    return absl::InvalidArgumentError("random_fill: out not aligned to its element size");
  }
  return absl::OkStatus();
}

absl::Status RandomFillReference(const RandomFillParams& p) {
  if (auto st = ValidateRandomFill(p); !st.ok()) return st;
  const int64_t vr = p.valid_rows < 0 ? p.rows : p.valid_rows;
  const int64_t vc = p.valid_cols < 0 ? p.cols : p.valid_cols;
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.cols; ++c) {
      // Padding is +0.0f, whose encoding in every dtype is all bits clear.
      const float v =
          r < vr && c < vc ? RandomFillValue(p.seed, p.amplitude, p.offset, r, c) : 0.0f;
      const int64_t i = r * p.ld + c;
      switch (p.dtype) {
        case FillDtype::kBf16:
          static_cast<uint16_t*>(p.out)[i] = FloatToBf16(v);
          break;
        case FillDtype::kF32:
          static_cast<float*>(p.out)[i] = v;
          break;
        case FillDtype::kE4m3:
          static_cast<uint8_t*>(p.out)[i] = FloatToFp8E4m3(v);
          break;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace r1::kernels
