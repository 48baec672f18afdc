#include "worker/model/forward_model.h"

#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace r1 {
namespace {

TEST(LogitRows, LastTokenOrEveryTokenOfAllLogitsItems) {
  KvSequence kv;
  ForwardItem a{&kv, {1, 2, 3}, 0}, b{&kv, {4, 5}, 0, /*all_logits=*/true}, c{&kv, {6}, 0};
  const std::vector<ForwardItem> items = {a, b, c};
  EXPECT_EQ(LogitRowCount(a), 1);
  EXPECT_EQ(LogitRowCount(b), 2);
  EXPECT_EQ(LogitRows(items), (std::vector<int32_t>{2, 3, 4, 5}));
  // Four rows of vocab 2, split back to their items.
  std::vector<std::vector<float>> logits;
  SplitLogitRows(items, {0, 1, 2, 3, 4, 5, 6, 7}, 2, &logits);
  EXPECT_EQ(logits, (std::vector<std::vector<float>>{{0, 1}, {2, 3, 4, 5}, {6, 7}}));
}

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

// An MTP module whose logits are given rows (one per item, whatever the items hold).
class FixedMtp : public ForwardModel {
 public:
  explicit FixedMtp(std::vector<std::vector<float>> rows) : rows_(std::move(rows)) {
    config_.vocab_size = 4;
  }
  const ModelConfig& config() const override { return config_; }
  int row_size() const override { return 1; }
  absl::Status Forward(std::vector<ForwardItem>&, PagedKvCache&,
                       std::vector<std::vector<float>>*) override {
    return absl::UnimplementedError("not used");
  }
  int mtp_layers() const override { return 1; }
  absl::Status MtpForward(const std::vector<MtpItem>& items, PagedKvCache&,
                          std::vector<std::vector<float>>* logits,
                          std::vector<std::vector<float>>* hidden) override {
    logits->assign(rows_.begin(), rows_.begin() + items.size());
    hidden->assign(items.size(), {0.5f});
    return absl::OkStatus();
  }

 private:
  ModelConfig config_;
  std::vector<std::vector<float>> rows_;
};

TEST(MtpDraft, DefaultTakesTheLowestIdOfTheLargestLogitWithinValidVocab) {
  FixedMtp m({{1, 3, 3, 9}, {2, 0, 2, 0}});
  PagedKvCache cache(1, 4, 1, /*bf16_values=*/false);
  std::vector<MtpItem> items(2);
  std::vector<int> drafts;
  std::vector<std::vector<float>> hidden;
  ASSERT_TRUE(m.MtpDraft(items, cache, 3, &drafts, &hidden).ok());
  EXPECT_EQ(drafts, (std::vector<int>{1, 0}));  // 9 is past valid_vocab; ties: lowest id
  EXPECT_EQ(hidden.size(), 2u);
  ASSERT_TRUE(m.MtpDraft(items, cache, 4, &drafts, &hidden).ok());
  EXPECT_EQ(drafts, (std::vector<int>{3, 0}));
  EXPECT_EQ(m.MtpDraft(items, cache, 0, &drafts, &hidden).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.MtpDraft(items, cache, 5, &drafts, &hidden).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace r1
