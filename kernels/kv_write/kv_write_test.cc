// CPU reference test (runs everywhere): rows land at their slots' page rows, negative slots are
// skipped, other rows stay untouched, out-of-range slots and bad shapes are rejected; the same for
// the FP8 write, whose rows are checked byte by byte against the layout in mla_decode.h.
#include "kernels/kv_write/kv_write.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "kernels/internal/test_data.h"

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

TEST(KvWriteFp8ReferenceTest, QuantisesRowsIntoSlots) {
  std::mt19937 rng(4);
  const int64_t pages = 2, stride = 584, tokens = 4;
  auto rows = testing::RandomBf16(tokens * stride, rng);
  for (int i = 0; i < 128; ++i) rows[3 * stride + 256 + i] = 0;  // token 3, group 2: all zero
  const std::vector<int32_t> slots = {64 + 5, -1, 63, 0};
  std::vector<uint8_t> cache(pages * kKvWritePageTokens * kMlaFp8RowBytes, 0x5a);
  const KvWriteFp8Params p{rows.data(), stride, slots.data(), cache.data(), pages, tokens};
  ASSERT_TRUE(KvWriteFp8Reference(p).ok());
  std::vector<uint8_t> want(cache.size(), 0x5a);
  for (int64_t t : {0, 2, 3}) {
    const uint16_t* row = rows.data() + t * stride;
    uint8_t* dst = want.data() + slots[t] * kMlaFp8RowBytes;
    for (int g = 0; g < 4; ++g) {
      float amax = 0;
      for (int i = 0; i < 128; ++i) amax = std::max(amax, std::fabs(Bf16ToFloat(row[g * 128 + i])));
      const float s = std::max(amax, 1e-4f) / 448.0f;
      for (int i = 0; i < 128; ++i)
        dst[g * 128 + i] = FloatToFp8E4m3(Bf16ToFloat(row[g * 128 + i]) / s);
      std::memcpy(dst + 512 + 4 * g, &s, 4);
    }
    std::memcpy(dst + 528, row + 512, 128);
  }
  EXPECT_EQ(cache, want);
  // The all-zero group: zero codes, the floor's scale.
  float s3;
  std::memcpy(&s3, cache.data() + 512 + 8, 4);
  EXPECT_EQ(s3, 1e-4f / 448.0f);
  EXPECT_EQ(cache[256], 0);
}

TEST(KvWriteFp8ReferenceTest, Validation) {
  std::vector<uint16_t> rows(kMlaCacheDim, 0);
  std::vector<uint8_t> cache(64 * kMlaFp8RowBytes, 0);
  std::vector<int32_t> slots = {64};  // one page: out of range, nothing written
  KvWriteFp8Params p{rows.data(), kMlaCacheDim, slots.data(), cache.data(), 1, 1};
  EXPECT_TRUE(ValidateKvWriteFp8(p).ok());
  EXPECT_EQ(KvWriteFp8Reference(p).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache, std::vector<uint8_t>(64 * kMlaFp8RowBytes, 0));
  auto bad = [&](auto mutate) {
    KvWriteFp8Params q = p;
    mutate(q);
    return !ValidateKvWriteFp8(q).ok() && !KvWriteFp8Reference(q).ok();
  };
  EXPECT_TRUE(bad([](KvWriteFp8Params& q) { q.cache = nullptr; }));
  EXPECT_TRUE(bad([](KvWriteFp8Params& q) { q.rows = nullptr; }));
  EXPECT_TRUE(bad([](KvWriteFp8Params& q) { q.slots = nullptr; }));
  EXPECT_TRUE(bad([](KvWriteFp8Params& q) { q.rows_stride = kMlaCacheDim - 1; }));
  EXPECT_TRUE(bad([](KvWriteFp8Params& q) { q.num_pages = 0; }));
  EXPECT_TRUE(bad([](KvWriteFp8Params& q) { q.tokens = -1; }));
  const KvWriteFp8Params empty{nullptr, kMlaCacheDim, nullptr, cache.data(), 1, 0};
  EXPECT_TRUE(KvWriteFp8Reference(empty).ok());
}

}  // namespace
}  // namespace r1::kernels
