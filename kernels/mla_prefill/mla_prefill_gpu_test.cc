// GPU test (label gpu): the MLA prefill kernels against the CPU reference on random inputs —
// R1's widths (nope 128, rope 64, v 128; 16 heads) with 1, 37, 64 and 200 tokens from position 0
// and as chunks after 100 cached positions, the small models' widths, the widest allowed dims,
// padded query/kv/output strides and a head-major output (the padding must stay untouched),
// cached positions past the chunk poisoned with NaN (never read), layouts that take the generic
// kernel (odd widths, strides not a multiple of 8, unaligned pointers), and the launch's checks.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/mla_prefill/mla_prefill.h"
#include "kernels/mla_prefill/mla_prefill_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

constexpr uint16_t kPoison = 0xffff;  // a bf16 NaN
constexpr uint16_t kNan = 0x7fc0;

struct Case {
  int64_t heads, nope, rope, vd, tokens, q_start;
  int64_t extra_kv = 0;     // cached positions past the chunk (poisoned)
  int64_t q_pad = 0;        // extra elements per q head and per q token
  int64_t kv_pad = 0;       // extra elements per kv head and per kv token
  int64_t kr_pad = 0;       // extra elements per k_rope row
  int64_t out_pad = 0;      // extra elements per out head and per out token
  bool head_major = false;  // out is [heads][tokens][v]
  int64_t offset = 0;       // elements added to every base pointer (misalignment)
};

std::string Name(const Case& c) {
  return "heads=" + std::to_string(c.heads) + " nope=" + std::to_string(c.nope) +
         " rope=" + std::to_string(c.rope) + " v=" + std::to_string(c.vd) +
         " tokens=" + std::to_string(c.tokens) + " q_start=" + std::to_string(c.q_start) +
         " extra=" + std::to_string(c.extra_kv) + " pads=" + std::to_string(c.q_pad) + "/" +
         std::to_string(c.kv_pad) + "/" + std::to_string(c.kr_pad) + "/" +
         std::to_string(c.out_pad) + (c.head_major ? " head-major" : "") +
         " offset=" + std::to_string(c.offset);
}

void RunCase(const Case& c, uint32_t seed) {
  SCOPED_TRACE(Name(c));
  std::mt19937 rng(seed);
  const int64_t qk = c.nope + c.rope, kvw = c.nope + c.vd;
  const int64_t seen = c.q_start + c.tokens, kv_len = seen + c.extra_kv;
  MlaPrefillParams p;
  p.q_head_stride = qk + c.q_pad;
  p.q_token_stride = c.heads * p.q_head_stride + c.q_pad;
  p.kv_head_stride = kvw + c.kv_pad;
  p.kv_token_stride = c.heads * p.kv_head_stride + c.kv_pad;
  p.k_rope_stride = c.rope + c.kr_pad;
  if (c.head_major) {
    p.out_token_stride = c.vd + c.out_pad;
    p.out_head_stride = c.tokens * p.out_token_stride + c.out_pad;
  } else {
    p.out_head_stride = c.vd + c.out_pad;
    p.out_token_stride = c.heads * p.out_head_stride + c.out_pad;
  }
  p.tokens = c.tokens;
  p.q_start = c.q_start;
  p.kv_len = kv_len;
  p.heads = c.heads;
  p.nope_dim = c.nope;
  p.rope_dim = c.rope;
  p.v_dim = c.vd;
  // Scores with a standard deviation of about 1.5: peaked but not one-hot softmax.
  p.softmax_scale = 1.5f / (0.5f * std::sqrt(static_cast<float>(qk)));

  auto q = testing::RandomBf16(c.offset + c.tokens * p.q_token_stride, rng, 0.5f);
  auto kv = testing::RandomBf16(c.offset + kv_len * p.kv_token_stride, rng);
  auto kr = testing::RandomBf16(c.offset + kv_len * std::max<int64_t>(p.k_rope_stride, 1), rng);
  for (int64_t s = seen; s < kv_len; ++s) {  // never read
    std::fill_n(kv.begin() + c.offset + s * p.kv_token_stride, p.kv_token_stride, kNan);
    std::fill_n(kr.begin() + c.offset + s * p.k_rope_stride, p.k_rope_stride, kNan);
  }
  const int64_t out_size =
      c.offset + (c.head_major ? c.heads * p.out_head_stride : c.tokens * p.out_token_stride);
  std::vector<uint16_t> want(out_size, kPoison);
  p.q = q.data() + c.offset;
  p.kv = kv.data() + c.offset;
  p.k_rope = kr.data() + c.offset;
  p.out = want.data() + c.offset;
  ASSERT_TRUE(MlaPrefillReference(p).ok());

  DeviceBuffer<uint16_t> dq(q), dkv(kv), dkr(kr), dout(out_size);
  dout.Fill(0xff);  // kPoison everywhere
  p.q = dq.get() + c.offset;
  p.kv = dkv.get() + c.offset;
  p.k_rope = dkr.get() + c.offset;
  p.out = dout.get() + c.offset;
  const absl::Status st = LaunchMlaPrefill(p, nullptr);
  ASSERT_TRUE(st.ok()) << st;
  const std::vector<uint16_t> got16 = dout.Download();

  std::vector<float> got, ref;
  int64_t padding_changed = 0;
  std::vector<bool> is_out(out_size, false);
  for (int64_t t = 0; t < c.tokens; ++t) {
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t base = c.offset + t * p.out_token_stride + h * p.out_head_stride;
      for (int64_t d = 0; d < c.vd; ++d) {
        is_out[base + d] = true;
        got.push_back(Bf16ToFloat(got16[base + d]));
        ref.push_back(Bf16ToFloat(want[base + d]));
      }
    }
  }
  for (int64_t i = 0; i < out_size; ++i) padding_changed += !is_out[i] && got16[i] != kPoison;
  const auto e = testing::Compare(got, ref);
  std::cout << "mla_prefill " << Name(c) << " " << e.ToString() << "\n";
  EXPECT_EQ(padding_changed, 0);
  EXPECT_FALSE(e.non_finite);
  EXPECT_LT(e.rel_l2, 1e-2);
  // fp32 accumulation, P rounded to bf16 on the tensor-core path, one bf16 rounding at the end:
  // a few bf16 steps of the largest value.
  EXPECT_LT(e.max_abs, 1e-2 * e.max_ref + 1e-3);
}

