// GPU test (label gpu): the device fill equals the CPU reference bit for bit, for each dtype, over
// odd shapes — R1's 7168-wide rows, ld > cols (the [cols, ld) tail must keep its sentinel),
// valid_cols inside a store vector, valid_rows < rows, widths that force 8/4/2/1-byte stores and
// an out pointer one element off 16-byte alignment — on the default and a created stream; and a
// 1 GiB fill per dtype, timed and reported (GB/s, not asserted), spot-checked row by row.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/random_fill/random_fill.h"
#include "kernels/random_fill/random_fill_cuda.h"

namespace r1::kernels {
namespace {

using testing::CheckCuda;
using testing::DeviceBuffer;

constexpr FillDtype kDtypes[] = {FillDtype::kBf16, FillDtype::kF32, FillDtype::kE4m3};

const char* Name(FillDtype d) {
  return d == FillDtype::kBf16 ? "bf16" : d == FillDtype::kF32 ? "f32" : "e4m3";
}

// Index of the first differing byte, or -1.
int64_t FirstMismatch(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

TEST(RandomFillGpuTest, MatchesReferenceBitForBit) {
  struct Case {
    int64_t rows, cols, ld, valid_rows, valid_cols;
    int64_t offset_elems;  // out = buffer start + this many elements
    float amplitude, offset;
  };
  const Case cases[] = {
      {129, 7168, 7168, -1, -1, 0, 0.02f, 0.0f},  // R1 hidden width, contiguous
      {7, 200, 256, -1, -1, 0, 1.0f, 0.5f},       // ld > cols; 200 e4m3 = 8-byte stores
      {33, 1000, 1024, -1, 777, 0, 3.0f, -1.0f},  // valid_cols inside a store vector
      {50, 96, 100, 41, -1, 0, 600.0f, 0.0f},     // valid_rows < rows; e4m3 saturates
      {6, 13, 17, 4, 9, 0, 1.0f, 0.0f},           // odd widths: 1-element stores
      {300, 64, 64, 299, 63, 1, 0.1f, 0.05f},     // out one element off 16-byte alignment
      {1, 1, 1, -1, -1, 0, 1.0f, 0.0f},
      {2, 3, 3, 0, -1, 0, 1.0f, 0.0f},  // valid_rows = 0: all zero
  };
  cudaStream_t stream;
  CheckCuda(cudaStreamCreate(&stream), "stream");
  int id = 0;
  for (const Case& c : cases) {
    ++id;
    for (FillDtype d : kDtypes) {
      const int64_t es = FillDtypeBytes(d);
      const size_t bytes = static_cast<size_t>((c.rows * c.ld + c.offset_elems) * es);
      std::vector<uint8_t> want(bytes, 0x5A);
      RandomFillParams p;
      p.dtype = d;
      p.rows = c.rows;
      p.cols = c.cols;
      p.ld = c.ld;
      p.valid_rows = c.valid_rows;
      p.valid_cols = c.valid_cols;
      p.seed = 1000003ull * static_cast<uint64_t>(id) + static_cast<uint64_t>(d);
      p.amplitude = c.amplitude;
      p.offset = c.offset;
      DeviceBuffer<uint8_t> dbuf(want);  // the sentinel everywhere, uploaded
      p.out = want.data() + c.offset_elems * es;
      ASSERT_TRUE(RandomFillReference(p).ok());
      p.out = dbuf.get() + c.offset_elems * es;
      ASSERT_TRUE(LaunchRandomFill(p, id % 2 ? stream : nullptr).ok());
      CheckCuda(cudaStreamSynchronize(id % 2 ? stream : nullptr), "fill");
      const std::vector<uint8_t> got = dbuf.Download();
      const int64_t bad = FirstMismatch(got, want);
      EXPECT_EQ(bad, -1) << "case " << id << " " << Name(d) << ": first differing byte " << bad
                         << " (element " << (bad / es - c.offset_elems) << ")";
    }
  }
  CheckCuda(cudaStreamDestroy(stream), "stream destroy");
}

TEST(RandomFillGpuTest, RejectsInvalidParams) {
  DeviceBuffer<float> buf(64);
  RandomFillParams p;
  p.out = buf.get();
  p.dtype = FillDtype::kF32;
  p.rows = 4;
  p.cols = 16;
  p.ld = 8;  // < cols
  EXPECT_FALSE(LaunchRandomFill(p, nullptr).ok());
  p.ld = 16;
  p.amplitude = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(LaunchRandomFill(p, nullptr).ok());
  p.amplitude = 1.0f;
  p.out = reinterpret_cast<char*>(buf.get()) + 2;
  EXPECT_FALSE(LaunchRandomFill(p, nullptr).ok());
  p.out = nullptr;
  p.rows = 0;
  EXPECT_TRUE(LaunchRandomFill(p, nullptr).ok());
}

// The encoded bytes of element (r, c) per random_fill.h, for spot checks of the large fill.
void EncodeElement(const RandomFillParams& p, int64_t r, int64_t c, uint8_t* dst) {
  const float v = RandomFillValue(p.seed, p.amplitude, p.offset, r, c);
  if (p.dtype == FillDtype::kBf16) {
    const uint16_t b = FloatToBf16(v);
    std::memcpy(dst, &b, 2);
  } else if (p.dtype == FillDtype::kF32) {
    std::memcpy(dst, &v, 4);
  } else {
    *dst = FloatToFp8E4m3(v);
  }
}

TEST(RandomFillGpuTest, OneGibFillTimed) {
  const int64_t bytes = int64_t{1} << 30, cols = 8192;
  DeviceBuffer<uint8_t> buf(static_cast<size_t>(bytes));
  cudaEvent_t a, b;
  CheckCuda(cudaEventCreate(&a), "event");
  CheckCuda(cudaEventCreate(&b), "event");
  for (FillDtype d : kDtypes) {
    const int64_t es = FillDtypeBytes(d);
    RandomFillParams p;
    p.out = buf.get();
    p.dtype = d;
    p.rows = bytes / (cols * es);
    p.cols = cols;
    p.ld = cols;
    p.seed = 0x5eed + static_cast<uint64_t>(d);
    p.amplitude = 0.05f;
    ASSERT_TRUE(LaunchRandomFill(p, nullptr).ok());  // warm-up
    constexpr int kReps = 5;
    CheckCuda(cudaEventRecord(a), "record");
    for (int i = 0; i < kReps; ++i) ASSERT_TRUE(LaunchRandomFill(p, nullptr).ok());
    CheckCuda(cudaEventRecord(b), "record");
    CheckCuda(cudaEventSynchronize(b), "sync");
    float ms = 0;
    CheckCuda(cudaEventElapsedTime(&ms, a, b), "elapsed");
    const double s = ms / 1e3 / kReps;
    std::printf(
        "random_fill %-4s 1 GiB (%ld x %ld): %.3f ms, %.1f GB/s, %.2f Gelem/s, %.1f s per "
        "100 GB\n",
        Name(d), static_cast<long>(p.rows), static_cast<long>(cols), s * 1e3, bytes / s / 1e9,
        bytes / es / s / 1e9, 100e9 / (bytes / s));
    for (int64_t r : {int64_t{0}, int64_t{1}, p.rows / 2 + 3, p.rows - 1}) {
      std::vector<uint8_t> got(static_cast<size_t>(cols * es)), want(got.size());
      CheckCuda(
          cudaMemcpy(got.data(), buf.get() + r * cols * es, got.size(), cudaMemcpyDeviceToHost),
          "row download");
      for (int64_t c = 0; c < cols; ++c) EncodeElement(p, r, c, want.data() + c * es);
      const int64_t bad = FirstMismatch(got, want);
      EXPECT_EQ(bad, -1) << Name(d) << " row " << r << ": first differing byte " << bad;
    }
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
}

}  // namespace
}  // namespace r1::kernels
