// Parity with Hugging Face tokenizers / transformers on the fixtures of tests/tokenizers/ (written
// by tools/tokenizer/make_parity_fixtures.py): DeepSeek-V3's pipeline in two spellings, Qwen2's
// (NFC + a look-ahead regex), GPT-2 style ByteLevel; Split behaviours; the NFC normalizer.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/tokenizer/normalizer.h"
#include "common/tokenizer/pcre2_regex.h"
#include "common/tokenizer/pre_tokenizer.h"
#include "common/tokenizer/pre_tokenizer_pipeline.h"
#include "common/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace r1::tok {
namespace {

using json = nlohmann::json;

constexpr char kDir[] = "tests/tokenizers/";

json ReadJson(const std::string& path) {
  auto text = ReadFileBounded(path, 64 << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? json::parse(*text) : json();
}

const std::vector<std::string>& Strings() {
  static const auto* s = new std::vector<std::string>(ReadJson(absl::StrCat(kDir, "strings.json")));
  return *s;
}

// Collects mismatches and reports the first few.
class Mismatches {
 public:
  explicit Mismatches(std::string what) : what_(std::move(what)) {}
  void Add(const std::string& text, const std::string& want, const std::string& got) {
    if (++count_ <= 3)
      examples_ += absl::StrCat("\n  ", json(text).dump(), "\n    want ", want, "\n    got  ", got);
  }
  void Check(size_t total) const {
    EXPECT_EQ(count_, 0u) << what_ << ": " << count_ << " of " << total << " differ" << examples_;
  }

 private:
  std::string what_;
  size_t count_ = 0;
  std::string examples_;
};

class HfParityTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string dir = absl::StrCat(kDir, GetParam());
    auto t = Tokenizer::LoadFromFile(dir + "/tokenizer.json");
    ASSERT_TRUE(t.ok()) << t.status();
    tok_ = std::move(*t);
    expected_ = ReadJson(dir + "/expected.json");
    ASSERT_TRUE(expected_.contains("cases"));
  }
  std::unique_ptr<Tokenizer> tok_;
  json expected_;
};

TEST_P(HfParityTest, EncodeMatchesHuggingFace) {
  const json& cases = expected_["cases"];
  ASSERT_GE(cases.size(), GetParam() == "bytelevel-prefix" ? 600u : 2000u);
  Mismatches ids("encode"), special("encode(add_special_tokens)"),
      non_special("encode(special tokens as text)");
  size_t subset = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string& text = Strings()[i];
    const json& c = cases[i];
    auto got = tok_->Encode(text);
    ASSERT_TRUE(got.ok()) << got.status();
    if (json(*got) != c["ids"]) ids.Add(text, c["ids"].dump(), json(*got).dump());
    if (!c.contains("ids_special")) continue;
    ++subset;
    got = tok_->Encode(text, {.add_special_tokens = true});
    ASSERT_TRUE(got.ok());
    if (json(*got) != c["ids_special"])
      special.Add(text, c["ids_special"].dump(), json(*got).dump());
    got = tok_->Encode(text, {.added_tokens = AddedTokenMatching::kNonSpecial});
    ASSERT_TRUE(got.ok());
    if (json(*got) != c["ids_non_special"]) {
      non_special.Add(text, c["ids_non_special"].dump(), json(*got).dump());
    }
  }
  ids.Check(cases.size());
  special.Check(subset);
  non_special.Check(subset);
  EXPECT_GE(subset, 300u);
}

TEST_P(HfParityTest, PiecesAndDecodeMatchHuggingFace) {
  const json& cases = expected_["cases"];
  Mismatches pieces("pre-tokenizer pieces"), decoded("decode(skip_special_tokens)");
  size_t n_pieces = 0, n_decoded = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    if (c.contains("pieces")) {
      ++n_pieces;
      auto got = tok_->PreTokenize(Strings()[i]);
      ASSERT_TRUE(got.ok());
      if (json(*got) != c["pieces"])
        pieces.Add(Strings()[i], c["pieces"].dump(), json(*got).dump());
    }
    if (c.contains("decoded_skip_special")) {
      ++n_decoded;
      auto got = tok_->Decode(c["ids"].get<std::vector<int32_t>>(), /*skip_special_tokens=*/true);
      ASSERT_TRUE(got.ok());
      if (*got != c["decoded_skip_special"]) {
        decoded.Add(Strings()[i], c["decoded_skip_special"].dump(), json(*got).dump());
      }
    }
  }
  pieces.Check(n_pieces);
  decoded.Check(n_decoded);
  EXPECT_GE(n_pieces, 100u);
  EXPECT_GE(n_decoded, 300u);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfParityTest,
                         ::testing::Values("deepseek-v3", "deepseek-v3-escaped", "qwen2",
                                           "bytelevel-prefix"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) ch = ch == '-' ? '_' : ch;
                           return n;
                         });

