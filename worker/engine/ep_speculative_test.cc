// MTP speculative decoding in expert-parallel groups: W = 2 and 4 CPU ranks as threads over Gloo
// on loopback, each rank an Engine (lockstep) over a CpuModel that loaded only its share of
// r1-tiny's routed experts — the MTP layer's included — with an EpMoe executor. Each rank serves
// its own problems (unevenly: ranks go idle while others still draft, the last of four never has
// any), stepping while any rank of the group has work, as the worker's tick does. Greedy output
// with k = 1 and k = 3 draft tokens is token for token that of the same group without
// speculation, drafts are accepted, and every rank runs exactly k MTP exchanges per step. Ranks
// that run different k fail with DataLoss at the first exchange that drifted.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "worker/comm/ep_moe.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/comm/key_value_store.h"
#include "worker/engine/engine.h"
#include "worker/model/model_weights.h"
#include "worker/model/weight_source.h"

namespace r1 {
namespace {

constexpr char kDir[] = "models/r1-tiny";
constexpr int64_t kValidVocab = 16025;  // tokenizer ids 0–16024 (models/r1-tiny/README.md)
constexpr absl::Duration kTimeout = absl::Seconds(30);

struct Tiny {
  ModelConfig config;
  std::unique_ptr<CheckpointWeightSource> source;
  std::vector<std::vector<int>> prompts;
};

const Tiny& GetTiny() {
  static const Tiny* t = [] {
    auto* t = new Tiny;
    const std::string dir = kDir;
    auto cfg = LoadModelConfig(dir + "/config.json");
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    if (cfg.ok()) t->config = *cfg;
    auto src = CheckpointWeightSource::Open(dir);
    EXPECT_TRUE(src.ok()) << src.status();
    if (src.ok()) t->source = std::move(*src);
    std::ifstream in(dir + "/heldout.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      t->prompts.push_back(
          nlohmann::json::parse(line).at("prompt_token_ids").get<std::vector<int>>());
    }
    return t;
  }();
  return *t;
}

// Rank `rank`'s share of r1-tiny under `placement` (with the MTP module when `mtp`).
std::shared_ptr<const ModelWeights> RankWeights(const EpPlacement& placement, int rank, bool mtp) {
  const Tiny& t = GetTiny();
  LoadOptions lo;
  lo.want_expert = placement.WantExpert(rank);
  lo.load_mtp = mtp;
  auto w = LoadModelWeights(t.config, *t.source, lo);
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

// Counts the exchanges of one layer.
struct LayerCounter final : EpExchangeObserver {
  explicit LayerCounter(int layer) : layer(layer) {}
  void OnExchange(const EpExchangeStats& stats) override { count += stats.layer == layer ? 1 : 0; }
  int layer;
  int64_t count = 0;
};

struct RankResult {
  std::map<uint64_t, std::vector<int>> tokens;
  std::map<uint64_t, FinishReason> finish;
  std::vector<std::string> errors;  // of sequences that ended with kError, and of Step
  absl::Status draft_status;        // the first failed MTP pass
  uint64_t drafts = 0, accepted = 0;
  int64_t steps = 0, mtp_exchanges = 0;
};

struct GroupRun {
  int world = 2;
  std::vector<int> k;                      // per rank: speculative_tokens
  std::vector<std::vector<int>> problems;  // per rank: heldout problem indices
  int max_new_tokens = 40;
  // Step every rank this many times without the tick's busy agreement (0: tick as the worker
  // does, stepping while any rank has work).
  int fixed_steps = 0;
};

std::vector<RankResult> RunGroup(const GroupRun& g, const std::string& prefix) {
  const Tiny& t = GetTiny();
  const int W = g.world;
  const EpPlacement placement = EpPlacement::Contiguous(t.config.n_routed_experts, W);
  std::vector<std::shared_ptr<const ModelWeights>> weights(W);
  for (int r = 0; r < W; ++r) weights[r] = RankWeights(placement, r, g.k[r] > 0);
  auto comms = MakeGroup(W, prefix);
  std::vector<RankResult> res(W);
  OnRanks(W, [&](int r) {
    ASSERT_NE(weights[r], nullptr);
    ASSERT_NE(comms[r], nullptr);
    RankResult& out = res[r];
    LayerCounter mtp_layer(static_cast<int>(t.config.num_hidden_layers));
    auto ep = EpMoe::Create(comms[r].get(), t.config, placement, {kTimeout, &mtp_layer});
    ASSERT_TRUE(ep.ok()) << ep.status();
    ModelOptions mo;
    mo.expert_executor = ep->get();
    EngineOptions eo;
    eo.max_step_tokens = 256;
    eo.max_running = 4;
    eo.kv_blocks = 64;
    eo.valid_vocab = kValidVocab;
    eo.lockstep = true;
    eo.speculative_tokens = g.k[r];
    Engine engine(weights[r], mo, eo);
    ASSERT_EQ(engine.speculative_tokens(), g.k[r]);
    for (int i : g.problems[r]) {
      SequenceRequest q;
      q.id = static_cast<uint64_t>(i);
      q.prompt = t.prompts[i];
      q.max_new_tokens = g.max_new_tokens;
      ASSERT_TRUE(engine.Submit(q).ok());
    }
    for (int step = 0; step < 5000; ++step) {
      if (g.fixed_steps > 0) {
        if (step >= g.fixed_steps) break;
      } else {
        int64_t busy[1] = {engine.Idle() ? 0 : 1};
        absl::Status st = comms[r]->AllReduce(absl::MakeSpan(busy, 1), ReduceOp::kMax, kTimeout);
        if (!st.ok()) {
          out.errors.push_back(std::string(st.message()));
          break;
        }
        if (busy[0] == 0) break;
      }
      auto stepped = engine.Step();
      if (!stepped.ok()) {
        out.errors.push_back(std::string(stepped.status().message()));
        break;
      }
      ++out.steps;
      if (out.draft_status.ok()) out.draft_status = engine.last_step().draft_status;
      for (const SequenceOutput& s : *stepped) {
        auto& dst = out.tokens[s.id];
        dst.insert(dst.end(), s.new_tokens.begin(), s.new_tokens.end());
        if (s.finish != FinishReason::kNone) out.finish[s.id] = s.finish;
        if (s.finish == FinishReason::kError) out.errors.push_back(s.error);
      }
      if (!comms[r]->health().ok()) break;  // the worker drops a broken group here
    }
    out.drafts = engine.speculative_drafts();
    out.accepted = engine.speculative_accepted();
    out.mtp_exchanges = mtp_layer.count;
  });
  return res;
}

// Problems per rank: uneven, so that ranks go idle while others still decode and draft.
std::vector<std::vector<int>> Problems(int world) {
  if (world == 2) return {{0, 1, 2, 3, 4}, {5, 6}};
  return {{0, 1, 2}, {3, 4}, {5}, {}};
}

class EpSpeculativeTest : public ::testing::TestWithParam<int> {};

TEST_P(EpSpeculativeTest, GreedyOutputEqualsTheGroupWithoutSpeculation) {
  const int W = GetParam();
  ASSERT_GE(GetTiny().prompts.size(), 7u);
  GroupRun g;
  g.world = W;
  g.problems = Problems(W);
  g.k.assign(W, 0);
  absl::Time t0 = absl::Now();
  const std::vector<RankResult> plain = RunGroup(g, absl::StrCat("eps/", W, "/0/"));
  const double plain_s = absl::ToDoubleSeconds(absl::Now() - t0);
  for (int r = 0; r < W; ++r) {
    EXPECT_TRUE(plain[r].errors.empty()) << "rank " << r << ": " << plain[r].errors.front();
    EXPECT_EQ(plain[r].mtp_exchanges, 0);
  }
  for (int k : {1, 3}) {
    g.k.assign(W, k);
    t0 = absl::Now();
    const std::vector<RankResult> spec = RunGroup(g, absl::StrCat("eps/", W, "/", k, "/"));
    const double spec_s = absl::ToDoubleSeconds(absl::Now() - t0);
    uint64_t drafts = 0, accepted = 0;
    for (int r = 0; r < W; ++r) {
      SCOPED_TRACE(absl::StrCat("W=", W, " k=", k, " rank ", r));
      EXPECT_TRUE(spec[r].errors.empty()) << spec[r].errors.front();
      EXPECT_TRUE(spec[r].draft_status.ok()) << spec[r].draft_status;
      for (int i : g.problems[r]) {
        const uint64_t id = static_cast<uint64_t>(i);
        ASSERT_TRUE(spec[r].tokens.count(id) && plain[r].tokens.count(id)) << "problem " << i;
        EXPECT_EQ(spec[r].tokens.at(id), plain[r].tokens.at(id)) << "problem " << i;
        EXPECT_EQ(spec[r].finish.at(id), plain[r].finish.at(id)) << "problem " << i;
      }
      // Lockstep: every rank stepped as often and ran k MTP exchanges per step, idle or not.
      EXPECT_EQ(spec[r].steps, spec[0].steps);
      EXPECT_EQ(spec[r].mtp_exchanges, k * spec[r].steps);
      if (!g.problems[r].empty()) {
        EXPECT_GT(spec[r].accepted, 0u);
      }
      drafts += spec[r].drafts;
      accepted += spec[r].accepted;
    }
    EXPECT_LT(spec[0].steps, plain[0].steps);
    std::printf(
        "W=%d k=%d: acceptance %.3f (%llu/%llu), group steps %lld vs %lld without drafts, "
        "%.2f s vs %.2f s\n",
        W, k, drafts ? static_cast<double>(accepted) / drafts : 0.0,
        static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(drafts),
        static_cast<long long>(spec[0].steps), static_cast<long long>(plain[0].steps), spec_s,
        plain_s);
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, EpSpeculativeTest, ::testing::Values(2, 4),
                         [](const auto& info) { return "W" + std::to_string(info.param); });

// Ranks with different k (what the group's formation check refuses, GroupLink::
// CheckSameOnEveryRank) drift apart after the first step: rank 0 (k = 1) starts its next step's
// first MoE exchange while rank 1 (k = 3) runs its second MTP pass. Both fail with DataLoss at
// once (well within the collective timeout) and the group's communicator is aborted.
TEST(EpSpeculativeFailureTest, DifferentDraftCountsFailWithDataLoss) {
  GroupRun g;
  g.world = 2;
  g.k = {1, 3};
  g.problems = {{0}, {1}};
  g.fixed_steps = 4;
  const absl::Time t0 = absl::Now();
  const std::vector<RankResult> res = RunGroup(g, "eps/mismatch/");
  EXPECT_LT(absl::Now() - t0, kTimeout);
  for (int r = 0; r < 2; ++r) {
    std::string seen = res[r].draft_status.ok() ? "" : std::string(res[r].draft_status.message());
    for (const std::string& e : res[r].errors) seen += " " + e;
    EXPECT_NE(seen.find("drifted apart"), std::string::npos) << "rank " << r << ": " << seen;
  }
  EXPECT_EQ(res[1].draft_status.code(), absl::StatusCode::kDataLoss) << res[1].draft_status;
}

}  // namespace
}  // namespace r1
