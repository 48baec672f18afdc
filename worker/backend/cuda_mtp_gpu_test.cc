// GPU tests (label gpu) of MTP speculative decoding on CudaModel, on the trained r1-tiny
// (models/r1-tiny, whose MTP layer was trained with the main model), against the CPU model in
// its FP8-activation mode (bf16 cache, as the GPU keeps) — the reference, cpu_mtp.cc:
//   * Forward's final hidden states (ForwardItem::hidden) against the CPU's;
//   * MtpForward's draft logits and hidden outputs on the same inputs as the CPU's, over a chunk
//     of slots (naive form), single slots (absorbed) and a chained slot, held to the FP8 target
//     of cuda_model_gpu_test (top-1 ≥ 99 %, relative L2 ≤ 3e-2);
//   * decode_attention: a verification item's logits equal token-by-token decode exactly on a
//     row-independent model (streaming GEMMs), although prefill chunks there run the naive form;
//   * the Engine on the CUDA model: greedy tokens with k = 1 and k = 3 drafts identical to plain
//     greedy decoding on held-out problems (exactly on the row-independent model; on the default
//     model, where batch composition picks the FP8 GEMM path, nearly all), printing acceptance;
//   * the wall-time speedup of k = 1…3 over plain greedy decoding at batch 1 and 16, printed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "worker/backend/cuda_model.h"
#include "worker/backend/cuda_weights.h"
#include "worker/backend/testing/block_counter.h"
#include "worker/backend/testing/gpu_model_util.h"
#include "worker/engine/engine.h"
#include "worker/model/cpu_model.h"
#include "worker/model/model_weights.h"
#include "worker/model/testing/test_util.h"
#include "worker/model/weight_source.h"

namespace r1 {
namespace {

using testing::Agreement;
using testing::BlockCounter;

constexpr char kTiny[] = "models/r1-tiny";
constexpr int64_t kValidVocab = 16025;  // tokenizer ids 0–16024 (models/r1-tiny/README.md)

// Relative L2 distance of two equally long vectors (1 when the sizes differ).
double RelL2(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size() || want.empty()) return 1.0;
  double e = 0, r = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    e += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
    r += want[i] * static_cast<double>(want[i]);
  }
  return std::sqrt(e / r);
}

// Relative L2 distance over every pair of vectors added (size mismatches counted apart).
struct Distance {
  double err2 = 0, ref2 = 0;
  int64_t rows = 0, mismatched = 0;
  void Add(const std::vector<float>& got, const std::vector<float>& want, int64_t width) {
    if (got.size() != want.size()) {
      ++mismatched;
      return;
    }
    for (size_t i = 0; i < got.size(); ++i) {
      err2 += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
      ref2 += want[i] * static_cast<double>(want[i]);
    }
    rows += static_cast<int64_t>(got.size()) / width;
  }
  double rel_l2() const { return ref2 > 0 ? std::sqrt(err2 / ref2) : 1.0; }
};

class CudaMtpGpuTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cfg = LoadModelConfig(std::string(kTiny) + "/config.json");
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    config_ = new ModelConfig(*cfg);
    auto src = CheckpointWeightSource::Open(kTiny);
    ASSERT_TRUE(src.ok()) << src.status();
    LoadOptions lo;
    lo.load_mtp = true;
    auto w = LoadModelWeights(*cfg, **src, lo);
    ASSERT_TRUE(w.ok()) << w.status();
    cpu_ = new std::shared_ptr<const ModelWeights>(std::move(*w));
    CudaLoadOptions glo;
    glo.load_mtp = true;
    auto gw = LoadCudaWeights(*cfg, **src, glo);
    ASSERT_TRUE(gw.ok()) << gw.status();
    gpu_weights_ = new std::shared_ptr<const CudaWeights>(std::move(*gw));
    auto m = CudaModel::Create(*gpu_weights_, kBlocks);
    ASSERT_TRUE(m.ok()) << m.status();
    gpu_ = m->release();
    std::ifstream in(std::string(kTiny) + "/heldout.jsonl");
    ASSERT_TRUE(in) << kTiny << "/heldout.jsonl";
    prompts_ = new std::vector<std::vector<int>>;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      prompts_->push_back(
          nlohmann::json::parse(line).at("prompt_token_ids").get<std::vector<int>>());
    }
  }
  static void TearDownTestSuite() {
    delete gpu_;
    delete gpu_weights_;
    delete cpu_;
    delete config_;
    delete prompts_;
  }

  // Prompt i with the GPU's greedy answer (up to `max_new` tokens), from one batched run.
  static std::vector<std::vector<int>> Sequences(int count, int max_new) {
    std::vector<std::vector<int>> seqs(prompts_->begin(), prompts_->begin() + count);
    const std::vector<std::vector<int>> answers = testing::GpuGreedyBatch(
        *gpu_, seqs, max_new, static_cast<int>(config_->eos_token_id), kValidVocab);
    for (int i = 0; i < count && i < static_cast<int>(answers.size()); ++i) {
      seqs[i].insert(seqs[i].end(), answers[i].begin(), answers[i].end());
    }
    return seqs;
  }

  static constexpr int kBlocks = 1024;
  static ModelConfig* config_;
  static std::shared_ptr<const ModelWeights>* cpu_;
  static std::shared_ptr<const CudaWeights>* gpu_weights_;
  static CudaModel* gpu_;
  static std::vector<std::vector<int>>* prompts_;
};

ModelConfig* CudaMtpGpuTest::config_ = nullptr;
std::shared_ptr<const ModelWeights>* CudaMtpGpuTest::cpu_ = nullptr;
std::shared_ptr<const CudaWeights>* CudaMtpGpuTest::gpu_weights_ = nullptr;
CudaModel* CudaMtpGpuTest::gpu_ = nullptr;
std::vector<std::vector<int>>* CudaMtpGpuTest::prompts_ = nullptr;

TEST_F(CudaMtpGpuTest, LoadsTheMtpModuleOnlyWhenAsked) {
  EXPECT_EQ(gpu_->mtp_layers(), 1);
  ASSERT_EQ((*gpu_weights_)->mtp.size(), 1u);
  const DeviceMtp& m = (*gpu_weights_)->mtp[0];
  EXPECT_NE(m.eh_proj, nullptr);
  EXPECT_EQ(m.layer.moe, config_->is_moe_layer(config_->num_hidden_layers));
  EXPECT_EQ(static_cast<int64_t>(m.layer.held_experts.size()), config_->n_routed_experts);
  auto src = CheckpointWeightSource::Open(kTiny);
  ASSERT_TRUE(src.ok()) << src.status();
  // Expert-parallel placement applies to the MTP layer (layer num_hidden_layers) too.
  CudaLoadOptions half;
  half.load_mtp = true;
  const int mtp_layer = static_cast<int>(config_->num_hidden_layers);
  half.want_expert = [mtp_layer](int layer, int e) { return layer != mtp_layer || e % 2 == 0; };
  auto w = LoadCudaWeights(*config_, **src, half);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(static_cast<int64_t>((*w)->mtp[0].layer.held_experts.size()),
            config_->n_routed_experts / 2);
  EXPECT_EQ(static_cast<int64_t>((*w)->layers.back().held_experts.size()),
            config_->n_routed_experts);
  // Without an expert executor a model needs every expert of the MTP layer as well.
  EXPECT_EQ(
      CudaModel::Create(std::shared_ptr<const CudaWeights>(std::move(*w)), 16).status().code(),
      absl::StatusCode::kFailedPrecondition);
  auto plain = LoadCudaWeights(*config_, **src);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE((*plain)->mtp.empty());
  auto m0 = CudaModel::Create(std::shared_ptr<const CudaWeights>(std::move(*plain)), 16);
  ASSERT_TRUE(m0.ok()) << m0.status();
  EXPECT_EQ((*m0)->mtp_layers(), 0);
  KvSequence kv;
  kv.blocks = {0};
  std::vector<float> h(config_->hidden_size);
  std::vector<std::vector<float>> logits, hidden;
  EXPECT_EQ((*m0)->MtpForward({{&kv, 0, {5}, h.data()}}, &logits, &hidden).code(),
            absl::StatusCode::kFailedPrecondition);
}

