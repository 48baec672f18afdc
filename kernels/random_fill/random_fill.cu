// Grid-stride over vectors of kBytes bytes (16 when the alignment of out, cols and ld allows,
// else the widest that divides all three): a vector lies within one row, its elements are hashed
// and encoded in registers and written with one store. Each thread walks (row, vector) pairs by a
// fixed step, so there is one division per thread, not per vector. The fill is write-only; for
// bf16 and e4m3 the hash (two 64-bit multiplies per element) rather than HBM sets the pace.
#include <algorithm>
#include <cstdint>

#include "kernels/internal/cuda_status.h"
#include "kernels/internal/device_utils.cuh"
#include "kernels/random_fill/random_fill_cuda.h"

namespace r1::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kBlocksPerSm = 8;  // 2048 threads per SM: enough warps to hide the hash's latency

struct FillArgs {
  char* out;
  int64_t rows;
  int64_t ld_bytes;
  int64_t valid_rows;
  int64_t valid_cols;
  int64_t vecs_per_row;  // cols / elements per vector
  int64_t step_r;        // (grid size) / vecs_per_row
  int64_t step_c;        // (grid size) % vecs_per_row
  uint64_t seed;
  float amplitude;
  float offset;
};

// One element's code in the low bits (all bits clear for +0).
template <FillDtype D>
__device__ __forceinline__ uint32_t Encode(float v) {
  if constexpr (D == FillDtype::kBf16) {
    return internal::FloatToBf16Bits(v);
  } else if constexpr (D == FillDtype::kF32) {
    return __float_as_uint(v);
  } else {
    return internal::FloatToE4m3Sat(v);
  }
}

template <int kBytes>
struct Words {
  static constexpr int kCount = kBytes >= 4 ? kBytes / 4 : 1;
  uint32_t w[kCount];
};

template <int kBytes>
__device__ __forceinline__ void Store(char* dst, const Words<kBytes>& v) {
  if constexpr (kBytes == 16) {
    *reinterpret_cast<uint4*>(dst) = make_uint4(v.w[0], v.w[1], v.w[2], v.w[3]);
  } else if constexpr (kBytes == 8) {
    *reinterpret_cast<uint2*>(dst) = make_uint2(v.w[0], v.w[1]);
  } else if constexpr (kBytes == 4) {
    *reinterpret_cast<uint32_t*>(dst) = v.w[0];
  } else if constexpr (kBytes == 2) {
    *reinterpret_cast<uint16_t*>(dst) = static_cast<uint16_t>(v.w[0]);
  } else {
    *reinterpret_cast<uint8_t*>(dst) = static_cast<uint8_t>(v.w[0]);
  }
}

// The encoded vector of row r from column c0; with kMasked, columns ≥ valid_cols are zero.
template <FillDtype D, int kBytes, bool kMasked>
__device__ __forceinline__ Words<kBytes> Compute(const FillArgs& a, int64_t r, int64_t c0) {
  constexpr int kElemBytes = static_cast<int>(FillDtypeBytes(D));
  constexpr int kVec = kBytes / kElemBytes;
  constexpr int kPerWord = 4 / kElemBytes;
  // c0 + kVec ≤ cols ≤ 2³²: the 32-bit column index of each element does not wrap, so the
  // compiler may step the hash's column term by a constant from one element to the next.
  __builtin_assume(c0 >= 0 && c0 + kVec <= (int64_t{1} << 32));
  Words<kBytes> out{};
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    uint32_t code = Encode<D>(RandomFillValue(a.seed, a.amplitude, a.offset, r, c0 + j));
    if (kMasked && c0 + j >= a.valid_cols) code = 0;
    out.w[j / kPerWord] |= code << (8 * kElemBytes * (j % kPerWord));
  }
  return out;
}

