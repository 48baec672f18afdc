// MTP speculative decoding in the Engine: greedy output identical to plain decoding, with the
// small synthetic model's real (untrained, so rarely right) MTP module and with drafts from an
// oracle that knows the plain run's tokens (so most drafts are accepted and the rollback of
// partly accepted chains is exercised).
#include <iostream>
#include <map>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "worker/engine/engine.h"
#include "worker/model/testing/test_util.h"
#include "worker/model/weight_source.h"

namespace r1 {
namespace {

std::shared_ptr<const ModelWeights> Weights() {
  static std::shared_ptr<const ModelWeights> w = [] {
    SyntheticWeightSource src(11);
    LoadOptions opts;
    opts.load_mtp = true;
    auto m = LoadModelWeights(testing::SmallConfig(), src, opts);
    EXPECT_TRUE(m.ok()) << m.status();
    return std::shared_ptr<const ModelWeights>(std::move(*m));
  }();
  return w;
}

using Outputs = std::map<uint64_t, std::vector<int>>;

Outputs RunAll(Engine& e, std::map<uint64_t, FinishReason>* reasons = nullptr,
               int* steps_run = nullptr) {
  Outputs out;
  int steps = 0;
  for (; !e.Idle() && steps < 10000; ++steps) {
    auto r = e.Step();
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    for (const auto& s : *r) {
      out[s.id].insert(out[s.id].end(), s.new_tokens.begin(), s.new_tokens.end());
      if (s.finish != FinishReason::kNone && reasons) (*reasons)[s.id] = s.finish;
    }
  }
  if (steps_run) *steps_run = steps;
  return out;
}

std::vector<SequenceRequest> GreedyRequests(int n, int max_new) {
  std::vector<SequenceRequest> reqs;
  for (int i = 0; i < n; ++i) {
    SequenceRequest r;
    r.id = 1 + i;
    r.prompt = testing::RandomTokens(2 + (i * 13) % 90, 300 + i);
    r.max_new_tokens = max_new;
    reqs.push_back(r);
  }
  return reqs;
}

// Runs `reqs` `batch` at a time through one engine built by `make`.
template <typename Make>
Outputs RunBatches(const std::vector<SequenceRequest>& reqs, int batch, Make make,
                   std::map<uint64_t, FinishReason>* reasons = nullptr, uint64_t* drafts = nullptr,
                   uint64_t* accepted = nullptr) {
  Outputs all;
  for (size_t first = 0; first < reqs.size(); first += batch) {
    std::unique_ptr<Engine> e = make();
    for (size_t i = first; i < std::min(reqs.size(), first + batch); ++i) {
      EXPECT_TRUE(e->Submit(reqs[i]).ok());
    }
    for (auto& [id, toks] : RunAll(*e, reasons)) all[id] = toks;
    if (drafts) *drafts += e->speculative_drafts();
    if (accepted) *accepted += e->speculative_accepted();
    EXPECT_EQ(e->free_kv_blocks(), e->kv_blocks());
  }
  return all;
}

EngineOptions Options(int k) {
  EngineOptions o;
  o.max_step_tokens = 128;
  o.speculative_tokens = k;
  return o;
}

TEST(EngineSpeculativeTest, OffWithoutAnMtpModule) {
  Engine e(testing::SmallSyntheticWeights(11), {}, Options(2));
  EXPECT_EQ(e.speculative_tokens(), 0);
  Engine on(Weights(), {}, Options(2));
  EXPECT_EQ(on.speculative_tokens(), 2);
}

TEST(EngineSpeculativeTest, GreedyOutputEqualsPlainDecodingBatch1And32) {
  const auto reqs = GreedyRequests(32, 20);
  for (int batch : {1, 32}) {
    std::map<uint64_t, FinishReason> plain_reasons, spec_reasons;
    const Outputs plain = RunBatches(
        reqs, batch, [] { return std::make_unique<Engine>(Weights(), ModelOptions{}, Options(0)); },
        &plain_reasons);
    for (int k : {1, 3}) {
      uint64_t drafts = 0, accepted = 0;
      const Outputs spec = RunBatches(
          reqs, batch,
          [&] { return std::make_unique<Engine>(Weights(), ModelOptions{}, Options(k)); },
          &spec_reasons, &drafts, &accepted);
      for (const auto& r : reqs) {
        EXPECT_EQ(spec.at(r.id), plain.at(r.id))
            << "batch " << batch << " k " << k << " id " << r.id;
        EXPECT_EQ(spec_reasons[r.id], plain_reasons[r.id]);
      }
      // The untrained module's drafts are rarely right; verification keeps the output exact.
      EXPECT_GT(drafts, 0u);
      std::cout << "random MTP, batch " << batch << ", k " << k << ": " << accepted << " of "
                << drafts << " drafts accepted\n";
    }
  }
}

// Forwards to a CpuModel; MtpForward runs the real module (so its rows and hidden states are
// real) and then, for a slot whose sequence continues as `truth` says, makes the draft the true
// next token, except at positions where (position % 4 == 3).
class OracleDraftModel : public ForwardModel {
 public:
  OracleDraftModel(std::shared_ptr<const ModelWeights> w, std::vector<std::vector<int>> truth)
      : inner_(std::move(w), {}), truth_(std::move(truth)) {}
  const ModelConfig& config() const override { return inner_.config(); }
  int row_size() const override { return inner_.row_size(); }
  int mtp_layers() const override { return inner_.mtp_layers(); }
  absl::Status Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                       std::vector<std::vector<float>>* logits) override {
    for (const ForwardItem& it : items) {
      for (size_t t = 0; t < it.tokens.size(); ++t) Set(it.kv, it.start + t, it.tokens[t]);
    }
    return inner_.Forward(items, cache, logits);
  }
  absl::Status MtpForward(const std::vector<MtpItem>& items, PagedKvCache& cache,
                          std::vector<std::vector<float>>* logits,
                          std::vector<std::vector<float>>* hidden) override {
    if (auto st = inner_.MtpForward(items, cache, logits, hidden); !st.ok()) return st;
    for (size_t i = 0; i < items.size(); ++i) {
      const MtpItem& it = items[i];
      for (size_t t = 0; t < it.next_tokens.size(); ++t) {
        Set(it.kv, it.start + 1 + t, it.next_tokens[t]);
      }
      const int64_t next = it.start + static_cast<int64_t>(it.next_tokens.size()) + 1;
      if (next % 4 == 3) continue;
      const std::vector<int>& h = history_[it.kv];
      for (const auto& seq : truth_) {
        if (static_cast<int64_t>(seq.size()) <= next ||
            !std::equal(h.begin(), h.begin() + next, seq.begin())) {
          continue;
        }
        std::fill((*logits)[i].begin(), (*logits)[i].end(), -1.0f);
        (*logits)[i][seq[next]] = 1.0f;
        break;
      }
    }
    return absl::OkStatus();
  }

