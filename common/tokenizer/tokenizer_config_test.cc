#include "common/tokenizer/tokenizer_config.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "common/file_util.h"
#include "common/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace r1::tok {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kBos[] = "<｜begin▁of▁sentence｜>";
constexpr char kEos[] = "<｜end▁of▁sentence｜>";

TEST(TokenizerConfigTest, ReadsStringsAndAddedTokenObjects) {
  // DeepSeek-V3's tokenizer_config.json (without its chat template).
  const json v3 = {{"add_bos_token", true},
                   {"add_eos_token", false},
                   {"bos_token",
                    {{"__type", "AddedToken"},
                     {"content", kBos},
                     {"lstrip", false},
                     {"normalized", true},
                     {"rstrip", false},
                     {"single_word", false}}},
                   {"clean_up_tokenization_spaces", false},
                   {"eos_token", {{"__type", "AddedToken"}, {"content", kEos}, {"lstrip", false}}},
                   {"legacy", true},
                   {"model_max_length", 131072},
                   {"unk_token", nullptr},
                   {"tokenizer_class", "LlamaTokenizerFast"}};
  auto c = ParseTokenizerConfig(v3.dump(), "cfg.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bos_token, kBos);
  EXPECT_EQ(c->eos_token, kEos);
  EXPECT_EQ(c->add_bos_token, true);
  EXPECT_EQ(c->tokenizer_class, "LlamaTokenizerFast");
  const SpecialTokensRule r = SpecialTokensRuleOf(*c);
  EXPECT_TRUE(r.replace_post_processor && r.add_bos && !r.add_eos);
}

TEST(TokenizerConfigTest, RuleFollowsTransformers) {
  auto rule = [](const json& j) {
    return SpecialTokensRuleOf(*ParseTokenizerConfig(j.dump(), "c"));
  };
  // LlamaTokenizerFast adds BOS unless told otherwise.
  SpecialTokensRule r = rule({{"tokenizer_class", "LlamaTokenizerFast"}, {"bos_token", "<s>"}});
  EXPECT_TRUE(r.replace_post_processor && r.add_bos && !r.add_eos);
  // Other classes keep tokenizer.json's post-processor unless add_bos/eos_token are given.
  r = rule({{"tokenizer_class", "Qwen2Tokenizer"}, {"bos_token", nullptr}});
  EXPECT_FALSE(r.replace_post_processor);
  r = rule({{"tokenizer_class", "PreTrainedTokenizerFast"}, {"add_eos_token", true}});
  EXPECT_TRUE(r.replace_post_processor && !r.add_bos && r.add_eos);
  r = rule({{"add_bos_token", nullptr}});  // present: null reads as false
  EXPECT_TRUE(r.replace_post_processor && !r.add_bos);
}

TEST(TokenizerConfigTest, RefusesWhatChangesIdsUnimplemented) {
  const std::vector<std::pair<json, std::string>> refused = {
      {{{"clean_up_tokenization_spaces", true}}, "field 'clean_up_tokenization_spaces'"},
      {{{"split_special_tokens", true}}, "field 'split_special_tokens'"},
      {{{"do_lower_case", true}}, "field 'do_lower_case'"},
      {{{"bos_token", {{"content", "<s>"}, {"lstrip", true}}}}, "field 'bos_token.lstrip'"},
      {{{"eos_token", 3}}, "field 'eos_token'"},
      {{{"add_bos_token", "yes"}}, "field 'add_bos_token'"},
      {{{"added_tokens_decoder", {{"x", {{"content", "a"}}}}}},
       "field 'added_tokens_decoder[\"x\"]'"},
  };
  for (const auto& [j, what] : refused) {
    auto c = ParseTokenizerConfig(j.dump(), "cfg.json");
    ASSERT_FALSE(c.ok()) << j.dump();
    EXPECT_THAT(c.status().message(), HasSubstr("cfg.json: " + what)) << j.dump();
  }
  EXPECT_THAT(ParseTokenizerConfig("{", "cfg.json").status().message(),
              HasSubstr("cfg.json: not valid JSON"));
}

std::string Fixture(const std::string& name) {
  auto text = ReadFileBounded("tests/tokenizers/" + name + "/tokenizer.json", 64 << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadWith(const std::string& name, const json& config) {
  return Tokenizer::LoadFromJson(Fixture(name), name + "/tokenizer.json", config.dump(),
                                 "my_config.json");
}

TEST(TokenizerConfigLoadTest, DecidesTheSpecialTokens) {
  // post_processor: null, BOS only from the config.
  auto t = LoadWith("deepseek-v3-escaped", {{"tokenizer_class", "LlamaTokenizerFast"},
                                            {"bos_token", kBos},
                                            {"eos_token", kEos},
                                            {"add_eos_token", true}});
  ASSERT_TRUE(t.ok()) << t.status();
  const int32_t bos = *(*t)->AddedTokenId(kBos), eos = *(*t)->AddedTokenId(kEos);
  EXPECT_EQ((*t)->prefix_ids(), std::vector<int32_t>{bos});
  EXPECT_EQ((*t)->suffix_ids(), std::vector<int32_t>{eos});
  auto ids = (*t)->Encode("Hi", {.add_special_tokens = true});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), bos);
  EXPECT_EQ(ids->back(), eos);
  // add_bos_token false replaces the tokenizer.json's TemplateProcessing.
  t = LoadWith("deepseek-v3", {{"add_bos_token", false}, {"bos_token", kBos}});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE((*t)->prefix_ids().empty());
  // A class that decides nothing keeps it.
  t = LoadWith("deepseek-v3", {{"tokenizer_class", "PreTrainedTokenizerFast"}});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->prefix_ids(), std::vector<int32_t>{bos});
}