template <FillDtype D, int kBytes>
__global__ void __launch_bounds__(kThreads) RandomFillKernel(const FillArgs a) {
  constexpr int64_t kVec = kBytes / FillDtypeBytes(D);
  const int64_t t = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  int64_t r = t / a.vecs_per_row;
  int64_t v = t - r * a.vecs_per_row;
  while (r < a.rows) {
    const int64_t c0 = v * kVec;
    char* dst = a.out + r * a.ld_bytes + c0 * FillDtypeBytes(D);
    if (r >= a.valid_rows || c0 >= a.valid_cols) {
      Store<kBytes>(dst, Words<kBytes>{});
    } else if (c0 + kVec <= a.valid_cols) {
      Store<kBytes>(dst, Compute<D, kBytes, false>(a, r, c0));
    } else {
      Store<kBytes>(dst, Compute<D, kBytes, true>(a, r, c0));
    }
    v += a.step_c;
    r += a.step_r;
    if (v >= a.vecs_per_row) {
      v -= a.vecs_per_row;
      ++r;
    }
  }
}

template <FillDtype D>
absl::Status Launch(const RandomFillParams& p, cudaStream_t stream) {
  constexpr int64_t kElemBytes = FillDtypeBytes(D);
  // The widest store that keeps every vector aligned and inside [0, cols) of its row.
  const uint64_t addr = reinterpret_cast<uintptr_t>(p.out);
  int64_t bytes = 16;
  while (bytes > kElemBytes &&
         ((p.cols * kElemBytes) % bytes != 0 || (p.ld * kElemBytes) % bytes != 0 ||
          addr % static_cast<uint64_t>(bytes) != 0)) {
    bytes /= 2;
  }
  FillArgs a{};
  a.out = static_cast<char*>(p.out);
  a.rows = p.rows;
  a.ld_bytes = p.ld * kElemBytes;
  a.valid_rows = p.valid_rows < 0 ? p.rows : p.valid_rows;
  a.valid_cols = p.valid_cols < 0 ? p.cols : p.valid_cols;
  a.vecs_per_row = p.cols * kElemBytes / bytes;
  a.seed = p.seed;
  a.amplitude = p.amplitude;
  a.offset = p.offset;
  const int64_t vecs = p.rows * a.vecs_per_row;
  const int64_t blocks = std::min<int64_t>((vecs + kThreads - 1) / kThreads,
                                           int64_t{internal::SmCount()} * kBlocksPerSm);
  const int64_t stride = blocks * kThreads;
  a.step_r = stride / a.vecs_per_row;
  a.step_c = stride % a.vecs_per_row;
  const dim3 grid(static_cast<unsigned>(blocks));
  switch (bytes) {
    case 16:
      RandomFillKernel<D, 16><<<grid, kThreads, 0, stream>>>(a);
      break;
    case 8:
      RandomFillKernel<D, 8><<<grid, kThreads, 0, stream>>>(a);
      break;
    case 4:
      if constexpr (kElemBytes <= 4) RandomFillKernel<D, 4><<<grid, kThreads, 0, stream>>>(a);
      break;
    case 2:
      if constexpr (kElemBytes <= 2) RandomFillKernel<D, 2><<<grid, kThreads, 0, stream>>>(a);
      break;
    default:
      if constexpr (kElemBytes <= 1) RandomFillKernel<D, 1><<<grid, kThreads, 0, stream>>>(a);
      break;
  }
  return internal::LaunchStatus("random_fill launch");
}

}  // namespace

absl::Status LaunchRandomFill(const RandomFillParams& p, cudaStream_t stream) {
  if (auto st = ValidateRandomFill(p); !st.ok()) return st;
  if (p.rows == 0) return absl::OkStatus();
  switch (p.dtype) {
    case FillDtype::kBf16:
      return Launch<FillDtype::kBf16>(p, stream);
    case FillDtype::kF32:
      return Launch<FillDtype::kF32>(p, stream);
    case FillDtype::kE4m3:
      return Launch<FillDtype::kE4m3>(p, stream);
  }
  return absl::InvalidArgumentError("random_fill: bad dtype");
}

}  // namespace r1::kernels