// Forward's hidden states and the MTP module's drafts against the CPU's on the same inputs.
TEST_F(CudaMtpGpuTest, ForwardHiddenAndMtpForwardMatchCpu) {
  const int64_t d = config_->hidden_size, V = config_->vocab_size;
  const auto seqs = Sequences(8, 80);
  CpuModel cpu(*cpu_, {Precision::kFp8Activations, AttentionForm::kAuto});
  PagedKvCache cache(static_cast<int>(config_->num_hidden_layers) + 1, 256, cpu.row_size(),
                     /*bf16_values=*/true);
  BlockCounter blocks(gpu_->kv_blocks());
  Agreement drafts;
  Distance main_hidden, mtp_hidden;
  for (const std::vector<int>& tokens : seqs) {
    // Main forward over every position but the last (which has no next token), both models.
    const int64_t T = static_cast<int64_t>(tokens.size()) - 1;
    KvSequence ckv, gkv;
    ASSERT_TRUE(cache.Reserve(&ckv, T + 2).ok());
    ASSERT_TRUE(blocks.Reserve(&gkv, T + 2));
    std::vector<float> ch, gh;
    std::vector<ForwardItem> citems = {{&ckv, std::vector<int>(tokens.begin(), tokens.end() - 1), 0,
                                        false}},
                             gitems = citems;
    citems[0].hidden = &ch;
    gitems[0].kv = &gkv;
    gitems[0].hidden = &gh;
    std::vector<std::vector<float>> cl, gl;
    ASSERT_TRUE(cpu.Forward(citems, cache, &cl).ok());
    ASSERT_TRUE(gpu_->Forward(gitems, &gl).ok());
    ASSERT_EQ(gh.size(), static_cast<size_t>(T * d));
    main_hidden.Add(gh, ch, d);

    // MTP, fed the CPU's hidden states on both: a chunk of slots [0, half), then every later
    // slot alone, then one chained slot at T from the last slot's output and its draft.
    auto compare = [&](const std::vector<MtpItem>& c_items, const std::vector<MtpItem>& g_items,
                       std::vector<float>* out_hidden, int* out_draft) {
      std::vector<std::vector<float>> c_logits, c_hidden, g_logits, g_hidden;
      ASSERT_TRUE(cpu.MtpForward(c_items, cache, &c_logits, &c_hidden).ok());
      const absl::Status st = gpu_->MtpForward(g_items, &g_logits, &g_hidden);
      ASSERT_TRUE(st.ok()) << st;
      ASSERT_EQ(g_logits.size(), c_logits.size());
      for (size_t i = 0; i < c_logits.size(); ++i) {
        ASSERT_EQ(g_logits[i].size(), static_cast<size_t>(V));
        drafts.Add(g_logits[i].data(), c_logits[i].data(), V);
        mtp_hidden.Add(g_hidden[i], c_hidden[i], d);
      }
      *out_hidden = c_hidden.back();
      *out_draft = static_cast<int>(
          std::max_element(c_logits.back().begin(), c_logits.back().begin() + kValidVocab) -
          c_logits.back().begin());
    };
    std::vector<float> last_hidden;
    int draft = 0;
    const int64_t half = T / 2;
    MtpItem chunk{&ckv, 0, std::vector<int>(tokens.begin() + 1, tokens.begin() + half + 1),
                  ch.data()};
    MtpItem gchunk = chunk;
    gchunk.kv = &gkv;
    compare({chunk}, {gchunk}, &last_hidden, &draft);
    for (int64_t p = half; p < T; ++p) {
      MtpItem one{&ckv, p, {tokens[p + 1]}, &ch[p * d]};
      MtpItem gone = one;
      gone.kv = &gkv;
      compare({one}, {gone}, &last_hidden, &draft);
    }
    const std::vector<float> fed = last_hidden;
    MtpItem chained{&ckv, T, {draft}, fed.data()};
    MtpItem gchained = chained;
    gchained.kv = &gkv;
    compare({chained}, {gchained}, &last_hidden, &draft);
    cache.Release(&ckv);
  }
  std::printf(
      "r1-tiny CUDA vs CPU FP8: Forward hidden over %lld rows rel-L2 %.4f; MTP drafts over %lld "
      "slots top-1 %.4f rel-L2 %.4f, their hidden rel-L2 %.4f\n",
      static_cast<long long>(main_hidden.rows), main_hidden.rel_l2(),
      static_cast<long long>(drafts.positions), drafts.top1(), drafts.rel_l2(),
      mtp_hidden.rel_l2());
  EXPECT_EQ(main_hidden.mismatched + mtp_hidden.mismatched, 0);
  // The main model's last hidden state differs from the CPU FP8 model's as its logits do from the
  // CPU fp32 model's (cuda_model_gpu_test: rel-L2 0.046 for the default model's decode; 0.048 here
  // on H100); the MTP head's own error below stays at a third of that.
  EXPECT_LE(main_hidden.rel_l2(), 6e-2);
  EXPECT_GE(drafts.top1(), 0.99);
  EXPECT_LE(drafts.rel_l2(), 3e-2);
  EXPECT_LE(mtp_hidden.rel_l2(), 3e-2);
}

