// Expert-parallel MoE: W = 1, 2, 4 ranks as threads over Gloo on loopback, each rank loading only
// its experts, running its own sequences (different lengths, prefill and decode mixed, a rank with
// no tokens in some or all steps) in lockstep, must give the logits of the single-process CpuModel
// holding every expert.
#include "worker/comm/ep_moe.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/comm/key_value_store.h"
#include "worker/model/cpu_model.h"
#include "worker/model/testing/test_util.h"

namespace r1 {
namespace {

constexpr uint64_t kSeed = 7;
constexpr absl::Duration kTimeout = absl::Seconds(20);

std::shared_ptr<const ModelWeights> RankWeights(const EpPlacement& placement, int rank) {
  SyntheticWeightSource src(kSeed);
  LoadOptions lo;
  lo.want_expert = placement.WantExpert(rank);
  lo.verify_mtp = false;
  auto w = LoadModelWeights(testing::SmallConfig(), src, lo);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? std::shared_ptr<const ModelWeights>(std::move(*w)) : nullptr;
}

void OnRanks(int world, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) threads.emplace_back(fn, r);
  for (auto& t : threads) t.join();
}

std::vector<std::unique_ptr<Communicator>> MakeGroup(int world, const std::string& prefix) {
  std::vector<std::unique_ptr<Communicator>> g(world);
  if (world == 1) {
    g[0] = std::make_unique<LocalCommunicator>();
    return g;
  }
  auto store = std::make_shared<InMemoryKeyValueStore>();
  OnRanks(world, [&](int r) {
    GlooOptions o;
    o.rank = r;
    o.size = world;
    o.prefix = prefix;
    o.connect_timeout = kTimeout;
    auto c = GlooCommunicator::Create(o, store.get());
    ASSERT_TRUE(c.ok()) << c.status();
    g[r] = std::move(*c);
  });
  return g;
}

// A sequence of one rank: prefilled at step `start` (prompt), then one decode token per step.
struct Seq {
  int rank;
  int start;
  int prompt;
  int decodes;
  std::vector<int> tokens;  // prompt + decodes
};

// Runs every rank's sequences step by step (every rank calls Forward every step, also with
// nothing to do) and returns each sequence's logits, concatenated over its steps.
class Runner {
 public:
  Runner(std::vector<Seq> seqs, int steps) : seqs_(std::move(seqs)), steps_(steps) {}

  // One rank's steps on `model`.
  absl::Status RunRank(CpuModel& model, int rank, std::vector<std::vector<float>>* logits) {
    PagedKvCache cache(3, 32, model.row_size(), false);
    std::vector<KvSequence> kv(seqs_.size());
    logits->assign(seqs_.size(), {});
    for (int step = 0; step < steps_; ++step) {
      std::vector<ForwardItem> items;
      std::vector<size_t> ids;
      for (size_t i = 0; i < seqs_.size(); ++i) {
        const Seq& s = seqs_[i];
        if (s.rank != rank || step < s.start || step > s.start + s.decodes) continue;
        if (step == s.start) {
          if (!cache.Reserve(&kv[i], s.prompt + s.decodes).ok()) return absl::InternalError("kv");
          items.push_back(
              {&kv[i], std::vector<int>(s.tokens.begin(), s.tokens.begin() + s.prompt), 0, true});
        } else {
          const int64_t pos = s.prompt + (step - s.start) - 1;
          items.push_back({&kv[i], {s.tokens[pos]}, pos, false});
        }
        ids.push_back(i);
      }
      std::vector<std::vector<float>> out;
      if (absl::Status st = model.Forward(items, cache, &out); !st.ok()) return st;
      for (size_t k = 0; k < ids.size(); ++k) {
        auto& dst = (*logits)[ids[k]];
        dst.insert(dst.end(), out[k].begin(), out[k].end());
      }
    }
    return absl::OkStatus();
  }

  const std::vector<Seq>& seqs() const { return seqs_; }

 private:
  std::vector<Seq> seqs_;
  int steps_;
};

// max |a − b| / max |b|
double RelMaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, mag = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    mag = std::max(mag, static_cast<double>(std::fabs(b[i])));
  }
  return diff / mag;
}

// Sequences of the ranks that exist in a group of `world`: rank 0 starts at step 0, rank 1 only
// at step 1 (nothing to do in step 0), the last of four ranks never has a sequence.
std::vector<Seq> Schedule(int world) {
  std::vector<Seq> seqs;
  unsigned seed = 100;
  auto add = [&](int rank, int start, int prompt, int decodes) {
    if (rank >= world) return;
    seqs.push_back({rank, start, prompt, decodes, testing::RandomTokens(prompt + decodes, ++seed)});
  };
  add(0, 0, 23, 3);
  add(0, 1, 5, 2);
  add(1, 1, 41, 2);
  add(1, 2, 1, 1);
  add(2, 0, 9, 3);
  add(2, 0, 17, 1);
  // rank 3 of 4: no tokens in any step
  return seqs;
}

