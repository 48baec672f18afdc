// The CPU model against Hugging Face transformers' DeepseekV3ForCausalLM (float32, dequantised
// weights) on the golden fixtures of tests/golden/ (made by tools/golden/generate.py).
//   fp32:              max |Δlogit| ≤ 1e-3 · max |logit|, prefill and token-by-token decode;
//   FP8 activations:   the target is top-1 agreement ≥ 99 % and relative L2 ≤ 3e-2. These
//                      random-weight fixtures do not reach it (measured 0.73–0.84 top-1, relative
//                      L2 0.09–0.24): their routing margins are as small as 3e-5, so the ~1 %
//                      perturbations of FP8 activations and a BF16 cache flip experts, and the
//                      flips dominate the logits (with FP8 quantisation off and only BF16 rounding
//                      on, tiny_a already drifts to 1.8e-2). The asserted bounds below are a
//                      regression guard at the measured level, not the target;
//   routing:           the recorded layer's chosen experts and weights.
#include <cmath>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "common/safetensors.h"
#include "worker/model/cpu_model.h"
#include "worker/model/cpu_ops.h"

namespace r1 {
namespace {

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
                            bool token_by_token) {
  CpuModel model(c.weights, {precision, AttentionForm::kAuto});
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

TEST_P(GoldenTest, Fp8ActivationsAgreeWithTransformers) {
  Case c = Load(GetParam());
  const int64_t V = c.config.vocab_size;
  int64_t positions = 0, agree = 0;
  double err2 = 0, ref2 = 0;
  for (const Expected& e : Expectations(c)) {
    std::vector<float> got = RunModel(c, Precision::kFp8Activations, e.tokens, e.token_by_token);
    const int64_t rows = static_cast<int64_t>(e.logits.size()) / V;
    for (int64_t r = 0; r < rows; ++r) {
      const float* g = &got[(e.first + r) * V];
      const float* w = &e.logits[r * V];
      agree += (std::max_element(g, g + V) - g) == (std::max_element(w, w + V) - w);
      ++positions;
      for (int64_t v = 0; v < V; ++v) {
        err2 += (g[v] - w[v]) * static_cast<double>(g[v] - w[v]);
        ref2 += w[v] * static_cast<double>(w[v]);
      }
    }
  }
  const double top1 = static_cast<double>(agree) / positions, rel_l2 = std::sqrt(err2 / ref2);
  std::printf("%s fp8-activations: top-1 agreement %.4f over %lld positions, relative L2 %.4g\n",
              c.dir.c_str(), top1, static_cast<long long>(positions), rel_l2);
  // Regression guard at the measured level (see the file comment): not the 99 % / 3e-2 target.
  EXPECT_GE(top1, 0.70);
  EXPECT_LE(rel_l2, 0.30);
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