// Several MTP items in one batch equal each alone (within rounding of the batch's GEMM paths).
TEST_F(CudaMtpGpuTest, BatchedMtpItemsEqualEachAlone) {
  const int64_t d = config_->hidden_size, V = config_->vocab_size;
  const auto seqs = Sequences(4, 40);
  BlockCounter blocks(gpu_->kv_blocks());
  std::vector<KvSequence> kv(seqs.size());
  std::vector<std::vector<float>> hid(seqs.size());
  std::vector<MtpItem> items;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t T = static_cast<int64_t>(seqs[i].size()) - 1;
    ASSERT_TRUE(blocks.Reserve(&kv[i], T + 1));
    std::vector<ForwardItem> f = {
        {&kv[i], std::vector<int>(seqs[i].begin(), seqs[i].end() - 1), 0, false}};
    f[0].hidden = &hid[i];
    std::vector<std::vector<float>> logits;
    ASSERT_TRUE(gpu_->Forward(f, &logits).ok());
    ASSERT_EQ(hid[i].size(), static_cast<size_t>(T * d));
    items.push_back(
        {&kv[i], 0, std::vector<int>(seqs[i].begin() + 1, seqs[i].end()), hid[i].data()});
  }
  std::vector<std::vector<float>> both, both_h;
  ASSERT_TRUE(gpu_->MtpForward(items, &both, &both_h).ok());
  ASSERT_EQ(both.size(), items.size());
  Agreement a;
  for (size_t i = 0; i < items.size(); ++i) {
    std::vector<std::vector<float>> alone, alone_h;
    ASSERT_TRUE(gpu_->MtpForward({items[i]}, &alone, &alone_h).ok());
    a.Add(both[i].data(), alone[0].data(), V);
    EXPECT_LE(RelL2(both_h[i], alone_h[0]), 1e-2) << i;
  }
  std::printf("r1-tiny CUDA MTP, %zu items batched vs alone: top-1 %.4f rel-L2 %.3g\n",
              items.size(), a.top1(), a.rel_l2());
  EXPECT_EQ(a.top1(), 1.0);
  EXPECT_LE(a.rel_l2(), 1e-2);
  // Bad items are refused before anything runs.
  std::vector<std::vector<float>> l, h;
  MtpItem bad = items[0];
  bad.start = kv[0].capacity();
  EXPECT_EQ(gpu_->MtpForward({bad}, &l, &h).code(), absl::StatusCode::kInvalidArgument);
  bad = items[0];
  bad.next_tokens[0] = static_cast<int>(V);
  EXPECT_EQ(gpu_->MtpForward({bad}, &l, &h).code(), absl::StatusCode::kInvalidArgument);
}