TEST(MlaPrefillGpuTest, R1Widths) {
  uint32_t seed = 0;
  for (int64_t q_start : {int64_t{0}, int64_t{100}}) {
    for (int64_t tokens : {int64_t{1}, int64_t{37}, int64_t{64}, int64_t{200}}) {
      RunCase({16, 128, 64, 128, tokens, q_start}, ++seed);
    }
  }
  // Padded strides (still multiples of 8), extra poisoned cache, padded and head-major outputs.
  Case c{16, 128, 64, 128, 150, 70};
  c.extra_kv = 50;
  c.q_pad = 16;
  c.kv_pad = 8;
  c.kr_pad = 8;
  c.out_pad = 8;
  RunCase(c, ++seed);
  c.head_major = true;
  c.out_pad = 3;  // odd strides: scalar stores
  RunCase(c, ++seed);
}

TEST(MlaPrefillGpuTest, SmallModelWidths) {
  uint32_t seed = 100;
  for (auto [nope, rope, vd] : {std::tuple<int64_t, int64_t, int64_t>{32, 32, 32},
                                {16, 32, 16},
                                {32, 64, 32},
                                {64, 0, 64}}) {
    RunCase({4, nope, rope, vd, 100, 0}, ++seed);
    Case c{4, nope, rope, vd, 77, 30};
    c.extra_kv = 9;
    c.q_pad = 8;
    c.out_pad = 4;
    RunCase(c, ++seed);
  }
}

TEST(MlaPrefillGpuTest, WidestDims) {
  RunCase({2, 192, 64, 256, 130, 0}, 200);
  RunCase({2, 128, 128, 256, 70, 65}, 201);
  RunCase({3, 96, 32, 48, 65, 1}, 202);
}

TEST(MlaPrefillGpuTest, GenericKernelLayouts) {
  uint32_t seed = 300;
  RunCase({3, 24, 6, 20, 50, 10}, ++seed);   // widths not multiples of 8/16
  RunCase({2, 8, 0, 8, 40, 3}, ++seed);      // no rope, qk 8
  RunCase({2, 250, 6, 256, 20, 5}, ++seed);  // widest, odd split
  Case c{16, 128, 64, 128, 37, 100};         // R1 widths, q stride not a multiple of 8
  c.q_pad = 4;
  RunCase(c, ++seed);
  c.q_pad = 0;
  c.offset = 1;  // pointers 2-byte aligned only
  RunCase(c, ++seed);
}

TEST(MlaPrefillGpuTest, LaunchValidates) {
  DeviceBuffer<uint16_t> buf(4096);
  MlaPrefillParams p;
  p.q = p.kv = p.k_rope = buf.get();
  p.out = buf.get() + 2048;
  p.q_token_stride = p.q_head_stride = 64;
  p.kv_token_stride = p.kv_head_stride = 64;
  p.k_rope_stride = 32;
  p.out_token_stride = p.out_head_stride = 32;
  p.tokens = 1;
  p.q_start = 0;
  p.kv_len = 1;
  p.heads = 1;
  p.nope_dim = 32;
  p.rope_dim = 32;
  p.v_dim = 32;
  p.softmax_scale = 0.0f;
  EXPECT_EQ(LaunchMlaPrefill(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  p.softmax_scale = 0.1f;
  p.kv_len = 0;
  EXPECT_EQ(LaunchMlaPrefill(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  p.kv_len = 1;
  EXPECT_TRUE(LaunchMlaPrefill(p, nullptr).ok());
  p.tokens = 0;  // nothing to do
  p.q = p.kv = p.k_rope = nullptr;
  p.out = nullptr;
  EXPECT_TRUE(LaunchMlaPrefill(p, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace r1::kernels
