// GPU test (label gpu): FlashInfer's MLA decode (mla_decode_flashinfer.h) on our paged latent
// cache against the CPU reference — batch 1, 7 and 64 at contexts 1, 63, 64, 65, 1000 and 4096
// (all entries equal), mixed lengths in one batch, an empty sequence, 64 and 16 heads, separate
// and concatenated query layouts, entries whose block-table rows list the same pages (MTP
// verification), and one object planned again for new lengths (the staging buffer is reused). bf16
// output (the only one FlashInfer writes), same tolerances as kernels_mla_decode_gpu_test.
//
// For batch 64 the reference checks 8 spread entries (the CPU reference costs ~0.3 s per entry
// at 4096 tokens × 128 heads); the GPU always runs the whole batch, so FlashInfer's scheduling
// (splits, merges) is the full one.
#include <algorithm>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/mla_decode/mla_decode.h"
#include "kernels/mla_decode/mla_decode_flashinfer.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

constexpr float kScale = 0.13523378f;  // R1's softmax scale (spec §6.2)

struct Case {
  std::string name;
  std::vector<int32_t> lens;
  int64_t heads = 128;
  bool concat_q = true;     // q_rope = q_latent + 512 in one [B][H][576] tensor
  bool share_rows = false;  // every row lists row 0's pages (MTP verification)
};

// The entries the CPU reference checks: all for small batches, 8 spread ones otherwise.
std::vector<int64_t> CheckedEntries(int64_t batch) {
  std::vector<int64_t> e;
  if (batch <= 8) {
    for (int64_t b = 0; b < batch; ++b) e.push_back(b);
  } else {
    for (int64_t b : {int64_t{0}, int64_t{1}, batch / 4, batch / 2 - 1, batch / 2, 3 * batch / 4,
                      batch - 2, batch - 1}) {
      e.push_back(b);
    }
  }
  return e;
}

// One case end to end; `fi` may have served earlier cases (plans are replaced).
void RunCase(const Case& c, FlashInferMlaDecode& fi, std::mt19937& rng) {
  const int64_t batch = c.lens.size(), heads = c.heads;
  const int64_t max_len = *std::max_element(c.lens.begin(), c.lens.end());
  const int64_t bt_stride = (max_len + 63) / 64 + 1;
  const int64_t rows = c.share_rows ? 1 : batch;
  const int64_t pages = rows * bt_stride + 3;
  std::vector<int32_t> perm(pages);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> table(batch * bt_stride);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < bt_stride; ++i) {
      table[b * bt_stride + i] = perm[(c.share_rows ? 0 : b) * bt_stride + i];
    }
  }
  const auto cache = testing::RandomBf16(pages * kMlaPageTokens * kMlaCacheDim, rng);
  const int64_t qs = c.concat_q ? kMlaCacheDim : kMlaLatentDim;
  const auto ql = testing::RandomBf16(batch * heads * qs, rng, 0.3f);
  // Separate rope tensor, addressed with the latent's strides (MlaDecodeParams has one pair).
  const auto qr = testing::RandomBf16(c.concat_q ? 0 : batch * heads * qs, rng, 0.3f);

  MlaDecodeParams p;
  p.q_latent = ql.data();
  p.q_rope = c.concat_q ? ql.data() + kMlaLatentDim : qr.data();
  p.q_batch_stride = heads * qs;
  p.q_head_stride = qs;
  p.kv_cache = cache.data();
  p.num_pages = pages;
  p.block_table = table.data();
  p.block_table_stride = bt_stride;
  p.seq_lens = c.lens.data();
  p.batch = batch;
  p.heads = heads;
  p.softmax_scale = kScale;
  p.max_seq_len = max_len;

  const std::vector<int64_t> entries = CheckedEntries(batch);
  std::vector<float> want(entries.size() * heads * kMlaLatentDim);
  for (size_t i = 0; i < entries.size(); ++i) {  // reference of entry b alone, as a batch of 1
    const int64_t b = entries[i];
    MlaDecodeParams one = p;
    one.q_latent = p.q_latent + b * p.q_batch_stride;
    one.q_rope = p.q_rope + b * p.q_batch_stride;
    one.block_table = p.block_table + b * bt_stride;
    one.seq_lens = p.seq_lens + b;
    one.batch = 1;
    one.out = want.data() + i * heads * kMlaLatentDim;
    ASSERT_TRUE(MlaDecodeReference(one).ok()) << c.name;
  }

  DeviceBuffer<uint16_t> dql(ql), dcache(cache), dout(batch * heads * kMlaLatentDim);
  DeviceBuffer<uint16_t> dqr(qr.empty() ? std::vector<uint16_t>(8) : qr);
  DeviceBuffer<int32_t> dtable(table), dlens(c.lens);
  p.q_latent = dql.get();
  p.q_rope = c.concat_q ? dql.get() + kMlaLatentDim : dqr.get();
  p.kv_cache = dcache.get();
  p.block_table = dtable.get();
  p.seq_lens = dlens.get();
  p.out_bf16 = dout.get();
  dout.Fill(0xff);  // NaN everywhere: unwritten outputs fail the check

  absl::Status st = fi.Plan(c.lens.data(), batch, heads, bt_stride, nullptr);
  ASSERT_TRUE(st.ok()) << c.name << ": " << st;
  // Two runs on one plan must both be right (the plan is not consumed by a run).
  for (int run = 0; run < 2; ++run) {
    st = fi.Run(p, nullptr);
    ASSERT_TRUE(st.ok()) << c.name << ": " << st;
    const std::vector<uint16_t> all = dout.Download();
    std::vector<float> got(want.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      for (int64_t j = 0; j < heads * kMlaLatentDim; ++j) {
        got[i * heads * kMlaLatentDim + j] =
            Bf16ToFloat(all[entries[i] * heads * kMlaLatentDim + j]);
      }
    }
    const auto e = testing::Compare(got, want);
    if (run == 0) std::cout << "mla_decode_flashinfer " << c.name << " " << e.ToString() << "\n";
    EXPECT_FALSE(e.non_finite) << c.name << " run " << run;
    EXPECT_LT(e.rel_l2, 1e-2) << c.name << " run " << run;
    EXPECT_LT(e.max_abs, 3e-2 * e.max_ref + 1e-3) << c.name << " run " << run;
  }
}