class EpMoeTest : public ::testing::TestWithParam<int> {};

struct RecordingObserver final : EpExchangeObserver {
  void OnExchange(const EpExchangeStats& stats) override { seen.push_back(stats); }
  std::vector<EpExchangeStats> seen;
};

TEST_P(EpMoeTest, LogitsEqualTheSingleProcessModel) {
  const int W = GetParam();
  const int steps = 4;
  const ModelConfig config = testing::SmallConfig();
  Runner runner(Schedule(W), steps);

  // Reference: every expert local, each rank's batches replayed one rank after another.
  CpuModel full(testing::SmallSyntheticWeights(kSeed), {});
  std::vector<std::vector<float>> want(runner.seqs().size());
  for (int r = 0; r < W; ++r) {
    std::vector<std::vector<float>> got;
    ASSERT_TRUE(runner.RunRank(full, r, &got).ok());
    for (size_t i = 0; i < got.size(); ++i) {
      if (runner.seqs()[i].rank == r) want[i] = got[i];
    }
  }

  const EpPlacement placement = EpPlacement::Contiguous(config.n_routed_experts, W);
  auto comms = MakeGroup(W, "ep/" + std::to_string(W) + "/");
  std::vector<std::vector<std::vector<float>>> got(W);
  std::vector<EpExchangeStats> stats(W);
  std::vector<RecordingObserver> observed(W);
  const absl::Time start = absl::Now();
  OnRanks(W, [&](int r) {
    auto weights = RankWeights(placement, r);
    ASSERT_NE(weights, nullptr);
    int held = 0;
    for (const FfnWeights& f : weights->layers[1].experts) held += f.gate.empty() ? 0 : 1;
    EXPECT_EQ(held, config.n_routed_experts / W);
    auto ep = EpMoe::Create(comms[r].get(), config, placement, {kTimeout, &observed[r]});
    ASSERT_TRUE(ep.ok()) << ep.status();
    ModelOptions mo;
    mo.expert_executor = ep->get();
    CpuModel model(weights, mo);
    absl::Status st = runner.RunRank(model, r, &got[r]);
    ASSERT_TRUE(st.ok()) << "rank " << r << ": " << st;
    stats[r] = (*ep)->last_stats();
  });
  std::printf("W=%d: EP run %.2f s\n", W, absl::ToDoubleSeconds(absl::Now() - start));

  // Each sequence alone through the full model, too.
  std::vector<std::vector<float>> alone(runner.seqs().size());
  for (size_t i = 0; i < runner.seqs().size(); ++i) {
    Seq s = runner.seqs()[i];
    s.rank = 0;
    Runner one({s}, steps);
    std::vector<std::vector<float>> out;
    ASSERT_TRUE(one.RunRank(full, 0, &out).ok());
    alone[i] = out[0];
  }

  for (size_t i = 0; i < runner.seqs().size(); ++i) {
    const Seq& s = runner.seqs()[i];
    const std::vector<float>& ep = got[s.rank][i];
    const double rel_alone = RelMaxDiff(ep, alone[i]);
    EXPECT_LE(rel_alone, 1e-5) << "sequence " << i << " of rank " << s.rank << " vs alone";
    ASSERT_EQ(ep.size(), want[i].size()) << "sequence " << i;
    ASSERT_EQ(ep.size(), static_cast<size_t>(config.vocab_size * (s.prompt + s.decodes)));
    const double rel = RelMaxDiff(ep, want[i]);
    EXPECT_LE(rel, 1e-5) << "sequence " << i << " of rank " << s.rank;
    std::printf(
        "W=%d sequence %zu (rank %d, %d+%d tokens): rel diff %.2e (same batches), %.2e "
        "(alone)\n",
        W, i, s.rank, s.prompt, s.decodes, rel, rel_alone);
  }
  if (W > 1) {
    // The last step still moved rows between ranks (rank 0 decodes, its experts are spread).
    EXPECT_GT(stats[0].rows_sent, 0);
  }
  // The observers saw every exchange, and what one rank sent another received.
  std::vector<int64_t> sent_to(W, 0), received(W, 0);
  for (int r = 0; r < W; ++r) {
    ASSERT_FALSE(observed[r].seen.empty());
    EXPECT_EQ(observed[r].seen.size(), observed[0].seen.size()) << "rank " << r;
    for (const EpExchangeStats& x : observed[r].seen) {
      ASSERT_EQ(x.rows_to_rank.size(), static_cast<size_t>(W));
      ASSERT_EQ(x.rows_from_rank.size(), static_cast<size_t>(W));
      EXPECT_TRUE(x.has_expert_load);
      EXPECT_GE(static_cast<double>(x.expert_tokens_max), x.expert_tokens_mean);
      EXPECT_GE(x.counts_seconds, 0.0);
      for (int p = 0; p < W; ++p) {
        sent_to[p] += x.rows_to_rank[p];
        received[r] += x.rows_from_rank[p];
      }
    }
  }
  EXPECT_EQ(sent_to, received);
}