// A verification item (the last token and drafts, decode_attention, logits at every position)
// gives each position the logits token-by-token decode gives. On a row-independent model
// (streaming FP8 GEMMs; prefill chunks still in the naive form) they are identical.
TEST_F(CudaMtpGpuTest, DecodeAttentionEqualsTokenByTokenDecode) {
  auto m = CudaModel::Create(*gpu_weights_, 64, {.cublaslt_fp8 = false});
  ASSERT_TRUE(m.ok()) << m.status();
  CudaModel& model = **m;
  const int64_t V = config_->vocab_size;
  const std::vector<int> tokens = Sequences(1, 40)[0];
  const int64_t P = static_cast<int64_t>(tokens.size()) - 4;  // prefill; 4 verified positions
  auto run = [&](bool verify, bool decode_attention) {
    BlockCounter blocks(model.kv_blocks());
    KvSequence kv;
    EXPECT_TRUE(blocks.Reserve(&kv, tokens.size()));
    std::vector<ForwardItem> items = {
        {&kv, std::vector<int>(tokens.begin(), tokens.begin() + P), 0, false}};
    std::vector<std::vector<float>> logits;
    EXPECT_TRUE(model.Forward(items, &logits).ok());
    std::vector<float> out;
    if (verify) {
      items = {{&kv, std::vector<int>(tokens.begin() + P, tokens.end()), P, true}};
      items[0].decode_attention = decode_attention;
      EXPECT_TRUE(model.Forward(items, &logits).ok());
      return logits[0];
    }
    for (int64_t p = P; p < static_cast<int64_t>(tokens.size()); ++p) {
      items = {{&kv, {tokens[p]}, p, false}};
      EXPECT_TRUE(model.Forward(items, &logits).ok());
      out.insert(out.end(), logits[0].begin(), logits[0].end());
    }
    return out;
  };
  const std::vector<float> decode = run(false, false);
  Agreement absorbed, naive;
  EXPECT_TRUE(absorbed.AddRows(run(true, true), decode, V));
  EXPECT_TRUE(naive.AddRows(run(true, false), decode, V));
  std::printf(
      "r1-tiny CUDA verification of 4 positions vs token-by-token decode: decode_attention "
      "rel-L2 %.3g, naive chunk rel-L2 %.3g\n",
      absorbed.rel_l2(), naive.rel_l2());
  EXPECT_EQ(absorbed.err2, 0.0);
}

struct RunResult {
  std::map<uint64_t, std::vector<int>> tokens;
  uint64_t steps = 0, drafts = 0, accepted = 0, emitted = 0, verifying = 0;
  double seconds = 0;  // wall time from the first submission until the engine is idle
  uint64_t generated() const {
    uint64_t n = 0;
    for (const auto& [id, t] : tokens) n += t.size();
    return n;
  }
};

// Greedy decoding of the first `n` held-out problems on an Engine over a CUDA model, `batch`
// sequences at a time, with k drafts per step.
RunResult Decode(std::shared_ptr<const CudaWeights> weights, CudaModelOptions mo, int n, int batch,
                 int k, const std::vector<std::vector<int>>& prompts) {
  EngineOptions o;
  o.max_step_tokens = 512;
  o.max_running = batch;
  o.kv_blocks = batch * 4 + 8;
  o.valid_vocab = kValidVocab;
  o.speculative_tokens = k;
  RunResult res;
  auto m = CudaModel::Create(std::move(weights), o.kv_blocks, mo);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return res;
  Engine engine(std::move(*m), o);
  EXPECT_EQ(engine.speculative_tokens(), k);
  const absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    SequenceRequest r;
    r.id = i;
    r.prompt = prompts[i];
    r.max_new_tokens = 160;
    EXPECT_TRUE(engine.Submit(r).ok());
  }
  while (!engine.Idle() && res.steps < 100000) {
    auto out = engine.Step();
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) break;
    ++res.steps;
    for (const auto& s : *out) {
      EXPECT_NE(s.finish, FinishReason::kError) << s.error;
      res.tokens[s.id].insert(res.tokens[s.id].end(), s.new_tokens.begin(), s.new_tokens.end());
    }
  }
  res.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  res.drafts = engine.speculative_drafts();
  res.accepted = engine.speculative_accepted();
  res.emitted = engine.speculative_emitted();
  res.verifying = engine.speculative_steps();
  EXPECT_EQ(engine.free_kv_blocks(), engine.kv_blocks());
  return res;
}

