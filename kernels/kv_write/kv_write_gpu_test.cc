// GPU test (label gpu): the CUDA row write equals the reference bit for bit — R1's 576-wide rows
// and a small width, padded row strides, shuffled distinct slots, padding (negative) slots, an
// out-of-range slot (skipped on the device), and the launch's argument checks; the FP8 write
// likewise (e4m3 codes, scales and k_rope bytes identical to KvWriteFp8Reference's).
#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"
#include "kernels/kv_write/kv_write.h"
#include "kernels/kv_write/kv_write_cuda.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(KvWriteGpuTest, MatchesReference) {
  struct Case {
    int64_t row_dim, rows_stride, tokens, pages;
  };
  const std::vector<Case> cases = {{576, 576, 300, 8}, {576, 584, 1, 2}, {40, 48, 129, 3}};
  int id = 0;
  for (const Case& c : cases) {
    std::mt19937 rng(++id);
    const int64_t num_slots = c.pages * kKvWritePageTokens;
    std::vector<int32_t> perm(num_slots);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    // Device slots: distinct, every 7th token padding, one out of range (skipped on the device).
    std::vector<int32_t> slots(perm.begin(), perm.begin() + c.tokens);
    for (int64_t i = 3; i < c.tokens; i += 7) slots[i] = -1 - static_cast<int32_t>(i % 3);
    if (c.tokens > 2) slots[c.tokens - 2] = static_cast<int32_t>(num_slots + 5);
    // The reference rejects an out-of-range slot, so it sees that token as padding.
    std::vector<int32_t> ref_slots = slots;
    for (auto& s : ref_slots) s = s >= num_slots ? -1 : s;
    auto rows = testing::RandomBf16(c.tokens * c.rows_stride, rng);
    auto cache = testing::RandomBf16(num_slots * c.row_dim, rng);

    std::vector<uint16_t> want = cache;
    KvWriteParams p{rows.data(), c.rows_stride, ref_slots.data(), want.data(),
                    c.pages,     c.row_dim,     c.tokens};
    ASSERT_TRUE(KvWriteReference(p).ok());

    DeviceBuffer<uint16_t> drows(rows), dcache(cache);
    DeviceBuffer<int32_t> dslots(slots);
    p.rows = drows.get();
    p.slots = dslots.get();
    p.cache = dcache.get();
    const absl::Status st = LaunchKvWrite(p, nullptr);
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(dcache.Download(), want) << "case " << id;
  }
}

