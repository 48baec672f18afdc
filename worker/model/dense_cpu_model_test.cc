// DenseCpuModel on small random checkpoints written here: the batching contract (a mixed batch
// of prefill chunks and decode tokens gives each sequence the logits of its own full prefill),
// tied embeddings, and loader / Forward errors. Numerics against transformers are in
// dense_golden_test.cc.
#include "worker/model/dense_cpu_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "common/numeric.h"
#include "common/safetensors.h"
#include "nlohmann/json.hpp"
#include "worker/model/dense_weight_plan.h"
#include "worker/model/testing/test_util.h"

namespace r1 {
namespace {

nlohmann::json TinyConfig(const std::string& arch, bool tied) {
  nlohmann::json j = {{"architectures", {arch}},    {"vocab_size", 96},
                      {"hidden_size", 32},          {"intermediate_size", 48},
                      {"num_hidden_layers", 2},     {"num_attention_heads", 4},
                      {"num_key_value_heads", 2},   {"max_position_embeddings", 512},
                      {"rms_norm_eps", 1e-6},       {"rope_theta", 10000.0},
                      {"tie_word_embeddings", tied}};
  if (arch == "LlamaForCausalLM") {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", 8.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 64}};
  }
  return j;
}

struct WriteOptions {
  DType dtype = DType::kBF16;
  std::string skip;       // tensor left out
  std::string bad_shape;  // tensor written with one more row
};

// Writes config.json and model.safetensors with random weights for `j` into `dir`.
void WriteCheckpoint(const std::string& dir, const nlohmann::json& j, const WriteOptions& o) {
  std::ofstream(dir + "/config.json") << j.dump();
  auto c = ParseDenseModelConfig(j.dump());
  ASSERT_TRUE(c.ok()) << c.status();
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  SafetensorsWriter w;
  for (DenseTensor t : PlanDenseTensors(*c)) {
    if (t.name == o.skip) continue;
    if (t.name == o.bad_shape) t.shape[0] += 1;
    const bool norm = t.role == TensorRole::kNorm;
    const float scale = t.shape.size() == 2 && t.role != TensorRole::kEmbedding
                            ? 1.0f / std::sqrt(static_cast<float>(t.shape[1]))
                            : 0.5f;
    std::string bytes;
    for (uint64_t i = 0; i < t.numel(); ++i) {
      const float v = norm ? 1.0f + 0.1f * normal(rng) : scale * normal(rng);
      if (o.dtype == DType::kF32) {
        bytes.append(reinterpret_cast<const char*>(&v), 4);
      } else {
        const uint16_t h = FloatToBf16(v);
        bytes.append(reinterpret_cast<const char*>(&h), 2);
      }
    }
    ASSERT_TRUE(w.Add(t.name, o.dtype, t.shape, std::move(bytes)).ok());
  }
  ASSERT_TRUE(w.WriteFile(dir + "/model.safetensors").ok());
}

std::shared_ptr<const DenseWeights> Load(const std::string& dir) {
  auto w = LoadDenseModelDir(dir);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? std::shared_ptr<const DenseWeights>(std::move(*w)) : nullptr;
}

std::vector<int> Tokens(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<int> t(n);
  for (int& x : t) x = static_cast<int>(rng() % 96);
  return t;
}

// All-position logits of one prefill of `tokens` in a fresh cache.
std::vector<float> Prefill(DenseCpuModel& m, const std::vector<int>& tokens) {
  PagedKvCache cache(2, 8, m.row_size(), false);
  KvSequence kv;
  EXPECT_TRUE(cache.Reserve(&kv, tokens.size()).ok());
  std::vector<ForwardItem> items = {{&kv, tokens, 0, true}};
  std::vector<std::vector<float>> logits;
  EXPECT_TRUE(m.Forward(items, cache, &logits).ok());
  return logits[0];
}

void ExpectRowNear(const float* got, const float* want, int64_t V, const std::string& what) {
  float max_ref = 0, max_diff = 0;
  for (int64_t v = 0; v < V; ++v) {
    max_ref = std::max(max_ref, std::fabs(want[v]));
    max_diff = std::max(max_diff, std::fabs(got[v] - want[v]));
  }
  EXPECT_LE(max_diff, 1e-5f * max_ref) << what;
}

class DenseCpuModelTest : public ::testing::TestWithParam<std::string> {};

// Sequence A: 70-token prompt prefilled, then one decode token; B: a 20-token chunk then a
// 50-token chunk (crossing a 64-token block); C: a 3-token prompt. Steps mix them.
TEST_P(DenseCpuModelTest, MixedBatchMatchesSeparatePrefills) {
  const std::string dir = testing::TempDir("ckpt");
  WriteCheckpoint(dir, TinyConfig(GetParam(), false), {});
  DenseCpuModel m(Load(dir));
  const int64_t V = 96;
  const std::vector<int> a = Tokens(71, 1), b = Tokens(70, 2), c = Tokens(3, 3);
  const std::vector<float> want_a = Prefill(m, a), want_b = Prefill(m, b), want_c = Prefill(m, c);

  PagedKvCache cache(2, 16, m.row_size(), false);
  KvSequence ka, kb, kc;
  ASSERT_TRUE(cache.Reserve(&ka, 71).ok());
  ASSERT_TRUE(cache.Reserve(&kb, 70).ok());
  ASSERT_TRUE(cache.Reserve(&kc, 3).ok());
  std::vector<std::vector<float>> logits;
  std::vector<ForwardItem> step1 = {{&ka, {a.begin(), a.begin() + 70}, 0, false},
                                    {&kb, {b.begin(), b.begin() + 20}, 0, true}};
  ASSERT_TRUE(m.Forward(step1, cache, &logits).ok());
  ExpectRowNear(logits[0].data(), &want_a[69 * V], V, "A prefill last row");
  for (int t = 0; t < 20; ++t) ExpectRowNear(&logits[1][t * V], &want_b[t * V], V, "B chunk 1");
  EXPECT_EQ(ka.length, 70);
  EXPECT_EQ(kb.length, 20);

  std::vector<ForwardItem> step2 = {
      {&kb, {b.begin() + 20, b.end()}, 20, true}, {&ka, {a[70]}, 70, false}, {&kc, c, 0, false}};
  ASSERT_TRUE(m.Forward(step2, cache, &logits).ok());
  for (int t = 0; t < 50; ++t) {
    ExpectRowNear(&logits[0][t * V], &want_b[(20 + t) * V], V, "B chunk 2");
  }
  ExpectRowNear(logits[1].data(), &want_a[70 * V], V, "A decode");
  ExpectRowNear(logits[2].data(), &want_c[2 * V], V, "C prefill");
  EXPECT_EQ(kb.length, 70);
  EXPECT_EQ(ka.length, 71);
}

TEST_P(DenseCpuModelTest, F32CheckpointLoadsAndBf16CacheStaysClose) {
  const std::string dir = testing::TempDir("ckpt");
  WriteCheckpoint(dir, TinyConfig(GetParam(), false), {DType::kF32, "", ""});
  DenseCpuModel m(Load(dir));
  const std::vector<int> tokens = Tokens(30, 4);
  const std::vector<float> f32 = Prefill(m, tokens);
  PagedKvCache cache(2, 4, m.row_size(), /*bf16_values=*/true);
  KvSequence kv;
  ASSERT_TRUE(cache.Reserve(&kv, 30).ok());
  std::vector<ForwardItem> items = {{&kv, tokens, 0, true}};
  std::vector<std::vector<float>> logits;
  ASSERT_TRUE(m.Forward(items, cache, &logits).ok());
  testing::Agreement agree;
  ASSERT_TRUE(agree.AddRows(logits[0], f32, 96));
  EXPECT_LT(agree.rel_l2(), 2e-2);
}

INSTANTIATE_TEST_SUITE_P(Families, DenseCpuModelTest,
                         ::testing::Values("Qwen2ForCausalLM", "LlamaForCausalLM"),
                         [](const auto& info) { return info.param.substr(0, 5); });

TEST(DenseWeightsTest, TiedEmbeddingsNeedNoLmHead) {
  const std::string dir = testing::TempDir("ckpt");
  WriteCheckpoint(dir, TinyConfig("LlamaForCausalLM", true), {});
  auto w = Load(dir);
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->lm_head.empty());
  EXPECT_EQ(w->lm_head_rows(), w->embed.data());
}

TEST(DenseWeightsTest, ErrorsNameTheTensorAndFile) {
  const std::string dir = testing::TempDir("ckpt");
  WriteCheckpoint(dir, TinyConfig("Qwen2ForCausalLM", false), {DType::kBF16, "lm_head.weight", ""});
  auto w = LoadDenseModelDir(dir);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("lm_head.weight"), std::string::npos) << w.status();
  EXPECT_NE(w.status().message().find("model.safetensors"), std::string::npos) << w.status();

