// GPU test (label gpu): the CUDA row write equals the reference bit for bit — R1's 576-wide rows
// and a small width, padded row strides, shuffled distinct slots, padding (negative) slots, an
// out-of-range slot (skipped on the device), and the launch's argument checks.
#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

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