 private:
  void Set(const KvSequence* kv, int64_t pos, int tok) {
    std::vector<int>& h = history_[kv];
    if (static_cast<int64_t>(h.size()) <= pos) h.resize(pos + 1, -1);
    h[pos] = tok;
  }
  CpuModel inner_;
  std::vector<std::vector<int>> truth_;
  std::map<const KvSequence*, std::vector<int>> history_;
};

TEST(EngineSpeculativeTest, AcceptedDraftsGiveTheSameTokensInFewerSteps) {
  auto reqs = GreedyRequests(32, 30);
  for (auto& r : reqs) r.ignore_eos = true;  // long runs: many drafts
  const Outputs plain = RunBatches(
      reqs, 32, [] { return std::make_unique<Engine>(Weights(), ModelOptions{}, Options(0)); });
  std::vector<std::vector<int>> truth;
  for (const auto& r : reqs) {
    truth.push_back(r.prompt);
    truth.back().insert(truth.back().end(), plain.at(r.id).begin(), plain.at(r.id).end());
  }
  for (int batch : {1, 32}) {
    for (int k : {1, 2, 3}) {
      int steps = 0, plain_steps = 0;
      uint64_t drafts = 0, accepted = 0, emitted = 0, verifying = 0;
      Outputs spec;
      for (size_t first = 0; first < reqs.size(); first += batch) {
        Engine e(std::make_unique<OracleDraftModel>(Weights(), truth), Options(k));
        Engine p(Weights(), {}, Options(0));
        for (size_t i = first; i < std::min(reqs.size(), first + batch); ++i) {
          ASSERT_TRUE(e.Submit(reqs[i]).ok());
          ASSERT_TRUE(p.Submit(reqs[i]).ok());
        }
        int s = 0;
        for (auto& [id, toks] : RunAll(e, nullptr, &s)) spec[id] = toks;
        steps += s;
        RunAll(p, nullptr, &s);
        plain_steps += s;
        drafts += e.speculative_drafts();
        accepted += e.speculative_accepted();
        emitted += e.speculative_emitted();
        verifying += e.speculative_steps();
        EXPECT_EQ(e.free_kv_blocks(), e.kv_blocks());
      }
      for (const auto& r : reqs) {
        EXPECT_EQ(spec.at(r.id), plain.at(r.id))
            << "batch " << batch << " k " << k << " id " << r.id;
      }
      EXPECT_EQ(emitted, accepted + verifying);
      std::cout << "oracle drafts, batch " << batch << ", k " << k << ": " << accepted << " of "
                << drafts << " accepted, " << steps << " steps (plain " << plain_steps << ")\n";
      ASSERT_GT(drafts, 0u);
      const double rate = static_cast<double>(accepted) / drafts;
      EXPECT_GT(rate, 0.4) << "batch " << batch << " k " << k;
      EXPECT_LT(rate, 1.0);  // the oracle errs at every fourth position
      EXPECT_LT(steps, plain_steps) << "batch " << batch << " k " << k;
    }
  }
}

TEST(EngineSpeculativeTest, MixedBatchWithSampledOptedOutAndStopIds) {
  std::vector<SequenceRequest> reqs = GreedyRequests(12, 16);
  for (size_t i = 0; i < reqs.size(); ++i) {
    SequenceRequest& r = reqs[i];
    if (i % 4 == 1) {
      r.sampling.temperature = 0.9f;
      r.sampling.seed = 5 + i;
    } else if (i % 4 == 2) {
      r.speculative = false;
    } else if (i % 4 == 3) {
      r.sampling.logprobs = true;
      r.min_tokens = 3;
    }
  }
  const Outputs plain = RunBatches(
      reqs, 12, [] { return std::make_unique<Engine>(Weights(), ModelOptions{}, Options(0)); });
  // A stop id inside each greedy plain output (its 6th token) ends the sequence there.
  for (auto& r : reqs) {
    if (r.sampling.temperature == 0 && plain.at(r.id).size() > 6) {
      r.stop_ids = {plain.at(r.id)[5]};
    }
  }
  const Outputs plain_stop = RunBatches(
      reqs, 12, [] { return std::make_unique<Engine>(Weights(), ModelOptions{}, Options(0)); });
  std::vector<std::vector<int>> truth;
  for (const auto& r : reqs) {
    truth.push_back(r.prompt);
    truth.back().insert(truth.back().end(), plain.at(r.id).begin(), plain.at(r.id).end());
  }
  auto make_spec = [&] {
    return std::make_unique<Engine>(std::make_unique<OracleDraftModel>(Weights(), truth),
                                    Options(3));
  };
  const Outputs spec = RunBatches(reqs, 12, make_spec);
  // Sampled requests speculate with stochastic verification: other draws than plain decoding's
  // (engine_stochastic_test.cc checks their distribution), the same ones on a replay.
  const Outputs replay = RunBatches(reqs, 12, make_spec);
  for (const auto& r : reqs) {
    if (r.sampling.temperature > 0) {
      EXPECT_EQ(spec.at(r.id), replay.at(r.id)) << r.id;
      EXPECT_FALSE(spec.at(r.id).empty()) << r.id;
    } else {
      EXPECT_EQ(spec.at(r.id), plain_stop.at(r.id)) << r.id;
    }
  }
}

TEST(EngineSpeculativeTest, PreemptionAndPrefixCachingKeepTheOutput) {
  auto reqs = GreedyRequests(6, 24);
  for (auto& r : reqs) {
    r.prompt = testing::RandomTokens(60, 900 + r.id);
    r.prompt[0] = 7;  // a shared first block for some
    r.ignore_eos = true;
  }
  for (size_t i = 0; i < reqs.size(); i += 2) reqs[i].prompt = reqs[0].prompt;
  for (size_t i = 0; i < reqs.size(); i += 2) reqs[i].prompt.push_back(static_cast<int>(i + 2));
  EngineOptions tight = Options(3);
  tight.kv_blocks = 7;
  const Outputs plain = RunBatches(
      reqs, 6, [] { return std::make_unique<Engine>(Weights(), ModelOptions{}, Options(0)); });
  std::vector<std::vector<int>> truth;
  for (const auto& r : reqs) {
    truth.push_back(r.prompt);
    truth.back().insert(truth.back().end(), plain.at(r.id).begin(), plain.at(r.id).end());
  }
  Engine e(std::make_unique<OracleDraftModel>(Weights(), truth), tight);
  for (const auto& r : reqs) ASSERT_TRUE(e.Submit(r).ok());
  const Outputs spec = RunAll(e);
  for (const auto& r : reqs) EXPECT_EQ(spec.at(r.id), plain.at(r.id)) << r.id;
  EXPECT_GT(e.preemptions(), 0u);
  EXPECT_GT(e.speculative_accepted(), 0u);
  EXPECT_EQ(e.free_kv_blocks(), 7);
}

}  // namespace
}  // namespace r1
