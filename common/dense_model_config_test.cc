#include "common/dense_model_config.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace r1 {
namespace {

DenseModelConfig Load(const std::string& name) {
  auto c = LoadDenseModelConfig("tests/fixtures/" + name + "-config.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : DenseModelConfig{};
}

TEST(DenseModelConfigTest, ParsesR1DistillQwen) {
  const DenseModelConfig c = Load("r1-distill-qwen-7b");
  EXPECT_EQ(c.architecture, Architecture::kQwen2);
  EXPECT_EQ(c.hidden_size, 3584);
  EXPECT_EQ(c.intermediate_size, 18944);
  EXPECT_EQ(c.num_hidden_layers, 28);
  EXPECT_EQ(c.num_attention_heads, 28);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.group_size(), 7);
  EXPECT_EQ(c.kv_row(), 2 * 4 * 128);
  EXPECT_EQ(c.vocab_size, 152064);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.rope_scaling.has_value());
  EXPECT_EQ(c.eos_token_id, 151643);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
}

TEST(DenseModelConfigTest, ParsesR1DistillLlamaWithLlama3Scaling) {
  const DenseModelConfig c = Load("r1-distill-llama-70b");
  EXPECT_EQ(c.architecture, Architecture::kLlama);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_FALSE(c.qkv_bias);
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_DOUBLE_EQ(c.rope_scaling->factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling->low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling->high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  const ModelConfig m = c.ToModelConfig();
  EXPECT_EQ(m.architecture, Architecture::kLlama);
  EXPECT_EQ(m.num_hidden_layers, 80);
  EXPECT_EQ(m.vocab_size, 128256);
  EXPECT_EQ(m.eos_token_id, 128001);
  EXPECT_EQ(m.max_position_embeddings, 131072);
  EXPECT_EQ(m.kv_lora_rank, 0);
  EXPECT_EQ(m.n_routed_experts, 0);
}

TEST(DenseModelConfigTest, AllSixDistillConfigsParse) {
  for (const char* n : {"r1-distill-qwen-1.5b", "r1-distill-qwen-7b", "r1-distill-qwen-14b",
                        "r1-distill-qwen-32b", "r1-distill-llama-8b", "r1-distill-llama-70b"}) {
    EXPECT_TRUE(LoadDenseModelConfig(std::string("tests/fixtures/") + n + "-config.json").ok())
        << n;
  }
}

nlohmann::json TinyLlama() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"vocab_size", 256},
          {"hidden_size", 64},
          {"intermediate_size", 128},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"max_position_embeddings", 512},
          {"eos_token_id", {1, 2}},
          {"head_dim", 32}};
}

TEST(DenseModelConfigTest, HeadDimAndEosListAndDefaults) {
  auto c = ParseDenseModelConfig(TinyLlama().dump(), "tiny.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 32);  // explicit, not hidden / heads
  EXPECT_EQ(c->q_width(), 128);
  EXPECT_EQ(c->eos_token_id, 1);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{1, 2}));
  nlohmann::json j = TinyLlama();
  j.erase("num_key_value_heads");
  j.erase("head_dim");
  c = ParseDenseModelConfig(j.dump(), "tiny.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 16);
}

void ExpectError(const nlohmann::json& j, const std::string& field) {
  auto c = ParseDenseModelConfig(j.dump(), "dir/config.json");
  ASSERT_FALSE(c.ok()) << field;
  EXPECT_NE(c.status().message().find("dir/config.json"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("'" + field + "'"), std::string::npos) << c.status();
}

TEST(DenseModelConfigTest, ErrorsNameTheFileAndField) {
  nlohmann::json j = TinyLlama();
  j.erase("hidden_size");
  ExpectError(j, "hidden_size");
  j = TinyLlama();
  j["num_key_value_heads"] = 3;
  ExpectError(j, "num_key_value_heads");
  j = TinyLlama();
  j["head_dim"] = 15;
  ExpectError(j, "head_dim");
  j = TinyLlama();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4}};
  ExpectError(j, "rope_scaling.rope_type");
  j = TinyLlama();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8}};
  ExpectError(j, "rope_scaling.low_freq_factor");
  j = TinyLlama();
  j["mlp_bias"] = true;
  ExpectError(j, "mlp_bias");
  j = TinyLlama();
  j["eos_token_id"] = 256;
  ExpectError(j, "eos_token_id");
  j = TinyLlama();
  j["architectures"] = {"DeepseekV3ForCausalLM"};
  ExpectError(j, "architectures");
  j = TinyLlama();
  j["architectures"] = {"Qwen2ForCausalLM"};
  j["use_sliding_window"] = true;
  ExpectError(j, "use_sliding_window");
}

TEST(DenseModelConfigTest, DetectsTheFamily) {
  EXPECT_EQ(*DetectArchitecture(TinyLlama().dump()), Architecture::kLlama);
  EXPECT_EQ(*DetectArchitecture(R"({"architectures": ["Qwen2ForCausalLM"]})"),
            Architecture::kQwen2);
  EXPECT_EQ(*DetectArchitecture(R"({"architectures": ["DeepseekV3ForCausalLM"]})"),
            Architecture::kDeepseekV3);
  EXPECT_FALSE(DetectArchitecture(R"({"architectures": ["GPT2LMHeadModel"]})").ok());
}

TEST(DenseModelConfigTest, DeepSeekParserPointsDenseConfigsHere) {
  auto c = ParseModelConfig(TinyLlama().dump(), "tiny.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("ParseDenseModelConfig"), std::string::npos) << c.status();
}

}  // namespace
}  // namespace r1
