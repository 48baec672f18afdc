// Stochastic verification of sampled sequences in the Engine: the tokens a speculating engine
// emits follow the target's distribution. A toy model over 8 ids makes the target a Markov chain
// (each row of logits depends on the last token only) and its MTP module a fixed, different
// guess of the next id, so the exact distribution of every generated position is known. For
// thousands of seeds, the counts at each of 6 generated positions (the first chosen by the
// prefill, the others mostly by verification) pass a chi-square test against that distribution,
// with and without speculation (k = 0 checks the test itself: the plain draw of
// kernels/sampling), at temperature 1 and with temperature 0.7, top-k 5, top-p 0.9. Seeds
// replay: the same requests give the same tokens in another batch composition.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "worker/engine/engine.h"
#include "worker/engine/speculative_sampler.h"

namespace r1 {
namespace {

constexpr int kVocab = 8;
constexpr int kHidden = 4;

// Target logits after token a: T[a][v]; the MTP module's logits for the id after b: D[b][v].
float Target(int a, int v) { return static_cast<float>(std::sin(1.7 * a + 2.3 * v + 0.4) * 2.0); }
float Draft(int b, int v) { return Target(b, v) + static_cast<float>(std::cos(3.1 * b + 1.3 * v)); }

ModelConfig ToyConfig() {
  ModelConfig c;
  c.vocab_size = kVocab;
  c.hidden_size = kHidden;
  c.num_hidden_layers = 1;
  c.max_position_embeddings = 1 << 20;
  c.eos_token_id = -1;  // no EOS: every sequence runs to max_new_tokens
  return c;
}

// A ForwardModel whose next-token logits depend only on the last token; no cache rows.
class MarkovModel : public ForwardModel {
 public:
  const ModelConfig& config() const override { return config_; }
  int row_size() const override { return kHidden; }
  bool uses_host_cache_rows() const override { return false; }
  int mtp_layers() const override { return 1; }
  absl::Status Forward(std::vector<ForwardItem>& items, PagedKvCache& cache,
                       std::vector<std::vector<float>>* logits) override {
    logits->assign(items.size(), {});
    for (size_t i = 0; i < items.size(); ++i) {
      ForwardItem& it = items[i];
      const size_t n = it.tokens.size();
      for (size_t t = it.all_logits ? 0 : n - 1; t < n; ++t) {
        for (int v = 0; v < kVocab; ++v) (*logits)[i].push_back(Target(it.tokens[t], v));
      }
      if (it.hidden != nullptr) it.hidden->assign(n * kHidden, 0.0f);
      it.kv->length = it.start + static_cast<int64_t>(n);
    }
    return absl::OkStatus();
  }
  absl::Status MtpForward(const std::vector<MtpItem>& items, PagedKvCache& cache,
                          std::vector<std::vector<float>>* logits,
                          std::vector<std::vector<float>>* hidden) override {
    logits->assign(items.size(), {});
    hidden->assign(items.size(), std::vector<float>(kHidden, 0.0f));
    for (size_t i = 0; i < items.size(); ++i) {
      for (int v = 0; v < kVocab; ++v)
        (*logits)[i].push_back(Draft(items[i].next_tokens.back(), v));
    }
    return absl::OkStatus();
  }

