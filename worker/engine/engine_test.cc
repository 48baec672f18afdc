#include "worker/engine/engine.h"

#include <random>

#include <gtest/gtest.h>

#include "worker/model/testing/test_util.h"

namespace r1 {
namespace {

std::shared_ptr<const ModelWeights> Weights() { return testing::SmallSyntheticWeights(11); }

std::vector<int> Prompt(int n, unsigned seed) { return testing::RandomTokens(n, seed); }

// Runs the engine until idle; returns the generated tokens per id.
std::map<uint64_t, std::vector<int>> RunAll(Engine& e, std::map<uint64_t, FinishReason>* reasons) {
  std::map<uint64_t, std::vector<int>> out;
  for (int steps = 0; !e.Idle() && steps < 10000; ++steps) {
    auto r = e.Step();
    EXPECT_TRUE(r.ok()) << r.status();
    for (const auto& s : *r) {
      out[s.id].insert(out[s.id].end(), s.new_tokens.begin(), s.new_tokens.end());
      if (s.finish != FinishReason::kNone && reasons) (*reasons)[s.id] = s.finish;
    }
  }
  return out;
}

std::vector<int> Alone(const SequenceRequest& r) {
  Engine e(Weights(), {}, {});
  EXPECT_TRUE(e.Submit(r).ok());
  return RunAll(e, nullptr)[r.id];
}

TEST(EngineTest, ConcurrentSequencesMatchEachAlone) {
  std::vector<SequenceRequest> reqs;
  for (int i = 0; i < 8; ++i) {
    SequenceRequest r;
    r.id = 100 + i;
    r.prompt = Prompt(3 + 23 * i, 50 + i);
    r.max_new_tokens = 6 + i;
    if (i % 2) {
      r.sampling.temperature = 0.8f;
      r.sampling.top_p = 0.9f;
      r.sampling.top_k = 20;
      r.sampling.seed = static_cast<uint64_t>(i);
    }
    reqs.push_back(r);
  }
  Engine e(Weights(), {}, {.max_step_tokens = 64});  // chunked prefill mixed with decodes
  for (const auto& r : reqs) ASSERT_TRUE(e.Submit(r).ok());
  std::map<uint64_t, FinishReason> reasons;
  auto got = RunAll(e, &reasons);
  for (const auto& r : reqs) {
    EXPECT_EQ(got[r.id], Alone(r)) << "sequence " << r.id;
    EXPECT_EQ(static_cast<int>(got[r.id].size()), r.max_new_tokens);
    EXPECT_EQ(reasons[r.id], FinishReason::kLength);
  }
  EXPECT_EQ(e.free_kv_blocks(), EngineOptions{}.kv_blocks);
}

TEST(EngineTest, PreemptionUnderKvPressureGivesTheSameTokens) {
  std::vector<SequenceRequest> reqs;
  for (int i = 0; i < 4; ++i) {
    SequenceRequest r;
    r.id = i + 1;
    r.prompt = Prompt(60, 7 + i);
    r.max_new_tokens = 12;
    reqs.push_back(r);
  }
  Engine tight(Weights(), {}, {.kv_blocks = 5});  // 4 sequences need 8 blocks at the end
  for (const auto& r : reqs) ASSERT_TRUE(tight.Submit(r).ok());
  auto got = RunAll(tight, nullptr);
  for (const auto& r : reqs) EXPECT_EQ(got[r.id], Alone(r)) << r.id;
  EXPECT_GT(tight.preemptions(), 0u);
  EXPECT_EQ(tight.free_kv_blocks(), 5);
}

// The step stats account for every prompt token once and every generated token but the last
// (its KV is never computed), and a step with nothing to do runs no forward pass.
TEST(EngineTest, StepStatsCountPrefillAndDecodeTokens) {
  Engine e(Weights(), {}, {.max_step_tokens = 16});
  int64_t prompt_tokens = 0;
  for (int i = 0; i < 3; ++i) {
    SequenceRequest r;
    r.id = i + 1;
    r.prompt = Prompt(10 + 7 * i, 30 + i);
    r.max_new_tokens = 5;
    prompt_tokens += static_cast<int64_t>(r.prompt.size());
    ASSERT_TRUE(e.Submit(r).ok());
  }
  int64_t prefill = 0, decode = 0, generated = 0;
  int max_batch = 0;
  while (!e.Idle()) {
    auto out = e.Step();
    ASSERT_TRUE(out.ok());
    const EngineStepStats& st = e.last_step();
    EXPECT_TRUE(st.ran_forward);
    EXPECT_FALSE(st.forward_failed);
    EXPECT_LE(st.prefill_tokens + st.decode_tokens, 16);
    EXPECT_GE(st.forward_seconds, 0.0);
    prefill += st.prefill_tokens;
    decode += st.decode_tokens;
    max_batch = std::max(max_batch, st.sequences);
    for (const auto& o : *out) generated += static_cast<int64_t>(o.new_tokens.size());
  }
  EXPECT_EQ(prefill, prompt_tokens);
  EXPECT_EQ(generated, 15);
  EXPECT_EQ(decode, generated - 3);
  EXPECT_GE(max_batch, 2);
  EXPECT_EQ(e.forward_errors(), 0u);
  ASSERT_TRUE(e.Step().ok());
  EXPECT_FALSE(e.last_step().ran_forward);
  EXPECT_EQ(e.last_step().sequences, 0);
}

TEST(EngineTest, CancelFreesTheSequenceWithinOneStep) {
  Engine e(Weights(), {}, {});
  SequenceRequest r;
  r.id = 9;
  r.prompt = Prompt(100, 3);
  r.max_new_tokens = 1000;
  ASSERT_TRUE(e.Submit(r).ok());
  ASSERT_TRUE(e.Step().ok());
  EXPECT_LT(e.free_kv_blocks(), EngineOptions{}.kv_blocks);
  e.Cancel(9);
  auto out = e.Step();
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].finish, FinishReason::kCancelled);
  EXPECT_TRUE(e.Idle());
  EXPECT_EQ(e.free_kv_blocks(), EngineOptions{}.kv_blocks);
}

