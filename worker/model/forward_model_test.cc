#include "worker/model/forward_model.h"

#include <vector>

#include "gtest/gtest.h"

namespace r1 {
namespace {

TEST(CollectBatchTokens, SlotsPositionsAndLengthsInBatchOrder) {
  KvSequence a, b;
  a.blocks = {4, 9};  // 70 positions over two blocks
  b.blocks = {2};
  std::vector<ForwardItem> items = {{&a, {11, 12}, 63}, {&b, {13}, 5}};
  auto got = CollectBatchTokens(items, 10);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->ids, (std::vector<int32_t>{11, 12, 13}));
  EXPECT_EQ(got->positions, (std::vector<int32_t>{63, 64, 5}));
  // Position 63 is the last row of block 4, 64 the first of block 9.
  EXPECT_EQ(got->slots,
            (std::vector<int32_t>{4 * kBlockTokens + 63, 9 * kBlockTokens, 2 * kBlockTokens + 5}));
  EXPECT_EQ(got->seq_lens, (std::vector<int32_t>{64, 65, 6}));
  EXPECT_EQ(got->max_pages, 2);
  EXPECT_EQ(got->max_len, 65);
}

TEST(CollectBatchTokens, BlockOutsideTheCacheNamesTheItem) {
  KvSequence a, b;
  a.blocks = {0};
  b.blocks = {10};
  std::vector<ForwardItem> items = {{&a, {1}, 0}, {&b, {1}, 0}};
  auto got = CollectBatchTokens(items, 10);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("forward item 1: KV block 10"), std::string::npos)
      << got.status();
  b.blocks = {-1};
  EXPECT_FALSE(CollectBatchTokens(items, 10).ok());
  EXPECT_TRUE(CollectBatchTokens({}, 10).ok());
}

}  // namespace
}  // namespace r1
