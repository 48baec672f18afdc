#include "common/model_config.h"

#include <gtest/gtest.h>

#include "common/file_util.h"

namespace r1 {
namespace {

constexpr char kR1Config[] = "tests/fixtures/deepseek-r1-config.json";

TEST(ModelConfigTest, ParsesEveryFieldOfDeepSeekR1) {
  auto c = LoadModelConfig(kR1Config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architectures, std::vector<std::string>{"DeepseekV3ForCausalLM"});
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->attention_dropout, 0.0);
  EXPECT_EQ(c->bos_token_id, 0);
  EXPECT_EQ(c->eos_token_id, 1);
  EXPECT_EQ(c->ep_size, 1);
  EXPECT_EQ(c->first_k_dense_replace, 3);
  EXPECT_EQ(c->hidden_act, "silu");
  EXPECT_EQ(c->hidden_size, 7168);
  EXPECT_DOUBLE_EQ(c->initializer_range, 0.02);
  EXPECT_EQ(c->intermediate_size, 18432);
  EXPECT_EQ(c->kv_lora_rank, 512);
  EXPECT_EQ(c->max_position_embeddings, 163840);
  EXPECT_EQ(c->model_type, "deepseek_v3");
  EXPECT_EQ(c->moe_intermediate_size, 2048);
  EXPECT_EQ(c->moe_layer_freq, 1);
  EXPECT_EQ(c->n_group, 8);
  EXPECT_EQ(c->n_routed_experts, 256);
  EXPECT_EQ(c->n_shared_experts, 1);
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_EQ(c->num_attention_heads, 128);
  EXPECT_EQ(c->num_experts_per_tok, 8);
  EXPECT_EQ(c->num_hidden_layers, 61);
  EXPECT_EQ(c->num_key_value_heads, 128);
  EXPECT_EQ(c->num_nextn_predict_layers, 1);
  EXPECT_EQ(c->q_lora_rank, 1536);
  EXPECT_EQ(c->qk_nope_head_dim, 128);
  EXPECT_EQ(c->qk_rope_head_dim, 64);
  ASSERT_TRUE(c->quantization_config.has_value());
  EXPECT_EQ(c->quantization_config->activation_scheme, "dynamic");
  EXPECT_EQ(c->quantization_config->fmt, "e4m3");
  EXPECT_EQ(c->quantization_config->quant_method, "fp8");
  EXPECT_EQ(c->quantization_config->weight_block_size, (std::vector<int64_t>{128, 128}));
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_EQ(c->rope_scaling->beta_fast, 32.0);
  EXPECT_EQ(c->rope_scaling->beta_slow, 1.0);
  EXPECT_EQ(c->rope_scaling->factor, 40.0);
  EXPECT_EQ(c->rope_scaling->mscale, 1.0);
  EXPECT_EQ(c->rope_scaling->mscale_all_dim, 1.0);
  EXPECT_EQ(c->rope_scaling->original_max_position_embeddings, 4096);
  EXPECT_EQ(c->rope_scaling->type, "yarn");
  EXPECT_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->routed_scaling_factor, 2.5);
  EXPECT_EQ(c->scoring_func, "sigmoid");
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->topk_group, 4);
  EXPECT_EQ(c->topk_method, "noaux_tc");
  EXPECT_EQ(c->torch_dtype, "bfloat16");
  EXPECT_EQ(c->transformers_version, "4.46.3");
  EXPECT_TRUE(c->use_cache);
  EXPECT_EQ(c->v_head_dim, 128);
  EXPECT_EQ(c->vocab_size, 129280);
  EXPECT_FALSE(c->pad_token_id.has_value());
}

TEST(ModelConfigTest, DerivedDimensionsMatchSpec) {
  auto c = LoadModelConfig(kR1Config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->q_b_out(), 24576);
  EXPECT_EQ(c->kv_a_out(), 576);
  EXPECT_EQ(c->kv_b_out(), 32768);
  EXPECT_EQ(c->o_proj_in(), 16384);
  EXPECT_EQ(c->eh_proj_in(), 14336);
  EXPECT_EQ(c->experts_per_group(), 32);
  EXPECT_EQ(c->shared_expert_width(), 2048);
  EXPECT_FALSE(c->is_moe_layer(2));
  EXPECT_TRUE(c->is_moe_layer(3));
  EXPECT_TRUE(c->is_moe_layer(60));
}