  WriteCheckpoint(dir, TinyConfig("Qwen2ForCausalLM", false),
                  {DType::kBF16, "", "model.layers.1.self_attn.k_proj.bias"});
  w = LoadDenseModelDir(dir);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("'model.layers.1.self_attn.k_proj.bias': shape [17]"),
            std::string::npos)
      << w.status();
  EXPECT_NE(w.status().message().find("model.safetensors"), std::string::npos) << w.status();

  WriteCheckpoint(dir, TinyConfig("Qwen2ForCausalLM", false), {DType::kF16, "", ""});
  w = LoadDenseModelDir(dir);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("'model.embed_tokens.weight': dtype F16"), std::string::npos)
      << w.status();
}

TEST(DenseCpuModelErrorsTest, RefusesACacheOfAnotherRowSizeAndBadItems) {
  const std::string dir = testing::TempDir("ckpt");
  WriteCheckpoint(dir, TinyConfig("Qwen2ForCausalLM", false), {});
  DenseCpuModel m(Load(dir));
  EXPECT_EQ(m.row_size(), 2 * 2 * 8);
  EXPECT_EQ(m.config().architecture, Architecture::kQwen2);
  std::vector<std::vector<float>> logits;
  PagedKvCache wrong(2, 2, m.row_size() + 1, false);
  KvSequence kv;
  ASSERT_TRUE(wrong.Reserve(&kv, 4).ok());
  std::vector<ForwardItem> items = {{&kv, {1, 2}, 0, false}};
  EXPECT_EQ(m.Forward(items, wrong, &logits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.length, 0);
  PagedKvCache cache(2, 2, m.row_size(), false);
  KvSequence kv2;
  ASSERT_TRUE(cache.Reserve(&kv2, 4).ok());
  items = {{&kv2, {1, 96}, 0, false}};  // token id out of range
  EXPECT_EQ(m.Forward(items, cache, &logits).code(), absl::StatusCode::kInvalidArgument);
  items = {{&kv2, {1, 2}, 1, false}};  // does not follow the cached length
  EXPECT_EQ(m.Forward(items, cache, &logits).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace r1
