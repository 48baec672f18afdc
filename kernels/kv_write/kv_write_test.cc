// CPU reference test (runs everywhere): rows land at their slots' page rows, negative slots are
// skipped, other rows stay untouched, out-of-range slots and bad shapes are rejected.
#include "kernels/kv_write/kv_write.h"

#include <vector>

#include <gtest/gtest.h>

namespace r1::kernels {
namespace {

TEST(KvWriteReferenceTest, ScattersRowsBySlot) {
  const int64_t pages = 3, row_dim = 4, stride = 5, tokens = 4;
  std::vector<uint16_t> cache(pages * kKvWritePageTokens * row_dim, 7);
  std::vector<uint16_t> rows(tokens * stride);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<uint16_t>(100 + i);
  // Token 0 → page 2 row 1, token 1 skipped, token 2 → page 0 row 63, token 3 → page 1 row 0.
  const std::vector<int32_t> slots = {2 * 64 + 1, -1, 63, 64};
  KvWriteParams p{rows.data(), stride, slots.data(), cache.data(), pages, row_dim, tokens};
  ASSERT_TRUE(KvWriteReference(p).ok());
  std::vector<uint16_t> want(cache.size(), 7);
  for (int64_t t : {0, 2, 3}) {
    for (int64_t j = 0; j < row_dim; ++j) want[slots[t] * row_dim + j] = rows[t * stride + j];
  }
  EXPECT_EQ(cache, want);
}

TEST(KvWriteReferenceTest, Validation) {
  std::vector<uint16_t> cache(64 * 8, 0), rows(8, 1);
  std::vector<int32_t> slots = {64};  // one page: slot 64 is out of range
  KvWriteParams p{rows.data(), 8, slots.data(), cache.data(), 1, 8, 1};
  EXPECT_TRUE(ValidateKvWrite(p).ok());
  EXPECT_EQ(KvWriteReference(p).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache, std::vector<uint16_t>(64 * 8, 0));
  slots = {63};
  p.slots = slots.data();
  EXPECT_TRUE(KvWriteReference(p).ok());

  auto bad = [&](auto mutate) {
    KvWriteParams q = p;
    mutate(q);
    return !ValidateKvWrite(q).ok() && !KvWriteReference(q).ok();
  };
  EXPECT_TRUE(bad([](KvWriteParams& q) { q.cache = nullptr; }));
  EXPECT_TRUE(bad([](KvWriteParams& q) { q.rows = nullptr; }));
  EXPECT_TRUE(bad([](KvWriteParams& q) { q.slots = nullptr; }));
  EXPECT_TRUE(bad([](KvWriteParams& q) { q.rows_stride = 7; }));
  EXPECT_TRUE(bad([](KvWriteParams& q) { q.row_dim = 0; }));
  EXPECT_TRUE(bad([](KvWriteParams& q) { q.num_pages = 0; }));
  EXPECT_TRUE(bad([](KvWriteParams& q) { q.tokens = -1; }));
  // No tokens: rows and slots may be null.
  KvWriteParams empty{nullptr, 8, nullptr, cache.data(), 1, 8, 0};
  EXPECT_TRUE(KvWriteReference(empty).ok());
}

TEST(KvGatherReferenceTest, GatherIsTheInverseOfWrite) {
  const int64_t pages = 3, row_dim = 4, stride = 6, tokens = 4;
  std::vector<uint16_t> cache(pages * kKvWritePageTokens * row_dim);
  for (size_t i = 0; i < cache.size(); ++i) cache[i] = static_cast<uint16_t>(i);
  const std::vector<int32_t> slots = {2 * 64 + 1, -1, 63, 64};
  std::vector<uint16_t> rows(tokens * stride, 9);
  KvGatherParams p{cache.data(), pages, row_dim, slots.data(), rows.data(), stride, tokens};
  ASSERT_TRUE(KvGatherReference(p).ok());
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t j = 0; j < stride; ++j) {
      const uint16_t want =
          (slots[t] < 0 || j >= row_dim) ? 9 : static_cast<uint16_t>(slots[t] * row_dim + j);
      EXPECT_EQ(rows[t * stride + j], want) << t << " " << j;
    }
  }
  std::vector<int32_t> bad_slots = {pages * 64};
  p.slots = bad_slots.data();
  p.tokens = 1;
  EXPECT_EQ(KvGatherReference(p).code(), absl::StatusCode::kInvalidArgument);
  p.rows_stride = row_dim - 1;
  EXPECT_FALSE(ValidateKvGather(p).ok());
}

}  // namespace
}  // namespace r1::kernels
