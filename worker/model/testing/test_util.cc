#include "worker/model/testing/test_util.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>

#include <gtest/gtest.h>

namespace r1::testing {

std::string SmallConfigJson() {
  return R"({
  "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
  "vocab_size": 512, "hidden_size": 128, "intermediate_size": 160,
  "moe_intermediate_size": 48, "num_hidden_layers": 3, "first_k_dense_replace": 1,
  "moe_layer_freq": 1, "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 3,
  "n_group": 4, "topk_group": 2, "topk_method": "noaux_tc", "scoring_func": "sigmoid",
  "norm_topk_prob": true, "routed_scaling_factor": 2.5, "num_attention_heads": 4,
  "num_key_value_heads": 4, "q_lora_rank": 64, "kv_lora_rank": 96, "qk_nope_head_dim": 32,
  "qk_rope_head_dim": 32, "v_head_dim": 32, "attention_bias": false, "hidden_act": "silu",
  "rms_norm_eps": 1e-06, "rope_theta": 10000,
  "rope_scaling": {"type": "yarn", "factor": 8, "original_max_position_embeddings": 512,
                   "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
  "max_position_embeddings": 4096, "bos_token_id": 0, "eos_token_id": 1,
  "tie_word_embeddings": false, "num_nextn_predict_layers": 1,
  "quantization_config": {"quant_method": "fp8", "fmt": "e4m3",
                          "weight_block_size": [128, 128], "activation_scheme": "dynamic"}
})";
}

ModelConfig SmallConfig() {
  auto c = ParseModelConfig(SmallConfigJson(), "small-config");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

std::shared_ptr<const ModelWeights> SmallSyntheticWeights(uint64_t seed) {
  static std::map<uint64_t, std::shared_ptr<const ModelWeights>> cache;
  auto& w = cache[seed];
  if (!w) {
    SyntheticWeightSource src(seed);
    auto m = LoadModelWeights(SmallConfig(), src);
    EXPECT_TRUE(m.ok()) << m.status();
    w = std::move(*m);
  }
  return w;
}

std::vector<int> RandomTokens(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<int> t(n);
  for (int& x : t) x = 2 + static_cast<int>(rng() % 500);
  return t;
}

std::string TempDir(const std::string& suffix) {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path p =
      std::filesystem::temp_directory_path() /
      (std::string("r1_") + std::to_string(::getpid()) + "_" + info->name() + "_" + suffix);
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

std::vector<float> PrefillLogits(std::shared_ptr<const ModelWeights> weights, Precision precision,
                                 const std::vector<int>& tokens) {
  CpuModel model(weights, {precision, AttentionForm::kAuto});
  PagedKvCache cache(static_cast<int>(weights->config.num_hidden_layers),
                     static_cast<int>(tokens.size() / kBlockTokens + 1), model.row_size(),
                     precision == Precision::kFp8Activations);
  KvSequence kv;
  EXPECT_TRUE(cache.Reserve(&kv, tokens.size()).ok());
  std::vector<ForwardItem> items = {{&kv, tokens, 0, true}};
  std::vector<std::vector<float>> logits;
  const absl::Status st = model.Forward(items, cache, &logits);
  EXPECT_TRUE(st.ok()) << st;
  return st.ok() ? logits[0] : std::vector<float>{};
}

}  // namespace r1::testing
