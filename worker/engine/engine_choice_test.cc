// The engine's token choice end to end on the CPU model: logprobs, penalties and logit_bias
// reach the model's choice with the sequence's own history, checked against the raw logits the
// model produced (recorded by a wrapper) with the semantics written out independently here.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "worker/engine/engine.h"
#include "worker/model/testing/test_util.h"

namespace r1 {
namespace {

// A CpuModel whose Forward records, per sequence (by KvSequence address, stable for the test),
// the raw last row of every item that asked for a token.
class RecordingModel : public ForwardModel {
 public:
  explicit RecordingModel(std::map<const KvSequence*, std::vector<std::vector<float>>>* rows)
      : inner_(testing::SmallSyntheticWeights(11), {}), rows_(rows) {}
  const ModelConfig& config() const override { return inner_.config(); }
  int row_size() const override { return inner_.row_size(); }
  absl::Status Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                       std::vector<std::vector<float>>* logits) override {
    absl::Status st = inner_.Forward(items, cache, logits);
    for (size_t i = 0; st.ok() && i < items.size(); ++i) {
      if (items[i].choose != nullptr) (*rows_)[items[i].kv].push_back((*logits)[i]);
    }
    return st;
  }

 private:
  CpuModel inner_;
  std::map<const KvSequence*, std::vector<std::vector<float>>>* rows_;
};

struct RunResult {
  std::vector<int> tokens;
  std::vector<TokenChoice> logprobs;
  std::vector<std::vector<float>> raw_rows;  // one per generated token
};

// Runs one request alone; the model's raw rows come back with the tokens.
RunResult RunOne(const SequenceRequest& r) {
  std::map<const KvSequence*, std::vector<std::vector<float>>> rows;
  Engine e(std::make_unique<RecordingModel>(&rows), {});
  EXPECT_TRUE(e.Submit(r).ok());
  RunResult run;
  for (int steps = 0; !e.Idle() && steps < 1000; ++steps) {
    auto out = e.Step();
    EXPECT_TRUE(out.ok()) << out.status();
    for (const SequenceOutput& o : *out) {
      run.tokens.insert(run.tokens.end(), o.new_tokens.begin(), o.new_tokens.end());
      run.logprobs.insert(run.logprobs.end(), o.logprobs.begin(), o.logprobs.end());
    }
  }
  EXPECT_EQ(rows.size(), 1u);
  if (!rows.empty()) run.raw_rows = rows.begin()->second;
  return run;
}

SequenceRequest Request(int max_new_tokens) {
  SequenceRequest r;
  r.id = 1;
  r.prompt = testing::RandomTokens(12, 5);
  r.max_new_tokens = max_new_tokens;
  r.ignore_eos = true;
  return r;
}

int ArgMax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

TEST(EngineChoiceTest, LogprobsAreTheModelsLogSoftmax) {
  SequenceRequest r = Request(6);
  r.sampling.logprobs = true;
  r.sampling.top_logprobs = 3;
  const RunResult run = RunOne(r);
  ASSERT_EQ(run.tokens.size(), 6u);
  ASSERT_EQ(run.logprobs.size(), 6u);
  ASSERT_EQ(run.raw_rows.size(), 6u);
  for (size_t k = 0; k < run.tokens.size(); ++k) {
    const std::vector<float>& row = run.raw_rows[k];
    double mx = -1e300, sum = 0;
    for (float v : row) mx = std::max<double>(mx, v);
    for (float v : row) sum += std::exp(v - mx);
    const double lse = mx + std::log(sum);
    EXPECT_EQ(run.logprobs[k].id, run.tokens[k]);
    EXPECT_NEAR(run.logprobs[k].logprob, row[run.tokens[k]] - lse, 1e-4) << "token " << k;
    ASSERT_EQ(run.logprobs[k].top.size(), 3u);
    EXPECT_EQ(run.logprobs[k].top[0].first, ArgMax(row));  // greedy: the top is the choice
    EXPECT_EQ(run.logprobs[k].top[0].first, run.tokens[k]);
    for (const auto& [id, lp] : run.logprobs[k].top) EXPECT_NEAR(lp, row[id] - lse, 1e-4);
  }
}

TEST(EngineChoiceTest, NoLogprobsUnlessAsked) {
  const RunResult run = RunOne(Request(3));
  EXPECT_EQ(run.tokens.size(), 3u);
  EXPECT_TRUE(run.logprobs.empty());
}

TEST(EngineChoiceTest, PenaltiesUseTheSequencesOwnHistory) {
  // A bias makes id 7 the greedy choice at every step; the penalties then grow with its count
  // until other ids win, and again as those repeat.
  SequenceRequest plain = Request(24);
  plain.sampling.logit_bias = {{7, 8.0f}};
  ASSERT_EQ(RunOne(plain).tokens, std::vector<int>(24, 7));
  SequenceRequest r = plain;
  r.sampling.presence_penalty = 1.5f;
  r.sampling.frequency_penalty = 0.7f;
  r.sampling.repetition_penalty = 1.3f;
  const RunResult run = RunOne(r);
  ASSERT_EQ(run.raw_rows.size(), run.tokens.size());
  std::map<int, int> generated;
  for (size_t k = 0; k < run.tokens.size(); ++k) {
    std::vector<float> row = run.raw_rows[k];
    std::map<int, bool> seen;
    for (int t : r.prompt) seen[t] = true;
    for (const auto& [t, n] : generated) seen[t] = true;
    row[7] += 8.0f;
    for (const auto& [t, unused] : seen) row[t] = row[t] > 0 ? row[t] / 1.3f : row[t] * 1.3f;
    for (const auto& [t, n] : generated) row[t] -= 0.7f * n + 1.5f;
    EXPECT_EQ(run.tokens[k], ArgMax(row)) << "token " << k;
    ++generated[run.tokens[k]];
  }
  // The penalties changed the output, and id 7 still came first and more than once.
  EXPECT_EQ(run.tokens[0], 7);
  EXPECT_GT(generated[7], 1);
  EXPECT_LT(generated[7], 24);
}

TEST(EngineChoiceTest, LogitBiasAndMinTokensBans) {
  SequenceRequest r = Request(5);
  r.sampling.logit_bias = {{7, 100.0f}};
  EXPECT_EQ(RunOne(r).tokens, std::vector<int>(5, 7));
  // EOS (id 1) biased up but banned before min_tokens: 3 tokens of 7... then EOS ends it.
  r.ignore_eos = false;
  r.sampling.logit_bias = {{7, 50.0f}, {1, 100.0f}};
  r.min_tokens = 3;
  EXPECT_EQ(RunOne(r).tokens, (std::vector<int>{7, 7, 7, 1}));
}

TEST(EngineChoiceTest, SeededDrawsReplayAndSeedsDiffer) {
  SequenceRequest r = Request(16);
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 7;
  const std::vector<int> a = RunOne(r).tokens;
  EXPECT_EQ(a, RunOne(r).tokens);
  r.sampling.seed = 8;
  EXPECT_NE(a, RunOne(r).tokens);
}

}  // namespace
}  // namespace r1
