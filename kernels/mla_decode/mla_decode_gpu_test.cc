// GPU test (label gpu): the wgmma MLA decode kernel against the CPU reference — partial pages,
// an exact page, an empty sequence, shuffled page tables, long sequences (online softmax across
// many pages), split-K with the log-sum-exp combine and without workspace (no split), f32 and
// bf16 outputs, separate and concatenated query layouts. The FP8 cache: the same against the CPU
// reference on the same FP8 cache (rows past each sequence poisoned with NaN bytes), and its
// accuracy against the BF16 cache (both on the GPU, the FP8 rows written by LaunchKvWriteFp8).
#include <algorithm>
#include <iostream>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/kv_write/kv_write.h"
#include "kernels/kv_write/kv_write_cuda.h"
#include "kernels/mla_decode/mla_decode.h"
#include "kernels/mla_decode/mla_decode_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

struct Case {
  std::vector<int32_t> lens;
  int64_t heads;
  bool workspace, bf16_out, concat_q;
};

TEST(MlaDecodeGpuTest, MatchesReference) {
  const std::vector<Case> cases = {
      {{1, 64, 200, 0}, 128, true, false, false},
      {{1, 64, 200, 0}, 128, false, true, true},
      {{4096, 1000}, 64, true, false, true},
      {{130, 7, 65, 333, 64, 128, 129, 3000}, 128, true, true, false},
  };
  int id = 0;
  for (const Case& c : cases) {
    std::mt19937 rng(++id);
    const int64_t batch = c.lens.size(), heads = c.heads;
    const int64_t max_len = *std::max_element(c.lens.begin(), c.lens.end());
    const int64_t bt_stride = (max_len + 63) / 64 + 1;
    const int64_t pages = batch * bt_stride + 3;
    std::vector<int32_t> perm(pages);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int32_t> table(batch * bt_stride);
    for (size_t i = 0; i < table.size(); ++i) table[i] = perm[i];
    auto cache = testing::RandomBf16(pages * kMlaPageTokens * kMlaCacheDim, rng);
    const int64_t qs = c.concat_q ? kMlaCacheDim : kMlaLatentDim;
    auto ql = testing::RandomBf16(batch * heads * qs, rng, 0.3f);
    auto qr = testing::RandomBf16(batch * heads * kMlaRopeDim, rng, 0.3f);

    MlaDecodeParams p;
    p.q_latent = ql.data();
    p.q_rope = c.concat_q ? ql.data() + kMlaLatentDim : qr.data();
    p.q_batch_stride = heads * qs;
    p.q_head_stride = qs;
    if (!c.concat_q) {  // separate rope tensor: [B][H][64] — same strides must address it
      qr = testing::RandomBf16(batch * heads * qs, rng, 0.3f);
      p.q_rope = qr.data();
    }
    p.kv_cache = cache.data();
    p.num_pages = pages;
    p.block_table = table.data();
    p.block_table_stride = bt_stride;
    p.seq_lens = c.lens.data();
    std::vector<float> want(batch * heads * kMlaLatentDim);
    p.out = want.data();
    p.batch = batch;
    p.heads = heads;
    p.softmax_scale = 0.13523378f;
    p.max_seq_len = max_len;
    ASSERT_TRUE(MlaDecodeReference(p).ok());

    DeviceBuffer<uint16_t> dql(ql), dqr(qr), dcache(cache), dout16(want.size());
    DeviceBuffer<int32_t> dtable(table), dlens(c.lens);
    DeviceBuffer<float> dout(want.size());
    const auto cfg = ChooseMlaDecodeConfig(batch, heads, max_len, 132);
    DeviceBuffer<uint8_t> work(std::max<size_t>(cfg.workspace_bytes, 16));
    p.q_latent = dql.get();
    p.q_rope = c.concat_q ? dql.get() + kMlaLatentDim : dqr.get();
    p.kv_cache = dcache.get();
    p.block_table = dtable.get();
    p.seq_lens = dlens.get();
    p.out = c.bf16_out ? nullptr : dout.get();
    p.out_bf16 = c.bf16_out ? dout16.get() : nullptr;
    p.workspace = c.workspace ? work.get() : nullptr;
    p.workspace_bytes = c.workspace ? work.size() : 0;
    dout.Fill(0xff);
    dout16.Fill(0xff);
    const absl::Status st = LaunchMlaDecode(p, nullptr);
    ASSERT_TRUE(st.ok()) << st;
    std::vector<float> got;
    if (c.bf16_out) {
      got = testing::Bf16ToFloatVec(dout16.Download());
    } else {
      got = dout.Download();
    }
    const auto e = testing::Compare(got, want);
    std::cout << "mla_decode case " << id << " splits=" << (c.workspace ? cfg.splits : 1) << " "
              << e.ToString() << "\n";
    EXPECT_FALSE(e.non_finite) << "case " << id;
    EXPECT_LT(e.rel_l2, 1e-2) << "case " << id;
    EXPECT_LT(e.max_abs, 3e-2 * e.max_ref + 1e-3) << "case " << id;
  }
}