// Greedy tokens with drafts against plain greedy decoding: identical on the row-independent
// model (streaming GEMMs, every token in the absorbed form); on the default model, where a step's
// token count picks the FP8 GEMM path and prefill runs the naive form, near-ties may flip, so
// nearly all problems must match.
TEST_F(CudaMtpGpuTest, EngineSpeculationGivesPlainGreedyTokens) {
  constexpr int kProblems = 32, kBatch = 16;
  const CudaModelOptions row_independent{.cublaslt_fp8 = false, .naive_prefill_max_rows = 0};
  for (const bool exact : {true, false}) {
    const CudaModelOptions mo = exact ? row_independent : CudaModelOptions{};
    const RunResult plain = Decode(*gpu_weights_, mo, kProblems, kBatch, 0, *prompts_);
    for (int k : {1, 3}) {
      const RunResult spec = Decode(*gpu_weights_, mo, kProblems, kBatch, k, *prompts_);
      int same = 0;
      for (int i = 0; i < kProblems; ++i) {
        const std::vector<int> got =
            spec.tokens.count(i) != 0 ? spec.tokens.at(i) : std::vector<int>{};
        same += got == plain.tokens.at(i);
        if (exact) {
          EXPECT_EQ(got, plain.tokens.at(i)) << "problem " << i << " k " << k;
        }
      }
      const double rate = spec.drafts ? static_cast<double>(spec.accepted) / spec.drafts : 0;
      std::printf(
          "r1-tiny CUDA Engine (%s model), %d problems, batch %d, k %d: %d/%d identical to "
          "plain greedy; acceptance %.4f (%llu/%llu), tokens per verifying step %.3f, engine "
          "steps %llu vs %llu\n",
          exact ? "row-independent" : "default", kProblems, kBatch, k, same, kProblems, rate,
          static_cast<unsigned long long>(spec.accepted),
          static_cast<unsigned long long>(spec.drafts),
          static_cast<double>(spec.emitted) / std::max<uint64_t>(spec.verifying, 1),
          static_cast<unsigned long long>(spec.steps),
          static_cast<unsigned long long>(plain.steps));
      EXPECT_GE(same, exact ? kProblems : kProblems - 2);
      // As on the CPU (r1_tiny_speculative_test): the module was trained for one draft.
      EXPECT_GT(rate, k == 1 ? 0.95 : 0.5);
      EXPECT_LT(spec.steps, plain.steps);
    }
  }
}

// The wall-time effect of speculation on r1-tiny, greedy, at batch 1 and 16 (issue: ≥ 1.8× at
// batch 1): tokens per second with k = 0…3 drafts and the speedup over k = 0, printed. Asserted
// only what must hold whatever the GPU: speculation runs fewer engine steps for the same tokens.
TEST_F(CudaMtpGpuTest, SpeculationSpeedupAtBatch1And16) {
  for (const auto& [problems, batch] : std::vector<std::pair<int, int>>{{8, 1}, {32, 16}}) {
    const RunResult plain = Decode(*gpu_weights_, {}, problems, batch, 0, *prompts_);
    const double plain_rate = plain.generated() / std::max(plain.seconds, 1e-9);
    std::printf(
        "r1-tiny CUDA speculation, batch %d, %d problems: k 0: %llu tokens in %.3f s, %.1f "
        "tok/s, %llu steps\n",
        batch, problems, static_cast<unsigned long long>(plain.generated()), plain.seconds,
        plain_rate, static_cast<unsigned long long>(plain.steps));
    for (int k : {1, 2, 3}) {
      const RunResult spec = Decode(*gpu_weights_, {}, problems, batch, k, *prompts_);
      const double rate = spec.generated() / std::max(spec.seconds, 1e-9);
      std::printf(
          "  k %d: %llu tokens in %.3f s, %.1f tok/s (%.2fx), %llu steps, %.3f tokens per "
          "verifying step, acceptance %.4f\n",
          k, static_cast<unsigned long long>(spec.generated()), spec.seconds, rate,
          rate / plain_rate, static_cast<unsigned long long>(spec.steps),
          static_cast<double>(spec.emitted) / std::max<uint64_t>(spec.verifying, 1),
          spec.drafts ? static_cast<double>(spec.accepted) / spec.drafts : 0.0);
      EXPECT_LT(spec.steps, plain.steps) << "batch " << batch << " k " << k;
    }
  }
}

}  // namespace
}  // namespace r1
