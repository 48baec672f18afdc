// The CPU model against Hugging Face transformers' DeepseekV3ForCausalLM (float32, dequantised
// weights) on the golden fixtures of tests/golden/ (made by tools/golden/generate.py).
//   fp32:              max |Δlogit| ≤ 1e-3 · max |logit|, prefill and token-by-token decode;
//   FP8 activations:   the target is top-1 agreement ≥ 99 % and relative L2 ≤ 3e-2. These
//                      random-weight fixtures do not reach it: free routing 0.73–0.84 top-1,
//                      relative L2 0.09–0.24; with routing pinned to the fp32 experts 0.86–0.88
//                      and 0.056–0.095. Each FP8 GEMM of random weights adds ~3 % relative error
//                      (e4m3 keeps 3 mantissa bits; nothing in random weights makes the errors
//                      cancel), logits are flat (max 4.5 over 200–256 ids) so top-1 is fragile,
//                      and routing margins as small as 3e-5 let the perturbation flip experts.
//                      The asserted bounds are regression guards at the measured levels, not
//                      the target. On the trained r1-tiny the target is met
//                      (tests/accuracy/fp8_r1_tiny_test.cc: top-1 0.991, relative L2 0.024);
//   routing:           the recorded layer's chosen experts and weights.
#include <cmath>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "common/safetensors.h"
#include "worker/model/cpu_model.h"
#include "worker/model/cpu_ops.h"
#include "worker/model/testing/test_util.h"

namespace r1 {
namespace {

using testing::Agreement;

namespace fs = std::filesystem;

struct Reference {
  std::unique_ptr<SafetensorsFile> file;
  bool Has(const std::string& name) const { return file->Find(name) != nullptr; }
  std::vector<float> F32(const std::string& name) const {
    const TensorInfo* t = file->Find(name);
    EXPECT_NE(t, nullptr) << name;
    std::vector<float> v(t->numel());
    std::memcpy(v.data(), file->View(*t).data, t->nbytes());
    return v;
  }
  std::vector<int> I32(const std::string& name) const {
    const TensorInfo* t = file->Find(name);
    EXPECT_NE(t, nullptr) << name;
    std::vector<int> v(t->numel());
    std::memcpy(v.data(), file->View(*t).data, t->nbytes());
    return v;
  }
};

struct Case {
  std::string dir;
  ModelConfig config;
  std::shared_ptr<const ModelWeights> weights;
  Reference ref;
};

std::vector<std::string> GoldenDirs() {
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator("tests/golden")) {
    if (fs::exists(e.path() / "reference.safetensors")) dirs.push_back(e.path().string());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

Case Load(const std::string& dir) {
  Case c;
  c.dir = dir;
  auto cfg = LoadModelConfig(dir + "/config.json");
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  c.config = *cfg;
  auto src = CheckpointWeightSource::Open(dir);
  EXPECT_TRUE(src.ok()) << src.status();
  auto w = LoadModelWeights(c.config, **src);
  EXPECT_TRUE(w.ok()) << w.status();
  c.weights = std::move(*w);
  auto f = SafetensorsFile::Open(dir + "/reference.safetensors");
  EXPECT_TRUE(f.ok()) << f.status();
  c.ref.file = std::move(*f);
  return c;
}

// Logits for every position of `tokens`, either by one prefill or token by token.
std::vector<float> RunModel(const Case& c, Precision precision, const std::vector<int>& tokens,
                            bool token_by_token, RoutingHook hook = nullptr) {
  CpuModel model(c.weights, {precision, AttentionForm::kAuto});
  model.set_routing_hook(std::move(hook));
  PagedKvCache cache(static_cast<int>(c.config.num_hidden_layers),
                     static_cast<int>(tokens.size() / kBlockTokens + 1), model.row_size(),
                     precision == Precision::kFp8Activations);
  KvSequence kv;
  EXPECT_TRUE(cache.Reserve(&kv, tokens.size()).ok());
  std::vector<float> out;
  std::vector<std::vector<float>> logits;
  if (!token_by_token) {
    std::vector<ForwardItem> items = {{&kv, tokens, 0, true}};
    EXPECT_TRUE(model.Forward(items, cache, &logits).ok());
    return logits[0];
  }
  for (size_t t = 0; t < tokens.size(); ++t) {
    std::vector<ForwardItem> items = {{&kv, {tokens[t]}, static_cast<int64_t>(t), false}};
    EXPECT_TRUE(model.Forward(items, cache, &logits).ok());
    out.insert(out.end(), logits[0].begin(), logits[0].end());
  }
  return out;
}

struct Expected {
  std::string label;
  std::vector<int> tokens;
  std::vector<float> logits;  // rows [first, T)
  int64_t first = 0;
  bool token_by_token = false;
};

std::vector<Expected> Expectations(const Case& c) {
  std::vector<Expected> all;
  for (int i = 0; c.ref.Has("prompt" + std::to_string(i) + ".tokens"); ++i) {
    const std::string p = "prompt" + std::to_string(i);
    Expected e{p, c.ref.I32(p + ".tokens"), {}, 0, false};
    if (c.ref.Has(p + ".logits")) {
      e.logits = c.ref.F32(p + ".logits");
    } else {
      e.logits = c.ref.F32(p + ".logits_last");
      e.first = c.ref.I32(p + ".logits_start")[0];
    }
    all.push_back(std::move(e));
  }
  all.push_back({"decode", c.ref.I32("decode.tokens"), c.ref.F32("decode.logits"), 0, true});
  return all;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, Fp32MatchesTransformers) {
  Case c = Load(GetParam());
  const int64_t V = c.config.vocab_size;
  for (const Expected& e : Expectations(c)) {
    std::vector<float> got = RunModel(c, Precision::kF32, e.tokens, e.token_by_token);
    ASSERT_EQ(got.size(), e.tokens.size() * V);
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < e.logits.size(); ++i) {
      max_diff =
          std::max(max_diff, std::fabs(static_cast<double>(got[e.first * V + i]) - e.logits[i]));
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(e.logits[i])));
    }
    EXPECT_LE(max_diff, 1e-3 * max_ref) << c.dir << " " << e.label;
    std::printf("%s %-8s fp32: max|dlogit| %.3g = %.3g of max|logit| %.3g\n", c.dir.c_str(),
                e.label.c_str(), max_diff, max_diff / max_ref, max_ref);
  }
}

