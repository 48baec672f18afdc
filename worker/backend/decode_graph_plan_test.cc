#include "worker/backend/decode_graph_plan.h"

#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace r1 {
namespace {

TEST(DecodeGraphTokens, BucketsCoverEveryBatchWithBoundedFiller) {
  EXPECT_EQ(DecodeGraphTokens(0), 0);
  EXPECT_EQ(DecodeGraphTokens(-3), 0);
  EXPECT_EQ(DecodeGraphTokens(kMaxDecodeGraphTokens + 1), 0);
  EXPECT_EQ(DecodeGraphTokens(1), 1);
  EXPECT_EQ(DecodeGraphTokens(3), 4);
  EXPECT_EQ(DecodeGraphTokens(9), 16);
  EXPECT_EQ(DecodeGraphTokens(129), 160);
  EXPECT_EQ(DecodeGraphTokens(257), 320);
  EXPECT_EQ(DecodeGraphTokens(kMaxDecodeGraphTokens), kMaxDecodeGraphTokens);
  std::set<int64_t> buckets;
  for (int64_t n = 1; n <= kMaxDecodeGraphTokens; ++n) {
    const int64_t b = DecodeGraphTokens(n);
    ASSERT_GE(b, n);
    ASSERT_LE(b, kMaxDecodeGraphTokens);
    ASSERT_LT(b - n, n <= 128 ? 16 : n <= 256 ? 32 : 64) << n;
    if (n > 128) {
      ASSERT_LE(b - n, n / 4) << n;  // at most 25% filler past 128 tokens
    }
    buckets.insert(b);
  }
  EXPECT_EQ(buckets.size(), 4u + 8u + 4u + 4u);  // 1,2,4,8 | 16..128 | 160..256 | 320..512
}

TEST(DecodeGraphMaxLen, PowerOfTwoBoundAtLeast256) {
  EXPECT_EQ(DecodeGraphMaxLen(0), 256);
  EXPECT_EQ(DecodeGraphMaxLen(256), 256);
  EXPECT_EQ(DecodeGraphMaxLen(257), 512);
  EXPECT_EQ(DecodeGraphMaxLen(2049), 4096);
}

TEST(DecodeGraphTableWidth, PowersOfTwoFromEight) {
  EXPECT_EQ(DecodeGraphTableWidth(1), 8);
  EXPECT_EQ(DecodeGraphTableWidth(8), 8);
  EXPECT_EQ(DecodeGraphTableWidth(9), 16);
  EXPECT_EQ(DecodeGraphTableWidth(2560), 4096);
}

TEST(PadWithFillers, FillerTokensOnTheFillerBlocksFirstRow) {
  BatchTokens t;
  t.ids = {5};
  t.positions = {70};
  t.slots = {3 * kBlockTokens + 6};
  t.seq_lens = {71};
  PadWithFillers(&t, 3, 9);
  EXPECT_EQ(t.ids, (std::vector<int32_t>{5, 0, 0}));
  EXPECT_EQ(t.positions, (std::vector<int32_t>{70, 0, 0}));
  EXPECT_EQ(t.slots,
            (std::vector<int32_t>{3 * kBlockTokens + 6, 9 * kBlockTokens, 9 * kBlockTokens}));
  EXPECT_EQ(t.seq_lens, (std::vector<int32_t>{71, 1, 1}));
  PadWithFillers(&t, 2, 9);  // already longer: unchanged
  EXPECT_EQ(t.ids.size(), 3u);
}

ForwardItem Item(int tokens, bool decode_attention = false, bool all_logits = false) {
  ForwardItem it;
  it.tokens.assign(tokens, 7);
  it.decode_attention = decode_attention;
  it.all_logits = all_logits;
  return it;
}

TEST(DecodeGraphStepTokens, DecodeAndVerificationQualifyPrefillDoesNot) {
  EXPECT_EQ(DecodeGraphStepTokens({}), 0);
  EXPECT_EQ(DecodeGraphStepTokens({Item(1), Item(1), Item(1, false, true)}), 3);
  EXPECT_EQ(DecodeGraphStepTokens({Item(1), Item(4, true, true)}), 5);
  // A prefill chunk (naive form), or a verification without every row's logits (lm_head would
  // need a row gather).
  EXPECT_EQ(DecodeGraphStepTokens({Item(1), Item(4)}), 0);
  EXPECT_EQ(DecodeGraphStepTokens({Item(4, true, false)}), 0);
  EXPECT_EQ(DecodeGraphStepTokens({Item(4, false, true)}), 0);
  std::vector<ForwardItem> big;
  for (int64_t i = 0; i <= kMaxDecodeGraphTokens; ++i) big.push_back(Item(1));
  EXPECT_EQ(DecodeGraphStepTokens(big), 0);
  big.pop_back();
  EXPECT_EQ(DecodeGraphStepTokens(big), kMaxDecodeGraphTokens);
}

// Handles are small integers; `destroyed` records which the table freed.
struct Fake {
  std::vector<intptr_t> destroyed;
  DecodeGraphTable Table(int capacity) {
    return DecodeGraphTable(capacity, [this](DecodeGraphTable::Handle h) {
      destroyed.push_back(reinterpret_cast<intptr_t>(h));
    });
  }
};
DecodeGraphTable::Handle H(intptr_t v) { return reinterpret_cast<DecodeGraphTable::Handle>(v); }
DecodeGraphKey Key(int64_t tokens, int64_t exchange = 0) {
  DecodeGraphKey k;
  k.tokens = tokens;
  k.exchange = exchange;
  return k;
}

TEST(DecodeGraphTable, EagerThenCaptureThenReplayAtOneGeneration) {
  Fake f;
  DecodeGraphTable t = f.Table(4);
  DecodeGraphTable::Handle h;
  EXPECT_EQ(t.Lookup(Key(8), 1, &h), DecodeGraphAction::kEager);
  t.Warmed(Key(8), 1);
  EXPECT_EQ(t.Lookup(Key(8), 1, &h), DecodeGraphAction::kCapture);
  t.Captured(Key(8), 1, H(11));
  EXPECT_EQ(t.Lookup(Key(8), 1, &h), DecodeGraphAction::kReplay);
  EXPECT_EQ(h, H(11));
  EXPECT_EQ(t.replays(), 1);
  EXPECT_EQ(t.captures(), 1);
  // Another key is its own shape; another exchange key too.
  EXPECT_EQ(t.Lookup(Key(16), 1, &h), DecodeGraphAction::kEager);
  EXPECT_EQ(t.Lookup(Key(8, 64), 1, &h), DecodeGraphAction::kEager);
  EXPECT_TRUE(f.destroyed.empty());
}

TEST(DecodeGraphTable, NewBuffersDestroyTheGraphAndWarmAgain) {
  Fake f;
  DecodeGraphTable t = f.Table(4);
  DecodeGraphTable::Handle h;
  t.Lookup(Key(8), 1, &h);
  t.Warmed(Key(8), 1);
  ASSERT_EQ(t.Lookup(Key(8), 1, &h), DecodeGraphAction::kCapture);
  t.Captured(Key(8), 1, H(11));
  // A buffer was reallocated (generation 2): never replay the old graph.
  EXPECT_EQ(t.Lookup(Key(8), 2, &h), DecodeGraphAction::kEager);
  EXPECT_EQ(h, nullptr);
  EXPECT_EQ(f.destroyed, std::vector<intptr_t>{11});
  EXPECT_EQ(t.graphs(), 0);
  t.Warmed(Key(8), 2);
  EXPECT_EQ(t.Lookup(Key(8), 2, &h), DecodeGraphAction::kCapture);
  // A warm-up that ended at a later generation than the lookup's does not capture yet.
  t.Warmed(Key(16), 5);
  EXPECT_EQ(t.Lookup(Key(16), 6, &h), DecodeGraphAction::kEager);
}

TEST(DecodeGraphTable, FailedKeysStayEager) {
  Fake f;
  DecodeGraphTable t = f.Table(4);
  DecodeGraphTable::Handle h;
  t.Warmed(Key(8), 1);
  ASSERT_EQ(t.Lookup(Key(8), 1, &h), DecodeGraphAction::kCapture);
  t.Failed(Key(8));
  EXPECT_EQ(t.failures(), 1);
  t.Warmed(Key(8), 1);
  EXPECT_EQ(t.Lookup(Key(8), 1, &h), DecodeGraphAction::kEager);
}

TEST(DecodeGraphTable, LeastRecentlyUsedGraphGoesBeyondCapacity) {
  Fake f;
  DecodeGraphTable t = f.Table(2);
  DecodeGraphTable::Handle h;
  for (int64_t n : {1, 2, 4}) {
    t.Warmed(Key(n), 1);
    ASSERT_EQ(t.Lookup(Key(n), 1, &h), DecodeGraphAction::kCapture);
    t.Captured(Key(n), 1, H(100 + n));
    if (n == 2) {
      ASSERT_EQ(t.Lookup(Key(1), 1, &h), DecodeGraphAction::kReplay);  // 1 used last
    }
  }
  EXPECT_EQ(t.graphs(), 2);
  EXPECT_EQ(f.destroyed, std::vector<intptr_t>{102});
  EXPECT_EQ(t.Lookup(Key(1), 1, &h), DecodeGraphAction::kReplay);
  EXPECT_EQ(t.Lookup(Key(4), 1, &h), DecodeGraphAction::kReplay);
  t.Clear();
  EXPECT_EQ(t.graphs(), 0);
  EXPECT_EQ(f.destroyed.size(), 3u);
}

}  // namespace
}  // namespace r1
