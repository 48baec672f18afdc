// Prefix caching in the Engine on the CPU model: a sequence reusing cached blocks gets the same
// logits and tokens as a cold run while computing fewer tokens; block references never leak
// (finish, cancel, preemption under KV pressure); LRU eviction keeps a full cache usable; a block
// is reused only after the same whole prefix.
#include <map>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "worker/engine/engine.h"
#include "worker/model/testing/test_util.h"

namespace r1 {
namespace {

std::shared_ptr<const ModelWeights> Weights() { return testing::SmallSyntheticWeights(11); }

std::vector<int> Concat(std::vector<int> a, const std::vector<int>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A CpuModel that records the raw logits row of every item that chooses a token, in order.
class RecordingModel : public ForwardModel {
 public:
  explicit RecordingModel(std::vector<std::vector<float>>* rows)
      : inner_(Weights(), {}), rows_(rows) {}
  const ModelConfig& config() const override { return inner_.config(); }
  int row_size() const override { return inner_.row_size(); }
  absl::Status Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                       std::vector<std::vector<float>>* logits) override {
    absl::Status st = inner_.Forward(items, cache, logits);
    for (size_t i = 0; st.ok() && i < items.size(); ++i) {
      if (items[i].choose != nullptr) rows_->push_back((*logits)[i]);
    }
    return st;
  }

 private:
  CpuModel inner_;
  std::vector<std::vector<float>>* rows_;
};

struct SeqRun {
  std::vector<int> tokens;
  int64_t prefill_tokens = 0;  // summed over the steps of the run
  FinishReason finish = FinishReason::kNone;
};

// Steps `e` until idle, collecting every sequence's tokens and prefill work.
std::map<uint64_t, SeqRun> RunAll(Engine& e) {
  std::map<uint64_t, SeqRun> runs;
  int64_t prefill = 0;
  for (int steps = 0; !e.Idle() && steps < 10000; ++steps) {
    auto out = e.Step();
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) break;
    prefill += e.last_step().prefill_tokens;
    for (const SequenceOutput& o : *out) {
      SeqRun& r = runs[o.id];
      r.tokens.insert(r.tokens.end(), o.new_tokens.begin(), o.new_tokens.end());
      if (o.finish != FinishReason::kNone) r.finish = o.finish;
    }
  }
  EXPECT_TRUE(e.Idle());
  for (auto& [id, r] : runs) r.prefill_tokens = prefill;  // one sequence at a time: all its own
  return runs;
}

SequenceRequest Request(uint64_t id, std::vector<int> prompt, int max_new) {
  SequenceRequest r;
  r.id = id;
  r.prompt = std::move(prompt);
  r.max_new_tokens = max_new;
  return r;
}

// `r` alone in a fresh engine without prefix caching.
std::vector<int> Cold(const SequenceRequest& r, int kv_blocks = 512) {
  Engine e(Weights(), {}, {.kv_blocks = kv_blocks, .prefix_caching = false});
  EXPECT_TRUE(e.Submit(r).ok());
  return RunAll(e)[r.id].tokens;
}

// Logits of `r`'s tokens and the run, after `before` (if any) ran in the same engine.
struct Recorded {
  SeqRun run;
  std::vector<std::vector<float>> rows;
  uint64_t hits = 0;
};
Recorded Record(const SequenceRequest& r, const SequenceRequest* before, EngineOptions options) {
  Recorded rec;
  Engine e(std::make_unique<RecordingModel>(&rec.rows), options);
  if (before != nullptr) {
    EXPECT_TRUE(e.Submit(*before).ok());
    RunAll(e);
    rec.rows.clear();
  }
  EXPECT_TRUE(e.Submit(r).ok());
  rec.run = RunAll(e)[r.id];
  rec.hits = e.prefix_cache_hits();
  EXPECT_EQ(e.free_kv_blocks(), e.kv_blocks());
  return rec;
}

TEST(PrefixCacheTest, ReuseGivesTheColdRunsLogitsAndTokensWithLessPrefill) {
  const std::vector<int> shared = testing::RandomTokens(200, 1);  // 3 full blocks
  const SequenceRequest a = Request(1, Concat(shared, testing::RandomTokens(9, 2)), 5);
  SequenceRequest b = Request(2, Concat(shared, testing::RandomTokens(30, 3)), 12);
  SequenceRequest sampled = Request(3, Concat(shared, testing::RandomTokens(41, 4)), 12);
  sampled.sampling.temperature = 0.9f;
  sampled.sampling.top_k = 40;
  sampled.sampling.seed = 17;
  constexpr int64_t kReused = 3 * kBlockTokens;

  for (const SequenceRequest* r : {&b, &sampled}) {
    const int64_t prompt = static_cast<int64_t>(r->prompt.size());
    // Steps of 192 tokens: the cold run computes the shared blocks in one chunk and the rest in
    // another, as the warm engine does (first for `a`, then for `r`). The reused rows are those
    // the cold run computes: the logits are identical.
    EngineOptions chunked{.max_step_tokens = kReused};
    EngineOptions chunked_off = chunked;
    chunked_off.prefix_caching = false;
    const Recorded cold = Record(*r, nullptr, chunked_off);
    const Recorded warm = Record(*r, &a, chunked);
    EXPECT_EQ(cold.run.prefill_tokens, prompt);
    EXPECT_EQ(cold.hits, 0u);
    EXPECT_EQ(warm.hits, static_cast<uint64_t>(kReused));
    EXPECT_EQ(warm.run.prefill_tokens, prompt - kReused);
    EXPECT_EQ(warm.run.finish, FinishReason::kLength);
    EXPECT_EQ(warm.run.tokens, cold.run.tokens) << r->id;
    ASSERT_EQ(warm.rows.size(), cold.rows.size());
    for (size_t i = 0; i < warm.rows.size(); ++i) {
      EXPECT_EQ(warm.rows[i], cold.rows[i]) << "sequence " << r->id << " token " << i;
    }

    // Default steps: the cold run computes the whole prompt in one chunk, so rows differ from
    // the reused ones in rounding only; the tokens are the same.
    const Recorded cold_whole = Record(*r, nullptr, {.prefix_caching = false});
    const Recorded warm_default = Record(*r, &a, {});
    EXPECT_EQ(warm_default.hits, static_cast<uint64_t>(kReused));
    EXPECT_EQ(warm_default.run.prefill_tokens, prompt - kReused);
    EXPECT_EQ(warm_default.run.tokens, cold_whole.run.tokens) << r->id;
    ASSERT_EQ(warm_default.rows.size(), cold_whole.rows.size());
    for (size_t i = 0; i < warm_default.rows.size(); ++i) {
      for (size_t v = 0; v < warm_default.rows[i].size(); ++v) {
        ASSERT_NEAR(warm_default.rows[i][v], cold_whole.rows[i][v], 1e-4) << i << " " << v;
      }
    }
  }
}

// Queries count every token of each admitted sequence; hits the tokens reused.
TEST(PrefixCacheTest, CountersCountLookedUpAndReusedTokens) {
  const std::vector<int> shared = testing::RandomTokens(140, 13);  // 2 full blocks
  Engine e(Weights(), {}, {});
  ASSERT_TRUE(e.Submit(Request(1, Concat(shared, {4}), 3)).ok());
  RunAll(e);
  EXPECT_EQ(e.prefix_cache_queries(), 141u);
  EXPECT_EQ(e.prefix_cache_hits(), 0u);
  ASSERT_TRUE(e.Submit(Request(2, Concat(shared, {5, 6}), 3)).ok());
  RunAll(e);
  EXPECT_EQ(e.prefix_cache_queries(), 141u + 142u);
  EXPECT_EQ(e.prefix_cache_hits(), 2u * kBlockTokens);
}

// A second turn (the first turn's prompt and answer, then more) reuses the blocks of the answer
// too.
TEST(PrefixCacheTest, ANextTurnReusesTheAnswersBlocks) {
  Engine e(Weights(), {}, {});
  SequenceRequest first = Request(1, testing::RandomTokens(100, 5), 60);
  ASSERT_TRUE(e.Submit(first).ok());
  const std::vector<int> answer = RunAll(e)[1].tokens;
  ASSERT_EQ(answer.size(), 60u);
  // 160 tokens: the first 159 have rows (the last token was never fed back), 2 full blocks.
  SequenceRequest second =
      Request(2, Concat(Concat(first.prompt, answer), testing::RandomTokens(20, 6)), 8);
  ASSERT_TRUE(e.Submit(second).ok());
  const SeqRun run = RunAll(e)[2];
  EXPECT_EQ(e.prefix_cache_hits(), 2u * kBlockTokens);
  EXPECT_EQ(run.prefill_tokens, static_cast<int64_t>(second.prompt.size()) - 2 * kBlockTokens);
  EXPECT_EQ(run.tokens, Cold(second));
  EXPECT_EQ(e.free_kv_blocks(), e.kv_blocks());
}

// The same block-aligned prompt twice: its last token must be computed, so its last block is.
TEST(PrefixCacheTest, AFullyCachedPromptStillComputesItsLastBlock) {
  Engine e(Weights(), {}, {});
  const SequenceRequest a = Request(1, testing::RandomTokens(2 * kBlockTokens, 14), 4);
  ASSERT_TRUE(e.Submit(a).ok());
  const std::vector<int> first = RunAll(e)[1].tokens;
  SequenceRequest again = a;
  again.id = 2;
  ASSERT_TRUE(e.Submit(again).ok());
  const SeqRun run = RunAll(e)[2];
  EXPECT_EQ(run.prefill_tokens, kBlockTokens);
  EXPECT_EQ(e.prefix_cache_hits(), static_cast<uint64_t>(kBlockTokens));
  EXPECT_EQ(run.tokens, first);
  EXPECT_EQ(run.tokens, Cold(a));
  EXPECT_EQ(e.free_kv_blocks(), e.kv_blocks());
}

TEST(PrefixCacheTest, ABlockAfterADifferentPrefixIsNotReused) {
  const std::vector<int> x = testing::RandomTokens(64, 7), y = testing::RandomTokens(64, 8),
                         z = testing::RandomTokens(64, 9);
  Engine e(Weights(), {}, {});
  ASSERT_TRUE(e.Submit(Request(1, Concat(Concat(x, y), {5, 6, 7}), 2)).ok());
  RunAll(e);
  EXPECT_EQ(e.kv_cache().cached_blocks(), 2);
  // y again, after z: no reuse.
  SequenceRequest b = Request(2, Concat(Concat(z, y), {5, 6, 7}), 4);
  ASSERT_TRUE(e.Submit(b).ok());
  const SeqRun run = RunAll(e)[2];
  EXPECT_EQ(e.prefix_cache_hits(), 0u);
  EXPECT_EQ(run.prefill_tokens, static_cast<int64_t>(b.prompt.size()));
  EXPECT_EQ(run.tokens, Cold(b));
  // x then z: the first block only.
  SequenceRequest c = Request(3, Concat(Concat(x, z), {5}), 4);
  ASSERT_TRUE(e.Submit(c).ok());
  const SeqRun third = RunAll(e)[3];
  EXPECT_EQ(e.prefix_cache_hits(), static_cast<uint64_t>(kBlockTokens));
  EXPECT_EQ(third.prefill_tokens, static_cast<int64_t>(c.prompt.size()) - kBlockTokens);
  EXPECT_EQ(third.tokens, Cold(c));
  EXPECT_EQ(e.free_kv_blocks(), e.kv_blocks());
}

TEST(PrefixCacheTest, OffComputesEveryPromptInFull) {
  const std::vector<int> shared = testing::RandomTokens(150, 10);
  Engine e(Weights(), {}, {.prefix_caching = false});
  ASSERT_TRUE(e.Submit(Request(1, Concat(shared, {3}), 3)).ok());
  RunAll(e);
  SequenceRequest b = Request(2, Concat(shared, {4, 5}), 3);
  ASSERT_TRUE(e.Submit(b).ok());
  const SeqRun run = RunAll(e)[2];
  EXPECT_EQ(run.prefill_tokens, static_cast<int64_t>(b.prompt.size()));
  EXPECT_EQ(run.tokens, Cold(b));
  EXPECT_EQ(e.prefix_cache_hits(), 0u);
  EXPECT_EQ(e.prefix_cache_queries(), 0u);
  EXPECT_EQ(e.kv_cache().cached_blocks(), 0);
  EXPECT_EQ(e.free_kv_blocks(), e.kv_blocks());
}

// Sequences sharing a prefix under KV pressure: preempted ones drop their references, the
// survivors keep the shared blocks, everyone's greedy tokens equal a cold run, and every block
// is free at the end.
TEST(PrefixCacheTest, SharedBlocksSurvivePreemptionAndNeverLeak) {
  constexpr int kBlocks = 7;
  const std::vector<int> shared = testing::RandomTokens(128, 11);  // 2 full blocks
  std::vector<SequenceRequest> reqs;
  for (int i = 0; i < 4; ++i) {
    reqs.push_back(Request(10 + i, Concat(shared, testing::RandomTokens(8, 20 + i)), 60));
  }
  Engine e(Weights(), {}, {.kv_blocks = kBlocks});
  ASSERT_TRUE(e.Submit(reqs[0]).ok());
  // The first sequence's prompt is computed before the others arrive: they share its blocks.
  std::map<uint64_t, std::vector<int>> got;
  auto collect = [&](const std::vector<SequenceOutput>& out) {
    for (const SequenceOutput& o : out) {
      got[o.id].insert(got[o.id].end(), o.new_tokens.begin(), o.new_tokens.end());
    }
  };
  auto first = e.Step();
  ASSERT_TRUE(first.ok());
  collect(*first);
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(e.Submit(reqs[i]).ok());
  for (int steps = 0; !e.Idle() && steps < 10000; ++steps) {
    auto out = e.Step();
    ASSERT_TRUE(out.ok()) << out.status();
    collect(*out);
  }
  EXPECT_GT(e.preemptions(), 0u);
  EXPECT_GE(e.prefix_cache_hits(), 3u * 2 * kBlockTokens);
  for (const SequenceRequest& r : reqs) EXPECT_EQ(got[r.id], Cold(r)) << r.id;
  EXPECT_EQ(e.free_kv_blocks(), kBlocks);
  for (int b = 0; b < kBlocks; ++b) EXPECT_EQ(e.kv_cache().ref_count(b), 0) << b;
}

// Cancelling a sequence whose blocks another one shares, and one still waiting.
TEST(PrefixCacheTest, CancelDropsOnlyTheCancelledReferences) {
  const std::vector<int> shared = testing::RandomTokens(130, 12);
  Engine e(Weights(), {}, {.max_running = 2});
  ASSERT_TRUE(e.Submit(Request(1, Concat(shared, {7}), 1000)).ok());
  ASSERT_TRUE(e.Step().ok());
  SequenceRequest b = Request(2, Concat(shared, {8, 9}), 20);
  ASSERT_TRUE(e.Submit(b).ok());
  ASSERT_TRUE(e.Submit(Request(3, shared, 5)).ok());  // waits: max_running
  ASSERT_TRUE(e.Step().ok());
  EXPECT_EQ(e.prefix_cache_hits(), 2u * kBlockTokens);
  EXPECT_EQ(e.waiting(), 1);
  e.Cancel(1);
  e.Cancel(3);
  std::map<uint64_t, std::vector<int>> got;
  std::map<uint64_t, FinishReason> reasons;
  for (int steps = 0; !e.Idle() && steps < 1000; ++steps) {
    auto out = e.Step();
    ASSERT_TRUE(out.ok());
    for (const SequenceOutput& o : *out) {
      got[o.id].insert(got[o.id].end(), o.new_tokens.begin(), o.new_tokens.end());
      if (o.finish != FinishReason::kNone) reasons[o.id] = o.finish;
    }
  }
  EXPECT_EQ(reasons[1], FinishReason::kCancelled);
  EXPECT_EQ(reasons[3], FinishReason::kCancelled);
  EXPECT_EQ(reasons[2], FinishReason::kLength);
  const std::vector<int> cold = Cold(b);
  // Sequence 2 had produced its first token before the cancellations.
  ASSERT_EQ(got[2].size() + 1, cold.size());
  EXPECT_EQ(got[2], std::vector<int>(cold.begin() + 1, cold.end()));
  EXPECT_EQ(e.free_kv_blocks(), e.kv_blocks());
  for (int blk = 0; blk < e.kv_blocks(); ++blk) EXPECT_EQ(e.kv_cache().ref_count(blk), 0);
}

// A cache full of unreferenced cached blocks: new sequences evict the least recently used ones.
TEST(PrefixCacheTest, LruEvictionWhenTheCacheIsFullOfCachedBlocks) {
  constexpr int kBlocks = 6;
  Engine e(Weights(), {}, {.kv_blocks = kBlocks});
  std::vector<SequenceRequest> reqs;
  for (int i = 0; i < 5; ++i) {
    // 127 + 2 tokens: rows for 128 positions, 2 full blocks, both cached at the end.
    reqs.push_back(Request(i + 1, testing::RandomTokens(127, 40 + i), 2));
    ASSERT_TRUE(e.Submit(reqs.back()).ok());
    const SeqRun run = RunAll(e)[i + 1];
    EXPECT_EQ(run.tokens, Cold(reqs.back(), kBlocks)) << i;
    EXPECT_EQ(run.prefill_tokens, 127);
    EXPECT_EQ(e.free_kv_blocks(), kBlocks);
    EXPECT_EQ(e.kv_cache().cached_blocks(), std::min(2 * (i + 1), kBlocks));
  }
  EXPECT_EQ(e.kv_cache().evictable_blocks(), kBlocks);  // full of unreferenced cached blocks
  EXPECT_EQ(e.prefix_cache_hits(), 0u);
  // The most recent prompt is still cached (its first block: the second holds a generated
  // token); the first prompt was evicted.
  SequenceRequest again = reqs[4];
  again.id = 100;
  ASSERT_TRUE(e.Submit(again).ok());
  const SeqRun second = RunAll(e)[100];
  EXPECT_EQ(second.prefill_tokens, 127 - kBlockTokens);
  EXPECT_EQ(second.tokens, Cold(again, kBlocks));
  EXPECT_EQ(e.prefix_cache_hits(), static_cast<uint64_t>(kBlockTokens));
  SequenceRequest oldest = reqs[0];
  oldest.id = 101;
  ASSERT_TRUE(e.Submit(oldest).ok());
  const SeqRun run = RunAll(e)[101];
  EXPECT_EQ(run.prefill_tokens, 127);
  EXPECT_EQ(run.tokens, Cold(oldest, kBlocks));
  EXPECT_EQ(e.free_kv_blocks(), kBlocks);
}

}  // namespace
}  // namespace r1