INSTANTIATE_TEST_SUITE_P(Ranks, EpMoeTest, ::testing::Values(1, 2, 4),
                         [](const auto& info) { return "W" + std::to_string(info.param); });

TEST(EpMoeFailureTest, MissingExpertFailsEveryRankFast) {
  const ModelConfig config = testing::SmallConfig();
  const EpPlacement placement = EpPlacement::Contiguous(config.n_routed_experts, 2);
  // Rank 0 is told it owns the first half of the experts but loads none of them.
  EpPlacement nothing = placement;
  for (int& r : nothing.expert_rank) r = 1;
  auto comms = MakeGroup(2, "ep/fail/");
  std::vector<absl::Status> st(2);
  std::vector<absl::Duration> took(2);
  OnRanks(2, [&](int r) {
    auto weights = RankWeights(r == 0 ? nothing : placement, r);
    ASSERT_NE(weights, nullptr);
    auto ep = EpMoe::Create(comms[r].get(), config, placement, {kTimeout});
    ASSERT_TRUE(ep.ok());
    ModelOptions mo;
    mo.expert_executor = ep->get();
    CpuModel model(weights, mo);
    PagedKvCache cache(3, 4, model.row_size(), false);
    KvSequence kv;
    ASSERT_TRUE(cache.Reserve(&kv, 16).ok());
    std::vector<ForwardItem> items = {{&kv, testing::RandomTokens(16, 5 + r), 0, false}};
    std::vector<std::vector<float>> logits;
    const absl::Time start = absl::Now();
    st[r] = model.Forward(items, cache, &logits);
    took[r] = absl::Now() - start;
  });
  EXPECT_EQ(st[0].code(), absl::StatusCode::kFailedPrecondition) << st[0];
  EXPECT_FALSE(st[1].ok());
  for (int r = 0; r < 2; ++r) EXPECT_LT(took[r], absl::Seconds(5)) << st[r];
}

// Ranks whose steps drift apart (here: one at layer 1, the other at layer 2; then both at the
// same layer but one exchange apart) fail with DataLoss instead of exchanging rows.
TEST(EpMoeFailureTest, DriftedRanksFailWithDataLoss) {
  const ModelConfig config = testing::SmallConfig();
  const EpPlacement placement = EpPlacement::Contiguous(config.n_routed_experts, 2);
  const ExpertExecutor::ExpertFfn no_ffn = [](int, const float*, int64_t, float*) {
    return absl::InternalError("no expert should run");
  };
  {
    auto comms = MakeGroup(2, "ep/drift-layer/");
    std::vector<absl::Status> st(2);
    OnRanks(2, [&](int r) {
      auto ep = EpMoe::Create(comms[r].get(), config, placement, {kTimeout});
      ASSERT_TRUE(ep.ok());
      st[r] = (*ep)->Run(1 + r, nullptr, 0, {}, no_ffn, nullptr);
    });
    for (int r = 0; r < 2; ++r) {
      EXPECT_EQ(st[r].code(), absl::StatusCode::kDataLoss) << st[r];
      EXPECT_NE(st[r].message().find("drifted apart"), std::string::npos) << st[r];
    }
  }
  {
    auto comms = MakeGroup(2, "ep/drift-sequence/");
    std::vector<absl::Status> first(2), st(2);
    OnRanks(2, [&](int r) {
      auto ep = EpMoe::Create(comms[r].get(), config, placement, {kTimeout});
      ASSERT_TRUE(ep.ok());
      first[r] = (*ep)->Run(1, nullptr, 0, {}, no_ffn, nullptr);
      // Rank 0 starts counting again (a new executor, as after a rebuild that rank 1 missed);
      // both are at layer 1, but at exchanges 0 and 1.
      if (r == 0) {
        ep = EpMoe::Create(comms[r].get(), config, placement, {kTimeout});
        ASSERT_TRUE(ep.ok());
      }
      st[r] = (*ep)->Run(1, nullptr, 0, {}, no_ffn, nullptr);
    });
    for (int r = 0; r < 2; ++r) {
      EXPECT_TRUE(first[r].ok()) << first[r];
      EXPECT_EQ(st[r].code(), absl::StatusCode::kDataLoss) << st[r];
    }
  }
}

TEST(EpMoeTest, CreateChecksThePlacementAgainstTheGroup) {
  LocalCommunicator one;
  EXPECT_FALSE(EpMoe::Create(&one, testing::SmallConfig(), EpPlacement::Contiguous(8, 2)).ok());
  EXPECT_TRUE(EpMoe::Create(&one, testing::SmallConfig(), EpPlacement::Contiguous(8, 1)).ok());
}

}  // namespace
}  // namespace r1