std::string R1Text() { return *ReadFileBounded(kR1Config, 1 << 20); }

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return text.replace(pos, from.size(), to);
}

void ExpectError(const std::string& text, const std::string& field) {
  auto c = ParseModelConfig(text, "cfg.json");
  ASSERT_FALSE(c.ok()) << "expected an error about " << field;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("cfg.json"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find(field), std::string::npos) << c.status();
}

TEST(ModelConfigTest, ErrorsNameTheField) {
  const std::string r1 = R1Text();
  ExpectError(Replace(r1, "\"hidden_size\": 7168", "\"hidden_size\": \"7168\""), "'hidden_size'");
  ExpectError(Replace(r1, "\"hidden_size\": 7168,", ""), "'hidden_size': missing");
  ExpectError(Replace(r1, "\"n_group\": 8", "\"n_group\": 7"), "'n_group'");
  ExpectError(Replace(r1, "\"topk_group\": 4", "\"topk_group\": 9"), "'topk_group'");
  ExpectError(Replace(r1, "\"num_experts_per_tok\": 8", "\"num_experts_per_tok\": 0"),
              "'num_experts_per_tok'");
  ExpectError(Replace(r1, "\"topk_method\": \"noaux_tc\"", "\"topk_method\": \"greedy\""),
              "'topk_method'");
  ExpectError(Replace(r1, "\"type\": \"yarn\"", "\"type\": \"linear\""), "'rope_scaling.type'");
  ExpectError(Replace(r1, "\"factor\": 40", "\"factor\": \"big\""), "'rope_scaling.factor'");
  ExpectError(Replace(r1, "\"quant_method\": \"fp8\"", "\"quant_method\": \"gptq\""),
              "'quantization_config.quant_method'");
  ExpectError(Replace(r1, "128,\n      128", "64,\n      64"),
              "'quantization_config.weight_block_size'");
  ExpectError(Replace(r1, "\"qk_rope_head_dim\": 64", "\"qk_rope_head_dim\": 63"),
              "'qk_rope_head_dim'");
  ExpectError(Replace(r1, "\"kv_lora_rank\": 512", "\"kv_lora_rank\": -512"), "'kv_lora_rank'");
  ExpectError(Replace(r1, "\"vocab_size\": 129280", "\"vocab_size\": 4.5"), "'vocab_size'");
  ExpectError(Replace(r1, "\"vocab_size\": 129280", "\"vocab_size\": 1e300"), "'vocab_size'");
  ExpectError(Replace(r1, "\"norm_topk_prob\": true", "\"norm_topk_prob\": 1"), "'norm_topk_prob'");
  ExpectError("[1, 2]", "top level");
  ExpectError("{\"hidden_size\": ", "not valid JSON");
}

TEST(ModelConfigTest, UnknownFieldsAreIgnoredAndIntegralFloatsAccepted) {
  std::string text = Replace(R1Text(), "\"v_head_dim\": 128,",
                             "\"v_head_dim\": 128.0, \"some_future_field\": {\"x\": [1]},");
  auto c = ParseModelConfig(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->v_head_dim, 128);
}

TEST(ModelConfigTest, NewerRopeTypeSpellingAndPadToken) {
  std::string text = Replace(R1Text(), "\"type\": \"yarn\"", "\"rope_type\": \"yarn\"");
  text = Replace(text, "\"eos_token_id\": 1,", "\"eos_token_id\": 1, \"pad_token_id\": 1,");
  auto c = ParseModelConfig(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling->type, "yarn");
  EXPECT_EQ(c->pad_token_id, 1);
}

TEST(ModelConfigTest, MissingFileIsNotFound) {
  auto c = LoadModelConfig("tests/fixtures/does-not-exist.json");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("does-not-exist.json"), std::string::npos);
}

}  // namespace
}  // namespace r1