// Same bounds as the CPU accuracy test (mla_decode_test.cc: measured rel-L2 0.027 there).
constexpr double kFp8RelL2Bound = 0.06;
constexpr double kFp8MaxAbsBound = 0.1;  // times max|BF16-cache output|

// One decode problem with a concatenated [B][H][576] query, shuffled pages, a random BF16 cache
// and its FP8 quantisation: rows inside a sequence are quantised (KvWriteFp8Reference), every
// other row of the FP8 cache is 0xff bytes (NaN codes and NaN scales) so that a kernel reading
// past a sequence's end shows up as NaN.
struct Problem {
  std::vector<int32_t> lens, table;
  int64_t heads = 0, bt = 0, pages = 0, max_len = 0;
  std::vector<uint16_t> q, cache;
  std::vector<uint8_t> cache_fp8;
};

Problem MakeProblem(std::vector<int32_t> lens, int64_t heads, unsigned seed) {
  std::mt19937 rng(seed);
  Problem pr;
  pr.lens = std::move(lens);
  pr.heads = heads;
  const int64_t batch = pr.lens.size();
  pr.max_len = *std::max_element(pr.lens.begin(), pr.lens.end());
  pr.bt = (pr.max_len + 63) / 64 + 1;
  pr.pages = batch * pr.bt + 3;
  std::vector<int32_t> perm(pr.pages);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  pr.table.assign(perm.begin(), perm.begin() + batch * pr.bt);
  pr.cache = testing::RandomBf16(pr.pages * kMlaPageTokens * kMlaCacheDim, rng);
  pr.q = testing::RandomBf16(batch * heads * kMlaCacheDim, rng, 0.3f);
  const int64_t rows = pr.pages * kMlaPageTokens;
  std::vector<int32_t> slots(rows, -1);  // row r of the BF16 cache → FP8 slot r where in use
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t s = 0; s < pr.lens[b]; ++s) {
      const int32_t slot = pr.table[b * pr.bt + s / 64] * 64 + static_cast<int32_t>(s % 64);
      slots[slot] = slot;
    }
  }
  pr.cache_fp8.assign(rows * kMlaFp8RowBytes, 0xff);
  const KvWriteFp8Params w{pr.cache.data(),     kMlaCacheDim, slots.data(),
                           pr.cache_fp8.data(), pr.pages,     rows};
  EXPECT_TRUE(KvWriteFp8Reference(w).ok());
  return pr;
}

MlaDecodeParams ProblemParams(const Problem& pr, MlaKvDtype dtype) {
  MlaDecodeParams p;
  p.q_latent = pr.q.data();
  p.q_rope = pr.q.data() + kMlaLatentDim;
  p.q_batch_stride = pr.heads * kMlaCacheDim;
  p.q_head_stride = kMlaCacheDim;
  p.kv_dtype = dtype;
  if (dtype == MlaKvDtype::kFp8) {
    p.kv_cache_fp8 = pr.cache_fp8.data();
  } else {
    p.kv_cache = pr.cache.data();
  }
  p.num_pages = pr.pages;
  p.block_table = pr.table.data();
  p.block_table_stride = pr.bt;
  p.seq_lens = pr.lens.data();
  p.batch = static_cast<int64_t>(pr.lens.size());
  p.heads = pr.heads;
  p.softmax_scale = 0.13523378f;
  p.max_seq_len = pr.max_len;
  return p;
}

// Runs LaunchMlaDecode on the device copy of `pr` (cache of `dtype`; `fp8_cache`, when given, is
// used as the device FP8 cache instead of uploading pr.cache_fp8) and returns the output as f32.
std::vector<float> RunOnDevice(const Problem& pr, MlaKvDtype dtype, bool bf16_out, bool workspace,
                               const DeviceBuffer<uint8_t>* fp8_cache = nullptr) {
  MlaDecodeParams p = ProblemParams(pr, dtype);
  const size_t n = pr.lens.size() * pr.heads * kMlaLatentDim;
  DeviceBuffer<uint16_t> dq(pr.q), dout16(n);
  // The cache not in use gets a small placeholder allocation.
  DeviceBuffer<uint16_t> dcache(dtype == MlaKvDtype::kBf16 ? pr.cache : std::vector<uint16_t>(8));
  DeviceBuffer<uint8_t> dcache8(
      dtype == MlaKvDtype::kFp8 && fp8_cache == nullptr ? pr.cache_fp8 : std::vector<uint8_t>(16));
  DeviceBuffer<int32_t> dtable(pr.table), dlens(pr.lens);
  DeviceBuffer<float> dout(n);
  const auto cfg = ChooseMlaDecodeConfig(p.batch, p.heads, pr.max_len, 132);
  DeviceBuffer<uint8_t> work(std::max<size_t>(cfg.workspace_bytes, 16));
  p.q_latent = dq.get();
  p.q_rope = dq.get() + kMlaLatentDim;
  if (dtype == MlaKvDtype::kFp8) {
    p.kv_cache_fp8 = fp8_cache != nullptr ? fp8_cache->get() : dcache8.get();
  } else {
    p.kv_cache = dcache.get();
  }
  p.block_table = dtable.get();
  p.seq_lens = dlens.get();
  p.out = bf16_out ? nullptr : dout.get();
  p.out_bf16 = bf16_out ? dout16.get() : nullptr;
  p.workspace = workspace ? work.get() : nullptr;
  p.workspace_bytes = workspace ? work.size() : 0;
  dout.Fill(0xff);
  dout16.Fill(0xff);
  const absl::Status st = LaunchMlaDecode(p, nullptr);
  EXPECT_TRUE(st.ok()) << st;
  return bf16_out ? testing::Bf16ToFloatVec(dout16.Download()) : dout.Download();
}