TEST(EngineTest, StopIdsEndTheSequence) {
  SequenceRequest r;
  r.id = 1;
  r.prompt = Prompt(10, 4);
  r.max_new_tokens = 8;
  std::vector<int> free_run = Alone(r);
  ASSERT_GE(free_run.size(), 3u);
  r.stop_ids = {free_run[2]};
  Engine e(Weights(), {}, {});
  ASSERT_TRUE(e.Submit(r).ok());
  std::map<uint64_t, FinishReason> reasons;
  auto got = RunAll(e, &reasons);
  const auto first = std::find(free_run.begin(), free_run.end(), free_run[2]) - free_run.begin();
  EXPECT_EQ(got[1], std::vector<int>(free_run.begin(), free_run.begin() + first + 1));
  EXPECT_EQ(reasons[1], FinishReason::kStop);
}

// ignore_eos runs to max_new_tokens through EOS; min_tokens keeps EOS and stop ids out of the
// first tokens (here: the first token a free run ends on is made a stop id).
TEST(EngineTest, IgnoreEosAndMinTokens) {
  SequenceRequest r;
  r.id = 1;
  r.prompt = Prompt(10, 4);
  r.max_new_tokens = 8;
  const std::vector<int> free_run = Alone(r);
  ASSERT_GE(free_run.size(), 2u);
  // Make the first generated token a stop id: alone it ends after 1 token...
  r.stop_ids = {free_run[0]};
  EXPECT_EQ(Alone(r).size(), 1u);
  // ... with min_tokens it cannot be sampled early, so the run goes on.
  r.min_tokens = 3;
  const std::vector<int> held = Alone(r);
  ASSERT_GE(held.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NE(held[i], free_run[0]) << i;
  // A model whose EOS is the token the free run starts with: it ends at once, unless ignore_eos.
  auto eos_weights = std::make_shared<ModelWeights>(*Weights());
  eos_weights->config.eos_token_id = free_run[0];
  SequenceRequest e = r;
  e.stop_ids.clear();
  e.min_tokens = 0;
  auto run = [&](const SequenceRequest& q) {
    Engine eng(eos_weights, {}, {});
    EXPECT_TRUE(eng.Submit(q).ok());
    return RunAll(eng, nullptr)[q.id];
  };
  EXPECT_EQ(run(e).size(), 1u);
  e.ignore_eos = true;
  const std::vector<int> through = run(e);
  EXPECT_EQ(through.size(), 8u);       // exactly max_new_tokens
  EXPECT_EQ(through[0], free_run[0]);  // EOS was generated and did not end it
  SequenceRequest bad = e;
  bad.min_tokens = -1;
  Engine eng(Weights(), {}, {});
  EXPECT_FALSE(eng.Submit(bad).ok());
}

TEST(EngineTest, SubmitRejectsBadRequests) {
  Engine e(Weights(), {}, {.kv_blocks = 4});
  SequenceRequest r;
  r.id = 1;
  EXPECT_FALSE(e.Submit(r).ok());  // empty prompt
  r.prompt = {1, 2, 512};
  EXPECT_FALSE(e.Submit(r).ok());  // id out of range
  r.prompt = {1, 2, 3};
  r.max_new_tokens = 0;
  EXPECT_FALSE(e.Submit(r).ok());
  r.max_new_tokens = 4;
  r.sampling.top_p = 0.0f;
  EXPECT_FALSE(e.Submit(r).ok());
  r.sampling = {};
  r.prompt = Prompt(300, 1);  // more than 4 blocks
  EXPECT_FALSE(e.Submit(r).ok());
  r.prompt = {5};
  EXPECT_TRUE(e.Submit(r).ok());
  EXPECT_EQ(e.Submit(r).code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace r1
