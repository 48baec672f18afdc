// r1-tiny (models/r1-tiny, trained by tools/train_tiny/train.py) on its 200 held-out problems:
// the FP8 checkpoint loaded through CheckpointWeightSource, prompts rendered with R1's chat
// template and encoded by the C++ tokenizer (checked against the token ids recorded in
// heldout.jsonl), greedy decoding with the single-process Engine on the CPU model. The answer is
// the text after the first "</think>", stripped; a problem counts only if generation stopped on
// EOS and the answer equals the expected one. Asserts accuracy ≥ 95 % and within 2 points of the
// torch reference on the same problems (reference_accuracy.json, float32 on the FP8-dequantized
// weights). CTest label tiny-accuracy.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/jinja/chat_context.h"
#include "common/jinja/template.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "worker/engine/engine.h"
#include "worker/model/cpu_model.h"
#include "worker/model/model_weights.h"
#include "worker/model/weight_source.h"

namespace r1 {
namespace {

constexpr char kDir[] = "models/r1-tiny";
constexpr int kMaxNewTokens = 160;  // completions are at most ~105 tokens

struct Problem {
  nlohmann::json messages;
  std::string answer;
  std::vector<int32_t> prompt_ids;  // as tokenized by the training script
};

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

std::vector<Problem> ReadHeldout(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<Problem> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    out.push_back({j.at("messages"), j.at("answer").get<std::string>(),
                   j.at("prompt_token_ids").get<std::vector<int32_t>>()});
  }
  return out;
}

std::string Strip(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Owns everything loaded once for the suite; read-only in the tests.
struct Fixture {
  ModelConfig config;
  std::shared_ptr<const ModelWeights> weights;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::string bos_token;
  int32_t eos_id = -1;
  std::vector<Problem> problems;
  double reference_accuracy = 0;
};

const Fixture& Get() {
  static const Fixture* f = [] {
    auto* f = new Fixture;
    const std::string dir = kDir;
    auto cfg = LoadModelConfig(dir + "/config.json");
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    f->config = *cfg;
    auto src = CheckpointWeightSource::Open(dir);
    EXPECT_TRUE(src.ok()) << src.status();
    auto w = LoadModelWeights(f->config, **src);
    EXPECT_TRUE(w.ok()) << w.status();
    f->weights = std::move(*w);
    auto tok = tok::Tokenizer::LoadFromFile(dir + "/tokenizer.json");
    EXPECT_TRUE(tok.ok()) << tok.status();
    f->tokenizer = std::move(*tok);
    auto tc = ReadJson(dir + "/tokenizer_config.json");
    f->bos_token = tc.at("bos_token").get<std::string>();
    auto eos = f->tokenizer->AddedTokenId(tc.at("eos_token").get<std::string>());
    EXPECT_TRUE(eos.has_value());
    f->eos_id = eos.value_or(-1);
    f->problems = ReadHeldout(dir + "/heldout.jsonl");
    f->reference_accuracy = ReadJson(dir + "/reference_accuracy.json").at("accuracy").get<double>();
    return f;
  }();
  return *f;
}

struct Score {
  int correct = 0;
  int total = 0;
  std::map<FinishReason, int> finishes;
  std::vector<std::string> misses;  // the first few, for the log
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0.0; }
};

// Greedy decoding of every held-out problem through one Engine.
Score RunHeldout(Precision precision) {
  const Fixture& f = Get();
  EngineOptions options;
  options.max_step_tokens = 512;
  options.max_running = 200;
  options.kv_blocks = 200 * 3 + 64;  // ≤ 31 prompt + 160 new tokens = 3 blocks of 64 each
  options.valid_vocab = f.tokenizer->id_limit();
  Engine engine(f.weights, ModelOptions{.precision = precision}, options);
  for (size_t i = 0; i < f.problems.size(); ++i) {
    SequenceRequest r;
    r.id = i;
    r.prompt.assign(f.problems[i].prompt_ids.begin(), f.problems[i].prompt_ids.end());
    r.max_new_tokens = kMaxNewTokens;
    EXPECT_TRUE(engine.Submit(r).ok());
  }
  std::map<uint64_t, std::vector<int32_t>> generated;
  std::map<uint64_t, FinishReason> finish;
  for (int steps = 0; !engine.Idle() && steps < 100000; ++steps) {
    auto out = engine.Step();
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) break;
    for (const auto& s : *out) {
      generated[s.id].insert(generated[s.id].end(), s.new_tokens.begin(), s.new_tokens.end());
      if (s.finish != FinishReason::kNone) finish[s.id] = s.finish;
    }
  }
  Score score;
  for (size_t i = 0; i < f.problems.size(); ++i) {
    std::vector<int32_t> ids = generated[i];
    const bool stopped = finish[i] == FinishReason::kStop && !ids.empty() && ids.back() == f.eos_id;
    if (stopped) ids.pop_back();
    auto text = f.tokenizer->Decode(ids);
    EXPECT_TRUE(text.ok()) << text.status();
    std::string answer;
    bool has_answer = false;
    if (text.ok()) {
      size_t at = text->find("</think>");
      if (at != std::string::npos) {
        answer = Strip(text->substr(at + std::string("</think>").size()));
        has_answer = true;
      }
    }
    const bool ok = stopped && has_answer && answer == f.problems[i].answer;
    score.correct += ok;
    ++score.total;
    ++score.finishes[finish[i]];
    if (!ok && score.misses.size() < 5) {
      score.misses.push_back("#" + std::to_string(i) + " expected " + f.problems[i].answer +
                             ", got: " + (text.ok() ? *text : "<decode error>"));
    }
  }
  return score;
}

TEST(R1TinyTest, ChatTemplateAndTokenizerMatchTheTrainingScript) {
  const Fixture& f = Get();
  ASSERT_EQ(f.problems.size(), 200u);
  EXPECT_EQ(f.eos_id, f.config.eos_token_id);
  // The checkpoint's own chat template (tokenizer_config.json), as the coordinator renders it.
  auto tmpl = jinja::Template::Parse(f.tokenizer->chat_template());
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  for (size_t i = 0; i < f.problems.size(); ++i) {
    jinja::ChatTemplateInputs in;
    in.messages = nlohmann::ordered_json::parse(f.problems[i].messages.dump());
    in.add_generation_prompt = true;
    in.special_tokens = {{"bos_token", f.bos_token}};
    auto ctx = jinja::BuildChatContext(in);
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    auto text = tmpl->Render(*ctx);
    ASSERT_TRUE(text.ok()) << text.status();
    // The rendered prompt holds no client text that spells a special token, so encoding it with
    // every added token matched gives exactly coordinator/api's PromptBuilder ids.
    auto ids = f.tokenizer->Encode(*text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, f.problems[i].prompt_ids) << "problem " << i << ": " << *text;
  }
}

TEST(R1TinyTest, GreedyAccuracyOnHeldOutProblems) {
  const Fixture& f = Get();
  ASSERT_EQ(f.problems.size(), 200u);
  auto t0 = std::chrono::steady_clock::now();
  Score s = RunHeldout(Precision::kF32);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "r1-tiny float32: " << s.correct << "/" << s.total << " = " << s.accuracy()
            << " (torch reference " << f.reference_accuracy << "), " << secs << " s\n";
  for (const auto& m : s.misses) std::cout << "  miss " << m << "\n";
  EXPECT_GE(s.accuracy(), 0.95);
  EXPECT_LE(std::abs(s.accuracy() - f.reference_accuracy), 0.02);
}

}  // namespace
}  // namespace r1