TEST(MlaDecodeFlashInferGpuTest, MatchesReference) {
  auto fi_or = FlashInferMlaDecode::Create();
  ASSERT_TRUE(fi_or.ok()) << fi_or.status();
  FlashInferMlaDecode& fi = **fi_or;
  std::cout << "FlashInfer workspaces: " << fi.device_bytes() / 1e6 << " MB\n";

  std::vector<Case> cases;
  for (int64_t batch : {1, 7, 64}) {
    for (int32_t ctx : {1, 63, 64, 65, 1000, 4096}) {
      cases.push_back({"batch=" + std::to_string(batch) + " ctx=" + std::to_string(ctx),
                       std::vector<int32_t>(batch, ctx)});
    }
  }
  cases.push_back({"mixed 7", {1, 63, 64, 65, 1000, 4096, 129}});
  {
    std::mt19937 lr(99);
    std::vector<int32_t> lens(64);
    for (auto& l : lens) l = 1 + static_cast<int32_t>(lr() % 4096);
    lens[3] = 64, lens[10] = 4096, lens[20] = 1, lens[40] = 65;
    cases.push_back({"mixed 64", lens});
  }
  cases.push_back({"empty sequence", {0, 65, 0, 1}});
  cases.push_back({"64 heads, separate q_rope", {1, 200, 4096}, 64, false});
  cases.push_back({"16 heads", {1, 63, 1000, 4096, 65}, 16});
  cases.push_back({"shared row (MTP)", {1000, 1001, 1002, 1003}, 128, true, true});

  std::mt19937 rng(7);
  for (const Case& c : cases) {
    RunCase(c, fi, rng);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(MlaDecodeFlashInferGpuTest, RefusesWhatItCannotRun) {
  auto fi_or = FlashInferMlaDecode::Create();
  ASSERT_TRUE(fi_or.ok()) << fi_or.status();
  FlashInferMlaDecode& fi = **fi_or;
  const std::vector<int32_t> lens = {10, 20};
  DeviceBuffer<uint16_t> q(2 * 128 * kMlaCacheDim), cache(4 * 64 * kMlaCacheDim),
      out16(2 * 128 * kMlaLatentDim);
  DeviceBuffer<int32_t> table(std::vector<int32_t>{0, 1, 2, 3}), dlens(lens);
  DeviceBuffer<float> out(2 * 128 * kMlaLatentDim);
  MlaDecodeParams p;
  p.q_latent = q.get();
  p.q_rope = q.get() + kMlaLatentDim;
  p.q_batch_stride = 128 * kMlaCacheDim;
  p.q_head_stride = kMlaCacheDim;
  p.kv_cache = cache.get();
  p.num_pages = 4;
  p.block_table = table.get();
  p.block_table_stride = 2;
  p.seq_lens = dlens.get();
  p.out_bf16 = out16.get();
  p.batch = 2;
  p.heads = 128;
  p.softmax_scale = kScale;
  EXPECT_FALSE(fi.Run(p, nullptr).ok());  // no plan yet
  const std::vector<int32_t> too_long = {10, 129};
  EXPECT_FALSE(fi.Plan(too_long.data(), 2, 128, 2, nullptr).ok());  // > 2 pages
  ASSERT_TRUE(fi.Plan(lens.data(), 2, 128, 2, nullptr).ok());
  MlaDecodeParams f32 = p;
  f32.out_bf16 = nullptr;
  f32.out = out.get();
  EXPECT_FALSE(fi.Run(f32, nullptr).ok());  // f32 output
  DeviceBuffer<uint8_t> cache8(4 * 64 * kMlaFp8RowBytes);
  MlaDecodeParams fp8 = p;
  fp8.kv_dtype = MlaKvDtype::kFp8;
  fp8.kv_cache = nullptr;
  fp8.kv_cache_fp8 = cache8.get();
  EXPECT_EQ(fi.Run(fp8, nullptr).code(), absl::StatusCode::kInvalidArgument);  // FP8 cache
  MlaDecodeParams other = p;
  other.heads = 64;
  EXPECT_FALSE(fi.Run(other, nullptr).ok());  // differs from the plan
  EXPECT_TRUE(fi.Run(p, nullptr).ok());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace r1::kernels