TEST(TokenizerConfigLoadTest, RefusesConfigsThatDisagreeWithTheTokenizer) {
  const std::vector<std::tuple<std::string, json, std::string>> refused = {
      {"deepseek-v3-escaped",
       {{"tokenizer_class", "LlamaTokenizerFast"}, {"bos_token", nullptr}},
       "my_config.json: field 'add_bos_token': is true but bos_token is missing or null"},
      {"deepseek-v3",
       {{"bos_token", "<no-such-token>"}},
       "my_config.json: field 'bos_token': \"<no-such-token>\" is not a token of "
       "deepseek-v3/tokenizer.json"},
      {"qwen2",
       {{"added_tokens_decoder", {{"7", {{"content", "<|im_end|>"}}}}}},
       "field 'added_tokens_decoder[\"7\"]': \"<|im_end|>\" has id"},
      {"qwen2",
       {{"added_tokens_decoder", {{"3000", {{"content", "<|endoftext|>"}, {"special", false}}}}}},
       "field 'added_tokens_decoder[\"3000\"].special': differs"},
      {"qwen2", {{"add_prefix_space", true}}, "field 'add_prefix_space': disagrees"},
      {"deepseek-v3",
       {{"tokenizer_class", "LlamaTokenizerFast"}, {"add_prefix_space", false}},
       "field 'add_prefix_space': unsupported with LlamaTokenizerFast"},
      {"qwen2",
       {{"additional_special_tokens", {"<|nope|>"}}},
       "field 'additional_special_tokens[0]'"},
  };
  for (const auto& [name, config, what] : refused) {
    auto t = LoadWith(name, config);
    ASSERT_FALSE(t.ok()) << config.dump();
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(t.status().message(), HasSubstr(what)) << config.dump();
  }
}

// chat_template: a string, or transformers' list of named templates ("default" is used).
TEST(TokenizerConfigTest, ReadsTheChatTemplate) {
  auto c = ParseTokenizerConfig(json{{"chat_template", "{{ x }}"}}.dump(), "cfg.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->chat_template, "{{ x }}");
  c = ParseTokenizerConfig(
      json{{"chat_template",
            {{{"name", "tool_use"}, {"template", "T"}}, {{"name", "default"}, {"template", "D"}}}}}
          .dump(),
      "cfg.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->chat_template, "D");
  c = ParseTokenizerConfig(json{{"chat_template", {{{"name", "rag"}, {"template", "R"}}}}}.dump(),
                           "cfg.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->chat_template.has_value());
  EXPECT_EQ(c->chat_template_names, std::vector<std::string>{"rag"});
  for (const auto& [bad, what] : std::vector<std::pair<json, std::string>>{
           {json{{"chat_template", 5}}, "field 'chat_template': expected a string or a list"},
           {json{{"chat_template", {{{"name", "default"}}}}},
            "field 'chat_template[0].template': missing"}}) {
    auto r = ParseTokenizerConfig(bad.dump(), "cfg.json");
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_THAT(r.status().message(), HasSubstr(what));
  }
}

// The tokenizer keeps the template and says where it came from; chat_template.jinja beside
// tokenizer.json takes priority over the config's, as in transformers.
TEST(TokenizerConfigLoadTest, KeepsTheChatTemplateAndItsOrigin) {
  auto t = LoadWith("deepseek-v3", {{"chat_template", "{{ bos_token }}"}});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->chat_template(), "{{ bos_token }}");
  EXPECT_EQ((*t)->chat_template_source(), "my_config.json: field 'chat_template'");
  t = LoadWith("deepseek-v3", {{"chat_template", {{{"name", "a"}, {"template", "A"}}}}});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->chat_template(), "");
  EXPECT_THAT((*t)->chat_template_source(), HasSubstr("named a but none named 'default'"));

  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "tokenizer_config_test_jinja";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << Fixture("deepseek-v3");
  std::ofstream(dir / "tokenizer_config.json") << json{{"chat_template", "from config"}}.dump();
  t = Tokenizer::LoadFromFile((dir / "tokenizer.json").string());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->chat_template(), "from config");
  std::ofstream(dir / "chat_template.jinja") << "from file";
  t = Tokenizer::LoadFromFile((dir / "tokenizer.json").string());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->chat_template(), "from file");
  EXPECT_EQ((*t)->chat_template_source(), (dir / "chat_template.jinja").string());
  std::filesystem::remove(dir / "chat_template.jinja");
  std::filesystem::remove(dir / "tokenizer_config.json");
  t = Tokenizer::LoadFromFile((dir / "tokenizer.json").string());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->chat_template(), "");
  EXPECT_THAT((*t)->chat_template_source(), HasSubstr("no "));
  EXPECT_THAT((*t)->chat_template_source(), HasSubstr("chat_template.jinja"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace r1::tok