TEST(MlaDecodeGpuTest, Fp8CacheMatchesReference) {
  struct Fp8Case {
    std::vector<int32_t> lens;
    int64_t heads;
    bool workspace, bf16_out;
  };
  const std::vector<Fp8Case> cases = {
      {{1, 64, 200, 0}, 128, true, false},
      {{1, 64, 200, 0}, 128, false, true},
      {{4096, 1000}, 64, true, true},
      {{130, 7, 65, 333, 64, 128, 129, 3000}, 128, true, false},
      {{16384}, 128, true, false},
  };
  int id = 0;
  for (const Fp8Case& c : cases) {
    const Problem pr = MakeProblem(c.lens, c.heads, 50 + ++id);
    std::vector<float> want(c.lens.size() * c.heads * kMlaLatentDim);
    MlaDecodeParams p = ProblemParams(pr, MlaKvDtype::kFp8);
    p.out = want.data();
    ASSERT_TRUE(MlaDecodeReference(p).ok());
    const std::vector<float> got = RunOnDevice(pr, MlaKvDtype::kFp8, c.bf16_out, c.workspace);
    const auto e = testing::Compare(got, want);
    std::cout << "mla_decode fp8 cache case " << id << " " << e.ToString() << "\n";
    EXPECT_FALSE(e.non_finite) << "case " << id;
    EXPECT_LT(e.rel_l2, 1e-2) << "case " << id;
    EXPECT_LT(e.max_abs, 3e-2 * e.max_ref + 1e-3) << "case " << id;
  }
}

// End to end on the device: BF16 rows → LaunchKvWriteFp8 → decode on the FP8 cache, against the
// decode on the BF16 cache of the same rows; R1's 128 heads, bench-like lengths, both outputs.
TEST(MlaDecodeGpuTest, Fp8CacheAccuracyAgainstBf16Cache) {
  struct AccCase {
    std::vector<int32_t> lens;
    bool bf16_out;
  };
  const std::vector<AccCase> cases = {
      {std::vector<int32_t>(8, 4096), true},
      {{1024, 77, 16384, 2000}, false},
  };
  int id = 0;
  for (const AccCase& c : cases) {
    const Problem pr = MakeProblem(c.lens, 128, 70 + ++id);
    const int64_t rows = pr.pages * kMlaPageTokens;
    std::vector<int32_t> slots(rows);
    std::iota(slots.begin(), slots.end(), 0);
    DeviceBuffer<uint16_t> drows(pr.cache);
    DeviceBuffer<int32_t> dslots(slots);
    DeviceBuffer<uint8_t> dfp8(rows * kMlaFp8RowBytes);
    const KvWriteFp8Params w{drows.get(), kMlaCacheDim, dslots.get(), dfp8.get(), pr.pages, rows};
    ASSERT_TRUE(LaunchKvWriteFp8(w, nullptr).ok());
    const std::vector<float> fp8 = RunOnDevice(pr, MlaKvDtype::kFp8, c.bf16_out, true, &dfp8);
    const std::vector<float> bf16 = RunOnDevice(pr, MlaKvDtype::kBf16, c.bf16_out, true);
    const auto e = testing::Compare(fp8, bf16);
    std::cout << "mla_decode fp8 vs bf16 cache, case " << id << ": " << e.ToString()
              << " (bounds rel_l2 < " << kFp8RelL2Bound << ", max_abs < " << kFp8MaxAbsBound
              << "·max|ref|)\n";
    EXPECT_FALSE(e.non_finite) << "case " << id;
    EXPECT_GT(e.rel_l2, 1e-3) << "case " << id;  // the FP8 cache was really read
    EXPECT_LT(e.rel_l2, kFp8RelL2Bound) << "case " << id;
    EXPECT_LT(e.max_abs, kFp8MaxAbsBound * e.max_ref) << "case " << id;
  }
}

}  // namespace
}  // namespace r1::kernels
