// CPU tests of ChooseMoeGemmFp8Backend (moe_gemm_backend.h): what can run, and the nearest
// measured row deciding between ours and CUTLASS's two tile configurations.
#include "kernels/moe_gemm/moe_gemm_backend.h"

#include <gtest/gtest.h>

namespace r1::kernels {
namespace {

TEST(MoeGemmBackendTest, WhatCanRun) {
  // k not a multiple of 128 (or empty shapes): nothing.
  EXPECT_EQ(ChooseMoeGemmFp8Backend(8, 4096, 7000, true), MoeGemmFp8Backend::kNone);
  EXPECT_EQ(ChooseMoeGemmFp8Backend(8, 0, 7168, true), MoeGemmFp8Backend::kNone);
  EXPECT_EQ(ChooseMoeGemmFp8Backend(8, 4096, 0, true), MoeGemmFp8Backend::kNone);
  // CUTLASS absent, or n % 8 != 0 (TMA output rows): ours.
  const MoeGemmFp8Timing fast[] = {{8, 32, 4100, 7168, 100.0, 10.0, 10.0},
                                   {8, 32, 4096, 7168, 100.0, 10.0, 10.0}};
  EXPECT_EQ(ChooseMoeGemmFp8Backend(8, 4100, 7168, true, fast), MoeGemmFp8Backend::kOurs);
  EXPECT_EQ(ChooseMoeGemmFp8Backend(8, 4096, 7168, false, fast), MoeGemmFp8Backend::kOurs);
  EXPECT_EQ(ChooseMoeGemmFp8Backend(8, 4096, 7168, true, fast), MoeGemmFp8Backend::kCutlassDecode);
  EXPECT_STREQ(MoeGemmFp8BackendName(MoeGemmFp8Backend::kCutlassPrefill), "cutlass_prefill");
  EXPECT_STREQ(MoeGemmFp8BackendName(MoeGemmFp8Backend::kOurs), "ours");
}

TEST(MoeGemmBackendTest, NearestMeasuredRowDecides) {
  const MoeGemmFp8Timing t[] = {
      {1, 32, 4096, 7168, 60.0, 80.0, 150.0},      // ours
      {32, 32, 4096, 7168, 75.0, 72.0, 140.0},     // decode tile, but within the margin: ours
      {64, 32, 4096, 7168, 120.0, 90.0, 150.0},    // decode tile
      {256, 32, 4096, 7168, 400.0, 260.0, 200.0},  // prefill tile
      {512, 32, 4096, 7168, 800.0, 0.0, 350.0},    // only prefill measured
      {32, 32, 7168, 2048, 0.0, 20.0, 30.0},       // ours unmeasured
      {256, 32, 7168, 2048, 100.0, 0.0, 0.0},      // CUTLASS unmeasured
  };
  auto choose = [&](int64_t tok, int64_t n, int64_t k) {
    return ChooseMoeGemmFp8Backend(tok, n, k, true, t);
  };
  EXPECT_EQ(choose(1, 4096, 7168), MoeGemmFp8Backend::kOurs);
  EXPECT_EQ(choose(0, 4096, 7168), MoeGemmFp8Backend::kOurs);  // log distance clamps at 1
  EXPECT_EQ(choose(32, 4096, 7168), MoeGemmFp8Backend::kOurs);
  EXPECT_EQ(choose(64, 4096, 7168), MoeGemmFp8Backend::kCutlassDecode);
  EXPECT_EQ(choose(50, 4096, 7168), MoeGemmFp8Backend::kCutlassDecode);  // nearest: 64
  EXPECT_EQ(choose(256, 4096, 7168), MoeGemmFp8Backend::kCutlassPrefill);
  EXPECT_EQ(choose(300, 4096, 7168), MoeGemmFp8Backend::kCutlassPrefill);
  EXPECT_EQ(choose(4096, 4096, 7168), MoeGemmFp8Backend::kCutlassPrefill);  // nearest: 512
  EXPECT_EQ(choose(32, 7168, 2048), MoeGemmFp8Backend::kOurs);              // ours unmeasured
  EXPECT_EQ(choose(256, 7168, 2048), MoeGemmFp8Backend::kOurs);             // CUTLASS unmeasured
  EXPECT_EQ(choose(64, 2048, 7168), MoeGemmFp8Backend::kOurs);  // no row for this (n, k)
}

TEST(MoeGemmBackendTest, TiesGoToTheFirstRow) {
  // 16 is equally far (in log2) from 8 and 32: the first listed row decides.
  const MoeGemmFp8Timing t[] = {
      {8, 32, 4096, 7168, 100.0, 50.0, 0.0},
      {32, 32, 4096, 7168, 100.0, 200.0, 0.0},
  };
  EXPECT_EQ(ChooseMoeGemmFp8Backend(16, 4096, 7168, true, t), MoeGemmFp8Backend::kCutlassDecode);
}

// Until a GPU run fills the checked-in table, ours is chosen everywhere.
TEST(MoeGemmBackendTest, UnmeasuredTableMeansOurs) {
  EXPECT_TRUE(MoeGemmFp8Timings().empty());
  for (int64_t tok : {1, 8, 32, 64, 256, 512}) {
    EXPECT_EQ(ChooseMoeGemmFp8Backend(tok, 4096, 7168, true), MoeGemmFp8Backend::kOurs);
    EXPECT_EQ(ChooseMoeGemmFp8Backend(tok, 7168, 2048, true), MoeGemmFp8Backend::kOurs);
  }
}

}  // namespace
}  // namespace r1::kernels