// FP8-activation mode against the transformers logits, twice: as is, and with every MoE layer's
// expert set pinned to the one the fp32 run chose (weights still computed from the FP8 run's own
// router logits). The pinned run measures the FP8 arithmetic; the free run adds the discrete
// expert flips that these random-weight fixtures invite (routing margins down to 3e-5).
TEST_P(GoldenTest, Fp8ActivationsAgreeWithTransformers) {
  Case c = Load(GetParam());
  const int64_t V = c.config.vocab_size;
  const GatingParams gp{static_cast<int>(c.config.n_routed_experts),
                        static_cast<int>(c.config.n_group),
                        static_cast<int>(c.config.topk_group),
                        static_cast<int>(c.config.num_experts_per_tok),
                        c.config.norm_topk_prob,
                        static_cast<float>(c.config.routed_scaling_factor)};
  Agreement free_run, pinned;
  for (const Expected& e : Expectations(c)) {
    std::vector<std::vector<ExpertChoice>> fp32_routing;
    RunModel(c, Precision::kF32, e.tokens, e.token_by_token,
             [&](int, const float*, int64_t, std::vector<ExpertChoice>* choices) {
               fp32_routing.push_back(*choices);
             });
    size_t next = 0;
    std::vector<float> got_pinned = RunModel(
        c, Precision::kFp8Activations, e.tokens, e.token_by_token,
        [&](int, const float* logits, int64_t n, std::vector<ExpertChoice>* choices) {
          ASSERT_LT(next, fp32_routing.size());
          const auto& want = fp32_routing[next++];
          ASSERT_EQ(static_cast<int64_t>(want.size()), n);
          for (int64_t t = 0; t < n; ++t) {
            (*choices)[t] = ChoiceForExperts(logits + t * gp.n_experts, want[t].experts, gp);
          }
        });
    std::vector<float> got = RunModel(c, Precision::kFp8Activations, e.tokens, e.token_by_token);
    const int64_t rows = static_cast<int64_t>(e.logits.size()) / V;
    for (int64_t r = 0; r < rows; ++r) {
      free_run.Add(&got[(e.first + r) * V], &e.logits[r * V], V);
      pinned.Add(&got_pinned[(e.first + r) * V], &e.logits[r * V], V);
    }
  }
  std::printf(
      "%s fp8-activations over %lld positions: routing pinned to fp32: top-1 %.4f, "
      "relative L2 %.4g; free routing: top-1 %.4f, relative L2 %.4g\n",
      c.dir.c_str(), static_cast<long long>(pinned.positions), pinned.top1(), pinned.rel_l2(),
      free_run.top1(), free_run.rel_l2());
  // Regression guards at the measured levels (see the file comment), not the 0.99 / 3e-2 target.
  EXPECT_GE(pinned.top1(), 0.80);
  EXPECT_LE(pinned.rel_l2(), 0.15);
  EXPECT_GE(free_run.top1(), 0.70);
  EXPECT_LE(free_run.rel_l2(), 0.30);
}

TEST_P(GoldenTest, RoutingMatchesTransformers) {
  Case c = Load(GetParam());
  const int layer = c.ref.I32("routing.layer")[0];
  const std::vector<float> input = c.ref.F32("routing.input");
  const std::vector<int> idx = c.ref.I32("routing.topk_idx");
  const std::vector<float> weight = c.ref.F32("routing.topk_weight");
  const int64_t d = c.config.hidden_size, E = c.config.n_routed_experts,
                k = c.config.num_experts_per_tok, n = static_cast<int64_t>(input.size()) / d;
  const LayerWeights& L = c.weights->layers[layer];
  std::vector<float> logits(n * E);
  cpu::MatMulNT(input.data(), L.router.data(), logits.data(), n, E, d);
  GatingParams gp{static_cast<int>(E),
                  static_cast<int>(c.config.n_group),
                  static_cast<int>(c.config.topk_group),
                  static_cast<int>(k),
                  c.config.norm_topk_prob,
                  static_cast<float>(c.config.routed_scaling_factor)};
  for (int64_t t = 0; t < n; ++t) {
    ExpertChoice ch = NoauxTcGate(&logits[t * E], L.router_bias.data(), gp);
    for (int64_t j = 0; j < k; ++j) {
      EXPECT_EQ(ch.experts[j], idx[t * k + j]) << c.dir << " token " << t;
      EXPECT_NEAR(ch.weights[j], weight[t * k + j], 1e-5) << c.dir << " token " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest, ::testing::ValuesIn(GoldenDirs()),
                         [](const auto& info) { return fs::path(info.param).filename().string(); });

}  // namespace
}  // namespace r1