std::unique_ptr<Tokenizer> Load(const std::string& name) {
  auto t = Tokenizer::LoadFromFile(absl::StrCat(kDir, name, "/tokenizer.json"));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

TEST(HfParityFilesTest, BothDeepSeekSpellingsTakeTheFastPathWithBos) {
  for (const char* name : {"deepseek-v3", "deepseek-v3-escaped"}) {
    auto tok = Load(name);
    ASSERT_NE(tok, nullptr);
    EXPECT_TRUE(tok->uses_deepseek_pre_tokenizer()) << name;
    const int32_t bos = *tok->AddedTokenId("<｜begin▁of▁sentence｜>");
    EXPECT_EQ(tok->prefix_ids(), std::vector<int32_t>{bos}) << name;
    EXPECT_TRUE(tok->suffix_ids().empty());
    EXPECT_EQ(tok->bos_id(), bos);
    EXPECT_EQ(tok->eos_id(), tok->AddedTokenId("<｜end▁of▁sentence｜>"));
  }
  // Without its tokenizer_config.json the escaped file adds no BOS (post_processor: null).
  auto bare = Tokenizer::LoadFromFiles(absl::StrCat(kDir, "deepseek-v3-escaped/tokenizer.json"),
                                       /*config_path=*/"");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_TRUE((*bare)->prefix_ids().empty());
  EXPECT_FALSE((*bare)->bos_id().has_value());
}

TEST(HfParityFilesTest, QwenTakesTheGenericPath) {
  auto tok = Load("qwen2");
  ASSERT_NE(tok, nullptr);
  EXPECT_FALSE(tok->uses_deepseek_pre_tokenizer());
  EXPECT_FALSE(tok->bos_id().has_value());
  EXPECT_EQ(tok->eos_id(), tok->AddedTokenId("<|endoftext|>"));
  EXPECT_TRUE(tok->prefix_ids().empty());
}

// DeepSeek's three regexes run through PCRE2 split exactly as the hand-written splitter does.
TEST(HfParityFilesTest, DeepSeekRegexesInPcre2MatchTheHandWrittenSplitter) {
  for (const char* name : {"deepseek-v3", "deepseek-v3-escaped"}) {
    const json j = ReadJson(absl::StrCat(kDir, name, "/tokenizer.json"));
    auto pipeline = PreTokenizerPipeline::FromJson(
        &j["pre_tokenizer"],
        [](absl::string_view f, absl::string_view w) {
          return absl::InvalidArgumentError(absl::StrCat(f, ": ", w));
        },
        /*regex_for_deepseek=*/true);
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    EXPECT_TRUE((*pipeline)->is_deepseek());
    Mismatches bad(absl::StrCat(name, ": PCRE2 vs hand-written"));
    PreTokenizerScratch scratch;
    PieceList list;
    for (const std::string& s : Strings()) {
      std::vector<Piece> want;
      PreTokenize(s, &scratch, &want);
      ASSERT_TRUE((*pipeline)->Run(s, &list).ok());
      std::vector<std::string> a, b;
      for (const Piece& p : want) a.push_back(s.substr(p.begin, p.end - p.begin));
      for (const Piece& p : list.pieces) b.push_back(list.bytes.substr(p.begin, p.end - p.begin));
      if (a != b) bad.Add(s, json(a).dump(), json(b).dump());
    }
    bad.Check(Strings().size());
  }
}

TEST(HfParityCasesTest, SplitBehavioursMatchHuggingFace) {
  const json cases = ReadJson(absl::StrCat(kDir, "split_cases.json"));
  ASSERT_GE(cases.size(), 500u);
  const std::pair<const char*, SplitBehavior> kBehaviors[] = {
      {"Removed", SplitBehavior::kRemoved},
      {"Isolated", SplitBehavior::kIsolated},
      {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
      {"MergedWithNext", SplitBehavior::kMergedWithNext},
      {"Contiguous", SplitBehavior::kContiguous}};
  Mismatches bad("Split");
  std::vector<Pcre2Regex::Match> matches;
  for (const json& c : cases) {
    const std::string pattern = c["pattern"];
    auto re = Pcre2Regex::Compile(pattern);
    ASSERT_TRUE(re.ok()) << pattern << ": " << re.status();
    SplitBehavior behavior = SplitBehavior::kIsolated;
    for (const auto& [name, b] : kBehaviors) {
      if (c["behavior"] == name) behavior = b;
    }
    RegexSplit split(std::move(*re), behavior, c["invert"].get<bool>());
    const std::string text = c["text"];
    std::vector<Piece> pieces;
    ASSERT_TRUE(
        split.Apply(text, Piece{0, static_cast<uint32_t>(text.size())}, &matches, &pieces).ok());
    std::vector<std::string> got;
    for (const Piece& p : pieces) got.push_back(text.substr(p.begin, p.end - p.begin));
    if (json(got) != c["pieces"]) {
      bad.Add(absl::StrCat(pattern, " ", c["behavior"].get<std::string>(),
                           c["invert"].get<bool>() ? " inverted on " : " on ", text),
              c["pieces"].dump(), json(got).dump());
    }
  }
  bad.Check(cases.size());
}

TEST(HfParityCasesTest, NfcMatchesHuggingFace) {
  const json cases = ReadJson(absl::StrCat(kDir, "nfc_cases.json"));
  ASSERT_GE(cases.size(), 2000u);
  auto nfc = NfcNormalizer::Create();
  ASSERT_TRUE(nfc.ok()) << nfc.status();
  Mismatches bad("NFC");
  for (const json& c : cases) {
    std::string got;
    (*nfc)->Normalize(c["in"].get<std::string>(), &got);
    if (got != c["out"]) bad.Add(c["in"], c["out"].dump(), json(got).dump());
  }
  bad.Check(cases.size());
}

}  // namespace
}  // namespace r1::tok
