#include "common/served_model_config.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(ServedModelConfigTest, DeepSeekV3IsReadAsBefore) {
  auto c = LoadServedModelConfig("tests/fixtures/deepseek-r1-config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->is_dense());
  EXPECT_EQ(c->config.architecture, Architecture::kDeepseekV3);
  EXPECT_EQ(c->config.n_routed_experts, 256);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{c->config.eos_token_id});
}

TEST(ServedModelConfigTest, DenseQwen2HasNoExperts) {
  auto c = LoadServedModelConfig("tests/fixtures/r1-distill-qwen-1.5b-config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->is_dense());
  EXPECT_EQ(c->config.architecture, Architecture::kQwen2);
  EXPECT_EQ(c->config.n_routed_experts, 0);
  EXPECT_EQ(c->config.vocab_size, 151936);
  EXPECT_EQ(c->config.max_position_embeddings, 131072);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{151643});
}

TEST(ServedModelConfigTest, EosListIsKept) {
  const std::string text = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 64,
    "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
    "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 128,
    "bos_token_id": 0, "eos_token_id": [1, 7, 9]})";
  auto c = ParseServedModelConfig(text, "x.json");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->is_dense());
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{1, 7, 9}));
  EXPECT_EQ(c->config.eos_token_id, 1);
}

TEST(ServedModelConfigTest, ErrorsNameTheFile) {
  auto dense = ParseServedModelConfig(R"({"architectures": ["Qwen2ForCausalLM"]})", "q.json");
  ASSERT_FALSE(dense.ok());
  EXPECT_NE(dense.status().message().find("q.json"), std::string::npos) << dense.status();
  auto other = ParseServedModelConfig(R"({"architectures": ["MistralForCausalLM"]})", "m.json");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("m.json"), std::string::npos) << other.status();
}

}  // namespace
}  // namespace r1
