// CPU tests of ChooseMoeGemmFp8Backend and ChooseMoeGemmInt4Backend (moe_gemm_backend.h): what
// can run, and the nearest measured row deciding between ours and CUTLASS's two tile
// configurations.
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

// The checked-in FP8 table (H100, 2026-12-07): ours where CUTLASS's decode tile gains less than
// the margin (1 and 8 tokens per expert), CUTLASS's decode tile at 32, its prefill tile from 64.
TEST(MoeGemmBackendTest, MeasuredTableChoice) {
  ASSERT_EQ(MoeGemmFp8Timings().size(), 16u);
  for (const MoeGemmFp8Timing& t : MoeGemmFp8Timings()) {
    EXPECT_GT(t.ours_us, 0.0);
    EXPECT_GT(t.cutlass_decode_us, 0.0);
    EXPECT_GT(t.cutlass_prefill_us, 0.0);
  }
  for (int64_t n_k : {0, 1}) {
    const int64_t n = n_k == 0 ? 4096 : 7168, k = n_k == 0 ? 7168 : 2048;
    EXPECT_EQ(ChooseMoeGemmFp8Backend(1, n, k, true), MoeGemmFp8Backend::kOurs);
    EXPECT_EQ(ChooseMoeGemmFp8Backend(8, n, k, true), MoeGemmFp8Backend::kOurs);
    EXPECT_EQ(ChooseMoeGemmFp8Backend(32, n, k, true), MoeGemmFp8Backend::kCutlassDecode);
    for (int64_t tok : {64, 128, 256, 512, 4096}) {
      EXPECT_EQ(ChooseMoeGemmFp8Backend(tok, n, k, true), MoeGemmFp8Backend::kCutlassPrefill);
      EXPECT_EQ(ChooseMoeGemmFp8Backend(tok, n, k, false), MoeGemmFp8Backend::kOurs);
    }
  }
  EXPECT_EQ(ChooseMoeGemmFp8Backend(256, 1024, 1024, true), MoeGemmFp8Backend::kOurs);  // no row
}

TEST(MoeGemmBackendTest, Int4WhatCanRun) {
  // k not a multiple of 128, n not a multiple of 8, empty shapes: nothing.
  EXPECT_EQ(ChooseMoeGemmInt4Backend(8, 4096, 7000, true), MoeGemmInt4Backend::kNone);
  EXPECT_EQ(ChooseMoeGemmInt4Backend(8, 4100, 7168, true), MoeGemmInt4Backend::kNone);
  EXPECT_EQ(ChooseMoeGemmInt4Backend(8, 0, 7168, true), MoeGemmInt4Backend::kNone);
  // CUTLASS absent (or its weights unprepared), or n % 16 != 0 (its weight layout): ours.
  const MoeGemmInt4Timing fast[] = {{8, 32, 4104, 7168, 100.0, 10.0, 10.0},
                                    {8, 32, 4096, 7168, 100.0, 10.0, 10.0}};
  EXPECT_EQ(ChooseMoeGemmInt4Backend(8, 4104, 7168, true, fast), MoeGemmInt4Backend::kOurs);
  EXPECT_EQ(ChooseMoeGemmInt4Backend(8, 4096, 7168, false, fast), MoeGemmInt4Backend::kOurs);
  EXPECT_EQ(ChooseMoeGemmInt4Backend(8, 4096, 7168, true, fast),
            MoeGemmInt4Backend::kCutlassDecode);
  EXPECT_STREQ(MoeGemmInt4BackendName(MoeGemmInt4Backend::kCutlassPrefill), "cutlass_prefill");
  EXPECT_STREQ(MoeGemmInt4BackendName(MoeGemmInt4Backend::kNone), "none");
}

TEST(MoeGemmBackendTest, Int4NearestMeasuredRowDecides) {
  const MoeGemmInt4Timing t[] = {
      {1, 32, 4096, 7168, 40.0, 90.0, 160.0},      // ours
      {4, 32, 4096, 7168, 45.0, 44.0, 160.0},      // decode tile, within the margin: ours
      {32, 32, 4096, 7168, 120.0, 90.0, 150.0},    // decode tile
      {256, 32, 4096, 7168, 500.0, 300.0, 220.0},  // prefill tile
      {512, 32, 4096, 7168, 900.0, 0.0, 400.0},    // only prefill measured
      {16, 32, 7168, 2048, 0.0, 20.0, 30.0},       // ours unmeasured
      {256, 32, 7168, 2048, 100.0, 0.0, 0.0},      // CUTLASS unmeasured
  };
  auto choose = [&](int64_t tok, int64_t n, int64_t k) {
    return ChooseMoeGemmInt4Backend(tok, n, k, true, t);
  };
  EXPECT_EQ(choose(1, 4096, 7168), MoeGemmInt4Backend::kOurs);
  EXPECT_EQ(choose(0, 4096, 7168), MoeGemmInt4Backend::kOurs);  // log distance clamps at 1
  EXPECT_EQ(choose(4, 4096, 7168), MoeGemmInt4Backend::kOurs);
  EXPECT_EQ(choose(32, 4096, 7168), MoeGemmInt4Backend::kCutlassDecode);
  EXPECT_EQ(choose(24, 4096, 7168), MoeGemmInt4Backend::kCutlassDecode);  // nearest: 32
  EXPECT_EQ(choose(256, 4096, 7168), MoeGemmInt4Backend::kCutlassPrefill);
  EXPECT_EQ(choose(8192, 4096, 7168), MoeGemmInt4Backend::kCutlassPrefill);  // nearest: 512
  EXPECT_EQ(choose(16, 7168, 2048), MoeGemmInt4Backend::kOurs);              // ours unmeasured
  EXPECT_EQ(choose(256, 7168, 2048), MoeGemmInt4Backend::kOurs);             // CUTLASS unmeasured
  EXPECT_EQ(choose(32, 2048, 7168), MoeGemmInt4Backend::kOurs);  // no row for this (n, k)
  // Ties go to the first listed row: 2 is equally far (in log2) from 1 and 4.
  const MoeGemmInt4Timing tie[] = {{1, 32, 4096, 7168, 100.0, 50.0, 0.0},
                                   {4, 32, 4096, 7168, 100.0, 200.0, 0.0}};
  EXPECT_EQ(ChooseMoeGemmInt4Backend(2, 4096, 7168, true, tie), MoeGemmInt4Backend::kCutlassDecode);
}

// The checked-in INT4 table (H100, 2026-12-07): ours up to 32 tokens per expert, CUTLASS's
// prefill tile from 64.
TEST(MoeGemmBackendTest, Int4MeasuredTableChoice) {
  ASSERT_EQ(MoeGemmInt4Timings().size(), 16u);
  for (int64_t n_k : {0, 1}) {
    const int64_t n = n_k == 0 ? 4096 : 7168, k = n_k == 0 ? 7168 : 2048;
    for (int64_t tok : {1, 4, 8, 16, 32}) {
      EXPECT_EQ(ChooseMoeGemmInt4Backend(tok, n, k, true), MoeGemmInt4Backend::kOurs) << tok;
    }
    for (int64_t tok : {64, 256, 512}) {
      EXPECT_EQ(ChooseMoeGemmInt4Backend(tok, n, k, true), MoeGemmInt4Backend::kCutlassPrefill);
      EXPECT_EQ(ChooseMoeGemmInt4Backend(tok, n, k, false), MoeGemmInt4Backend::kOurs);
    }
  }
}

}  // namespace
}  // namespace r1::kernels