 private:
  ModelConfig config_ = ToyConfig();
};

struct Sampling {
  float temperature;
  int top_k;
  float top_p;
};

constexpr int kPrompt = 3;
constexpr int kNew = 6;
constexpr int kSeeds = 4000;

std::unique_ptr<Engine> MakeEngine(int k) {
  EngineOptions o;
  o.max_step_tokens = 1 << 16;
  o.max_running = kSeeds;
  o.kv_blocks = kSeeds + 16;
  o.speculative_tokens = k;
  return std::make_unique<Engine>(std::make_unique<MarkovModel>(), o);
}

SequenceRequest Request(uint64_t seed, const Sampling& s) {
  SequenceRequest r;
  r.id = seed + 1;
  r.prompt = {1, 6, kPrompt};
  r.max_new_tokens = kNew;
  r.sampling.temperature = s.temperature;
  r.sampling.top_k = s.top_k;
  r.sampling.top_p = s.top_p;
  r.sampling.seed = seed * 7919 + 13;
  return r;
}

// Steps `e` until idle; tokens per id.
std::map<uint64_t, std::vector<int>> Drain(Engine& e) {
  std::map<uint64_t, std::vector<int>> out;
  for (int steps = 0; !e.Idle() && steps < 1000; ++steps) {
    auto r = e.Step();
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    for (const SequenceOutput& o : *r) {
      out[o.id].insert(out[o.id].end(), o.new_tokens.begin(), o.new_tokens.end());
    }
  }
  return out;
}

// Runs the seeds [first, last) `batch` at a time; tokens per id.
std::map<uint64_t, std::vector<int>> RunSeeds(int k, const Sampling& s, int first, int last,
                                              int batch, uint64_t* drafts = nullptr,
                                              uint64_t* accepted = nullptr) {
  std::map<uint64_t, std::vector<int>> out;
  for (int b = first; b < last; b += batch) {
    std::unique_ptr<Engine> e = MakeEngine(k);
    for (int seed = b; seed < std::min(last, b + batch); ++seed) {
      EXPECT_TRUE(e->Submit(Request(seed, s)).ok());
    }
    for (auto& [id, toks] : Drain(*e)) out[id] = std::move(toks);
    if (drafts != nullptr) *drafts += e->speculative_drafts();
    if (accepted != nullptr) *accepted += e->speculative_accepted();
  }
  return out;
}

// The exact distribution of each generated position: the chain from the prompt's last token.
std::vector<std::vector<double>> Marginals(const Sampling& s) {
  std::vector<std::vector<double>> next(kVocab, std::vector<double>(kVocab));
  std::vector<float> row(kVocab), p;
  for (int a = 0; a < kVocab; ++a) {
    for (int v = 0; v < kVocab; ++v) row[v] = Target(a, v);
    SamplingDistribution(row.data(), kVocab, s.temperature, s.top_k, s.top_p, &p);
    for (int v = 0; v < kVocab; ++v) next[a][v] = p[v];
  }
  std::vector<std::vector<double>> m;
  std::vector<double> cur(kVocab, 0.0);
  cur[kPrompt] = 1.0;
  for (int j = 0; j < kNew; ++j) {
    std::vector<double> n(kVocab, 0.0);
    for (int a = 0; a < kVocab; ++a) {
      for (int v = 0; v < kVocab; ++v) n[v] += cur[a] * next[a][v];
    }
    m.push_back(n);
    cur = n;
  }
  return m;
}

// Pearson's chi-square of the counts at position j against `expect`, over ids expected at least
// 5 times (the others, pooled, form one more cell); sets `dof`.
double ChiSquare(const std::map<uint64_t, std::vector<int>>& out, int j,
                 const std::vector<double>& expect, int* dof) {
  std::vector<double> counts(kVocab, 0.0);
  for (const auto& [id, toks] : out) counts[toks.at(j)] += 1;
  const double n = static_cast<double>(out.size());
  double chi2 = 0, pooled_count = 0, pooled_expect = 0;
  int cells = 0;
  for (int v = 0; v < kVocab; ++v) {
    const double e = expect[v] * n;
    if (e < 5) {
      pooled_count += counts[v];
      pooled_expect += e;
      continue;
    }
    chi2 += (counts[v] - e) * (counts[v] - e) / e;
    ++cells;
  }
  if (pooled_expect >= 1) {
    chi2 += (pooled_count - pooled_expect) * (pooled_count - pooled_expect) / pooled_expect;
    ++cells;
  } else if (pooled_count > 0) {
    chi2 += 1e9;  // ids the target (almost) never gives were emitted
  }
  *dof = cells - 1;
  return chi2;
}

// Upper 0.1% points of the chi-square distribution by degrees of freedom (1..7).
double Critical(int dof) {
  static const double kTable[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32};
  return kTable[std::clamp(dof, 1, 7)];
}

TEST(EngineStochasticTest, SampledTokensFollowTheTargetDistribution) {
  for (const Sampling& s : {Sampling{1.0f, 0, 1.0f}, Sampling{0.7f, 5, 0.9f}}) {
    const auto expect = Marginals(s);
    for (int k : {0, 1, 3}) {
      uint64_t drafts = 0, accepted = 0;
      const auto out = RunSeeds(k, s, 0, kSeeds, kSeeds, &drafts, &accepted);
      ASSERT_EQ(out.size(), static_cast<size_t>(kSeeds));
      for (const auto& [id, toks] : out) ASSERT_EQ(toks.size(), static_cast<size_t>(kNew));
      for (int j = 0; j < kNew; ++j) {
        int dof = 0;
        const double chi2 = ChiSquare(out, j, expect[j], &dof);
        EXPECT_LT(chi2, Critical(dof)) << "T " << s.temperature << " k " << k << " position " << j;
      }
      if (k > 0) {
        // Both paths ran: accepted drafts and rejected ones (replaced by a residual draw).
        EXPECT_GT(accepted, drafts / 10) << "k " << k;
        EXPECT_LT(accepted, drafts) << "k " << k;
      } else {
        EXPECT_EQ(drafts, 0u);
      }
    }
  }
}

TEST(EngineStochasticTest, SeedsReplayInAnyBatchComposition) {
  const Sampling s{0.8f, 0, 1.0f};
  const auto all = RunSeeds(2, s, 0, 64, 64);
  const auto one_by_one = RunSeeds(2, s, 0, 64, 1);
  const auto halves = RunSeeds(2, s, 0, 64, 32);
  EXPECT_EQ(all, one_by_one);
  EXPECT_EQ(all, halves);
  // Different seeds do not all give the same tokens.
  EXPECT_NE(all.at(1), all.at(2));
}

TEST(EngineStochasticTest, OptedOutAndGreedySequencesAreUnchanged) {
  // speculative = false: the plain draw, token for token; greedy: the plain greedy output.
  const Sampling s{0.8f, 0, 1.0f};
  for (const Sampling& t : {s, Sampling{0.0f, 0, 1.0f}}) {
    std::unique_ptr<Engine> spec = MakeEngine(3), plain = MakeEngine(0);
    for (int seed = 0; seed < 32; ++seed) {
      SequenceRequest r = Request(seed, t);
      r.speculative = t.temperature == 0;  // greedy speculates; sampled opts out
      ASSERT_TRUE(spec->Submit(r).ok());
      ASSERT_TRUE(plain->Submit(r).ok());
    }
    EXPECT_EQ(Drain(*spec), Drain(*plain)) << "temperature " << t.temperature;
    if (t.temperature == 0) {
      EXPECT_GT(spec->speculative_drafts(), 0u);
    } else {
      EXPECT_EQ(spec->speculative_drafts(), 0u);
    }
  }
}

}  // namespace
}  // namespace r1
