// CPU tests of the pure MLA prefill backend choice and of the layout check for FlashInfer's
// prefill (mla_prefill_backend.h). Pointers are fake addresses: only their alignment is read.
#include "kernels/mla_prefill/mla_prefill_backend.h"

#include <cstdint>

#include <gtest/gtest.h>

namespace r1::kernels {
namespace {

// R1's layout: q [tokens][heads][192], kv [kv_len][heads][256] (k_nope ‖ v), k_rope [kv_len][64],
// out [tokens][heads][128]; 16-byte-aligned fake device addresses.
MlaPrefillParams R1Params(int64_t heads, int64_t tokens, int64_t q_start) {
  MlaPrefillParams p;
  p.q = reinterpret_cast<const uint16_t*>(uintptr_t{0x100000});
  p.kv = reinterpret_cast<const uint16_t*>(uintptr_t{0x200000});
  p.k_rope = reinterpret_cast<const uint16_t*>(uintptr_t{0x300000});
  p.out = reinterpret_cast<uint16_t*>(uintptr_t{0x400000});
  p.q_head_stride = 192;
  p.q_token_stride = heads * 192;
  p.kv_head_stride = 256;
  p.kv_token_stride = heads * 256;
  p.k_rope_stride = 64;
  p.out_head_stride = 128;
  p.out_token_stride = heads * 128;
  p.tokens = tokens;
  p.q_start = q_start;
  p.kv_len = q_start + tokens;
  p.heads = heads;
  p.nope_dim = 128;
  p.rope_dim = 64;
  p.v_dim = 128;
  p.softmax_scale = 0.1352f;
  return p;
}

TEST(MlaPrefillFlashInferCheckTest, R1LayoutsPass) {
  EXPECT_TRUE(CheckMlaPrefillFlashInfer(R1Params(128, 2048, 0)).ok());
  EXPECT_TRUE(CheckMlaPrefillFlashInfer(R1Params(16, 1, 4095)).ok());
  MlaPrefillParams p = R1Params(128, 300, 100);
  p.kv_len = 1000;  // positions past the chunk: never visible, never read
  EXPECT_TRUE(CheckMlaPrefillFlashInfer(p).ok());
  p.out_token_stride = 136;  // head-major output, padded
  p.out_head_stride = 300 * 136;
  EXPECT_TRUE(CheckMlaPrefillFlashInfer(p).ok());
  p = R1Params(128, 64, 0);
  p.nope_dim = 192;  // no rope at all: k_rope may be null and its stride anything
  p.rope_dim = 0;
  p.kv_head_stride = 320;
  p.kv_token_stride = 128 * 320;
  p.k_rope = nullptr;
  p.k_rope_stride = 3;
  EXPECT_TRUE(CheckMlaPrefillFlashInfer(p).ok());
  p = R1Params(128, 0, 0);  // nothing to do: no pointer is needed
  p.q = p.kv = p.k_rope = nullptr;
  p.out = nullptr;
  EXPECT_TRUE(CheckMlaPrefillFlashInfer(p).ok());
}

TEST(MlaPrefillFlashInferCheckTest, RefusesWhatItCannotExpress) {
  auto refused = [](const MlaPrefillParams& p) {
    return CheckMlaPrefillFlashInfer(p).code() == absl::StatusCode::kInvalidArgument;
  };
  MlaPrefillParams p = R1Params(128, 64, 0);
  p.softmax_scale = 0;  // invalid for ours too
  EXPECT_TRUE(refused(p));
  p = R1Params(128, 64, 0);
  p.v_dim = 64;  // widths other than 192/128
  EXPECT_TRUE(refused(p));
  p = R1Params(128, 64, 0);
  p.nope_dim = 96;
  p.rope_dim = 64;
  EXPECT_TRUE(refused(p));
  p = R1Params(128, 64, 0);
  p.nope_dim = 124;  // 192 wide but the split is not a multiple of 8
  p.rope_dim = 68;
  EXPECT_TRUE(refused(p));
  for (int which = 0; which < 4; ++which) {  // an unaligned pointer
    p = R1Params(128, 64, 0);
    if (which == 0) p.q += 4;
    if (which == 1) p.kv += 4;
    if (which == 2) p.k_rope += 4;
    if (which == 3) p.out += 4;
    EXPECT_TRUE(refused(p)) << which;
  }
  for (int which = 0; which < 7; ++which) {  // a stride not a multiple of 8
    p = R1Params(4, 64, 0);
    int64_t* s[] = {&p.q_token_stride,   &p.q_head_stride,   &p.kv_token_stride, &p.kv_head_stride,
                    &p.out_token_stride, &p.out_head_stride, &p.k_rope_stride};
    *s[which] += which < 6 ? 4 * 1024 + 4 : 4;
    EXPECT_TRUE(refused(p)) << which;
  }
  p = R1Params(128, 64, 0);
  p.q_start = int64_t{1} << 31;  // lengths past int32
  p.kv_len = p.q_start + p.tokens;
  EXPECT_TRUE(refused(p));
  p = R1Params(65536, 2, 0);  // more heads than FlashInfer's grid holds
  EXPECT_TRUE(refused(p));
  p = R1Params(65535, 2, 0);
  EXPECT_TRUE(CheckMlaPrefillFlashInfer(p).ok());
}

TEST(MlaPrefillBackendTest, WhatCanRun) {
  const MlaPrefillParams r1 = R1Params(128, 2048, 0);
  const MlaPrefillTiming fi_fast[] = {{128, 2048, 0, 100.0, 50.0}};
  EXPECT_EQ(ChooseMlaPrefillBackend(r1, true, fi_fast), MlaPrefillBackend::kFlashInfer);
  EXPECT_EQ(ChooseMlaPrefillBackend(r1, false, fi_fast), MlaPrefillBackend::kOurs);
  MlaPrefillParams p = r1;
  p.q_token_stride += 4;  // a layout FlashInfer cannot take: ours, however fast FlashInfer was
  EXPECT_EQ(ChooseMlaPrefillBackend(p, true, fi_fast), MlaPrefillBackend::kOurs);
  p = r1;
  p.v_dim = 64;
  EXPECT_EQ(ChooseMlaPrefillBackend(p, true, fi_fast), MlaPrefillBackend::kOurs);
  p = r1;
  p.heads = 0;  // invalid: ours (its launch reports it)
  EXPECT_EQ(ChooseMlaPrefillBackend(p, true, fi_fast), MlaPrefillBackend::kOurs);
  EXPECT_STREQ(MlaPrefillBackendName(MlaPrefillBackend::kFlashInfer), "flashinfer");
  EXPECT_STREQ(MlaPrefillBackendName(MlaPrefillBackend::kOurs), "ours");
}

TEST(MlaPrefillBackendTest, NearestMeasuredShapeDecides) {
  const MlaPrefillTiming t[] = {
      {128, 2048, 0, 1000.0, 600.0},    // FlashInfer
      {128, 8192, 0, 9000.0, 8800.0},   // within the margin: ours
      {128, 1024, 3072, 800.0, 900.0},  // ours
      {128, 64, 0, 0.0, 0.0},           // unmeasured
      {16, 2048, 0, 100.0, 50.0},       // FlashInfer at 16 heads
  };
  auto choose = [&](int64_t heads, int64_t tokens, int64_t q_start) {
    return ChooseMlaPrefillBackend(R1Params(heads, tokens, q_start), true, t);
  };
  EXPECT_EQ(choose(128, 2048, 0), MlaPrefillBackend::kFlashInfer);
  EXPECT_EQ(choose(128, 3000, 0), MlaPrefillBackend::kFlashInfer);  // nearest: (2048, 0)
  EXPECT_EQ(choose(128, 8192, 0), MlaPrefillBackend::kOurs);
  EXPECT_EQ(choose(128, 16384, 0), MlaPrefillBackend::kOurs);  // nearest: (8192, 0)
  EXPECT_EQ(choose(128, 1024, 3072), MlaPrefillBackend::kOurs);
  EXPECT_EQ(choose(128, 900, 4000), MlaPrefillBackend::kOurs);  // nearest: (1024, 3072)
  EXPECT_EQ(choose(128, 64, 0), MlaPrefillBackend::kOurs);      // row unmeasured
  EXPECT_EQ(choose(16, 2048, 0), MlaPrefillBackend::kFlashInfer);
  EXPECT_EQ(choose(32, 2048, 0), MlaPrefillBackend::kOurs);  // no row for 32 heads
}

// The checked-in table (H100, 2026-12-07): FlashInfer at R1's prefill shapes where it can run
// and was measured.
TEST(MlaPrefillBackendTest, MeasuredTablePicksFlashInfer) {
  ASSERT_EQ(MlaPrefillTimings().size(), 4u);
  for (int64_t tokens : {1, 17, 64, 300, 512, 2048, 8192}) {
    for (int64_t q_start : {0, 1000}) {
      // The rows measured 1,024–8,192-token chunks; shorter than a quarter of that is unmeasured.
      EXPECT_EQ(ChooseMlaPrefillBackend(R1Params(128, tokens, q_start), true),
                tokens >= 512 ? MlaPrefillBackend::kFlashInfer : MlaPrefillBackend::kOurs)
          << tokens << " " << q_start;
      EXPECT_EQ(ChooseMlaPrefillBackend(R1Params(128, tokens, q_start), false),
                MlaPrefillBackend::kOurs);
    }
  }
}

}  // namespace
}  // namespace r1::kernels