TEST(KvWriteGpuTest, RejectsUnalignedShapes) {
  DeviceBuffer<uint16_t> rows(64), cache(64 * 64);
  DeviceBuffer<int32_t> slots(std::vector<int32_t>{0});
  KvWriteParams p{rows.get(), 12, slots.get(), cache.get(), 1, 12, 1};  // row_dim % 8 != 0
  EXPECT_EQ(LaunchKvWrite(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  p.row_dim = 8;  // rows_stride 12 is not a multiple of 8
  EXPECT_EQ(LaunchKvWrite(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  p.rows_stride = 8;
  p.rows = rows.get() + 1;  // 2-byte aligned
  EXPECT_EQ(LaunchKvWrite(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  p.rows = rows.get();
  EXPECT_TRUE(LaunchKvWrite(p, nullptr).ok());
  p.tokens = 0;  // nothing to do
  EXPECT_TRUE(LaunchKvWrite(p, nullptr).ok());
}

TEST(KvWriteGpuTest, Fp8MatchesReference) {
  struct Case {
    int64_t rows_stride, tokens, pages;
  };
  const std::vector<Case> cases = {{576, 300, 8}, {584, 1, 2}, {640, 129, 3}};
  int id = 0;
  for (const Case& c : cases) {
    std::mt19937 rng(100 + ++id);
    const int64_t num_slots = c.pages * kKvWritePageTokens;
    std::vector<int32_t> perm(num_slots);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int32_t> slots(perm.begin(), perm.begin() + c.tokens);
    for (int64_t i = 3; i < c.tokens; i += 7) slots[i] = -1 - static_cast<int32_t>(i % 3);
    if (c.tokens > 2) slots[c.tokens - 2] = static_cast<int32_t>(num_slots + 5);
    std::vector<int32_t> ref_slots = slots;
    for (auto& s : ref_slots) s = s >= num_slots ? -1 : s;
    auto rows = testing::RandomBf16(c.tokens * c.rows_stride, rng);
    // Edge groups: all zero (the amax floor), tiny values (subnormal codes), large values, and
    // values exactly at a rounding midpoint after scaling (amax 448 gives scale 1).
    for (int64_t i = 0; i < c.tokens; ++i) {
      uint16_t* r = rows.data() + i * c.rows_stride;
      const int64_t kind = i % 5;
      for (int j = 0; j < 128; ++j) {
        if (kind == 1) r[j] = 0;
        if (kind == 2) r[128 + j] = FloatToBf16(Bf16ToFloat(r[128 + j]) * 1e-6f);
        if (kind == 3) r[256 + j] = FloatToBf16(Bf16ToFloat(r[256 + j]) * 3e4f);
        if (kind == 4) r[384 + j] = FloatToBf16(j == 0 ? 448.0f : 17.0f + j % 3);  // 17 ties
      }
    }
    std::vector<uint8_t> cache(num_slots * kMlaFp8RowBytes);
    for (auto& b : cache) b = static_cast<uint8_t>(rng());
    std::vector<uint8_t> want = cache;
    KvWriteFp8Params p{rows.data(), c.rows_stride, ref_slots.data(),
                       want.data(), c.pages,       c.tokens};
    ASSERT_TRUE(KvWriteFp8Reference(p).ok());

    DeviceBuffer<uint16_t> drows(rows);
    DeviceBuffer<uint8_t> dcache(cache);
    DeviceBuffer<int32_t> dslots(slots);
    p.rows = drows.get();
    p.slots = dslots.get();
    p.cache = dcache.get();
    const absl::Status st = LaunchKvWriteFp8(p, nullptr);
    ASSERT_TRUE(st.ok()) << st;
    const std::vector<uint8_t> got = dcache.Download();
    ASSERT_EQ(got.size(), want.size());
    int64_t mismatches = 0, first = -1;
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] != want[i] && mismatches++ == 0) first = static_cast<int64_t>(i);
    }
    EXPECT_EQ(mismatches, 0) << "case " << id << ": first at slot " << first / kMlaFp8RowBytes
                             << " byte " << first % kMlaFp8RowBytes;
  }
  // Argument checks.
  DeviceBuffer<uint16_t> rows(2 * 584);
  DeviceBuffer<uint8_t> cache(64 * kMlaFp8RowBytes);
  DeviceBuffer<int32_t> slots(std::vector<int32_t>{0, 1});
  KvWriteFp8Params p{rows.get(), 580, slots.get(), cache.get(), 1, 2};  // stride % 8 != 0
  EXPECT_EQ(LaunchKvWriteFp8(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  p.rows_stride = 584;
  p.cache = cache.get() + 8;  // 8-byte aligned
  EXPECT_EQ(LaunchKvWriteFp8(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  p.cache = cache.get();
  EXPECT_TRUE(LaunchKvWriteFp8(p, nullptr).ok());
}

TEST(KvWriteGpuTest, GatherMatchesReference) {
  std::mt19937 rng(7);
  const int64_t pages = 5, row_dim = 576, stride = 584, tokens = 200;
  const int64_t num_slots = pages * kKvWritePageTokens;
  auto cache = testing::RandomBf16(num_slots * row_dim, rng);
  std::vector<int32_t> slots(tokens);
  for (auto& s : slots) s = static_cast<int32_t>(rng() % num_slots);
  slots[5] = -1;
  auto rows = testing::RandomBf16(tokens * stride, rng);
  std::vector<uint16_t> want = rows;
  KvGatherParams p{cache.data(), pages, row_dim, slots.data(), want.data(), stride, tokens};
  ASSERT_TRUE(KvGatherReference(p).ok());
  DeviceBuffer<uint16_t> dcache(cache), drows(rows);
  DeviceBuffer<int32_t> dslots(slots);
  p.cache = dcache.get();
  p.slots = dslots.get();
  p.rows = drows.get();
  ASSERT_TRUE(LaunchKvGather(p, nullptr).ok());
  EXPECT_EQ(drows.Download(), want);
}

}  // namespace
}  // namespace r1::kernels
