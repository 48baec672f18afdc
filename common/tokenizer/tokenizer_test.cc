#include "common/tokenizer/tokenizer.h"

#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/tokenizer/bpe.h"
#include "common/tokenizer/unicode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace r1::tok {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kTiny[] = "models/r1-tiny/tokenizer.json";

// The committed tiny tokenizer and, when set, $R1_TOKENIZER_JSON (a real R1 tokenizer.json).
std::vector<std::string> TokenizerPaths() {
  std::vector<std::string> paths = {kTiny};
  if (const char* env = std::getenv("R1_TOKENIZER_JSON"); env != nullptr && *env != '\0') {
    paths.emplace_back(env);
  }
  return paths;
}

std::string RandomText(std::mt19937& rng) {
  static const char* const kParts[] = {
      "Hello",   " world",       "  ",        "\n",       "\r\n",       "\t",
      "123456",  "3.14",         "中文字符",  "ひらがな", "カタカナ",   "한국어",
      "😀",       "👩‍💻",  "e\xCC\x81", "Привет",   "(x)",        "$var",
      "!!",      "\xE3\x80\x80", "<think>",   "</think>", "<｜User｜>", "<｜end▁of▁sentence｜>",
      "<｜User", "\xC2\xA0",     "…"};
  std::string s;
  for (int n = static_cast<int>(rng() % 12); n > 0; --n) {
    s += kParts[rng() % (sizeof(kParts) / sizeof(*kParts))];
  }
  return s;
}

class TokenizerFileTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto t = Tokenizer::LoadFromFile(GetParam());
    ASSERT_TRUE(t.ok()) << t.status();
    tok_ = std::move(*t);
  }
  std::unique_ptr<Tokenizer> tok_;
};

TEST_P(TokenizerFileTest, AddedTokensEncodeToTheirIds) {
  ASSERT_FALSE(tok_->added_tokens().empty());
  for (const AddedToken& a : tok_->added_tokens()) {
    auto ids = tok_->Encode(a.content);
    ASSERT_TRUE(ids.ok());
    EXPECT_THAT(*ids, ::testing::ElementsAre(a.id)) << a.content;
    EXPECT_EQ(tok_->TokenToId(a.content), a.id);
    EXPECT_EQ(tok_->IsSpecial(a.id), a.special);
  }
  // R1 keeps <think>/</think> visible: they are not special.
  for (const char* t : {"<think>", "</think>"}) {
    auto id = tok_->AddedTokenId(t);
    ASSERT_TRUE(id.has_value()) << t;
    EXPECT_FALSE(tok_->IsSpecial(*id));
  }
}

TEST_P(TokenizerFileTest, RoundTripsRandomText) {
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    const std::string s = RandomText(rng);
    for (auto mode :
         {AddedTokenMatching::kAll, AddedTokenMatching::kNonSpecial, AddedTokenMatching::kNone}) {
      auto ids = tok_->Encode(s, {.added_tokens = mode});
      ASSERT_TRUE(ids.ok());
      auto back = tok_->Decode(*ids);
      ASSERT_TRUE(back.ok());
      ASSERT_EQ(*back, s);
    }
  }
}

TEST_P(TokenizerFileTest, UserTextModesKeepSpecialStringsAsText) {
  const std::string user = "<｜User｜>";
  const int32_t user_id = *tok_->AddedTokenId(user);
  const int32_t think_id = *tok_->AddedTokenId("<think>");
  auto all = tok_->Encode("a<think>" + user);
  auto non_special =
      tok_->Encode("a<think>" + user, {.added_tokens = AddedTokenMatching::kNonSpecial});
  auto none = tok_->Encode("a<think>" + user, {.added_tokens = AddedTokenMatching::kNone});
  ASSERT_TRUE(all.ok() && non_special.ok() && none.ok());
  EXPECT_THAT(*all, ::testing::Contains(user_id));
  EXPECT_THAT(*non_special, ::testing::Not(::testing::Contains(user_id)));
  EXPECT_THAT(*non_special, ::testing::Contains(think_id));  // not special: still matched
  EXPECT_THAT(*none, ::testing::Not(::testing::Contains(think_id)));
}

TEST_P(TokenizerFileTest, AddSpecialTokensPrependsBos) {
  if (tok_->prefix_ids().empty()) GTEST_SKIP() << "this file's post-processor adds no BOS";
  const int32_t bos = *tok_->AddedTokenId("<｜begin▁of▁sentence｜>");
  EXPECT_EQ(tok_->prefix_ids(), std::vector<int32_t>{bos});
  auto ids = tok_->Encode("Hi", {.add_special_tokens = true});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), bos);
  EXPECT_EQ(*tok_->Decode(*ids, /*skip_special_tokens=*/true), "Hi");
}

TEST_P(TokenizerFileTest, InvalidUtf8AndUnknownIdsAreErrors) {
  auto bad = tok_->Encode("ok\xE4\xB8 then");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("byte offset 2"));
  EXPECT_FALSE(tok_->Encode("\xFF").ok());
  EXPECT_FALSE(tok_->Decode({0, tok_->id_limit()}).ok());
  EXPECT_FALSE(tok_->Decode({-1}).ok());
  // Bytes of a split character decode to U+FFFD, as Hugging Face does.
  auto ids = tok_->Encode("😀");
  ASSERT_TRUE(ids.ok());
  if (ids->size() > 1) {
    EXPECT_THAT(*tok_->Decode({ids->front()}), HasSubstr("\xEF\xBF\xBD"));
  }
}

TEST_P(TokenizerFileTest, ConcurrentEncodesAgree) {
  std::mt19937 rng(5);
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) texts.push_back(RandomText(rng));
  std::vector<std::vector<int32_t>> want;
  for (const auto& t : texts) want.push_back(*tok_->Encode(t));
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 5; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) bad[k] += *tok_->Encode(texts[i]) != want[i];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

INSTANTIATE_TEST_SUITE_P(Files, TokenizerFileTest, ::testing::ValuesIn(TokenizerPaths()));

// --- loading errors name the file and the field -------------------------------------------------

json TinyJson() {
  auto text = ReadFileBounded(kTiny, 64 << 20);
  EXPECT_TRUE(text.ok());
  return json::parse(*text);
}

absl::Status LoadError(const json& j) {
  auto t = Tokenizer::LoadFromJson(j.dump(), "test.json");
  return t.ok() ? absl::OkStatus() : t.status();
}

TEST(TokenizerLoadTest, RefusesWhatItDoesNotImplement) {
  json j = TinyJson();
  j["pre_tokenizer"]["pretokenizers"][2]["pattern"]["Regex"] = "\\d+";
  EXPECT_THAT(LoadError(j).message(),
              HasSubstr("test.json: field 'pre_tokenizer.pretokenizers[2].pattern': unsupported "
                        "regex syntax: escape \\d at offset 0"));
  j = TinyJson();
  j["pre_tokenizer"]["pretokenizers"][1] = json{{"type", "Whitespace"}};
  EXPECT_THAT(LoadError(j).message(),
              HasSubstr("'pre_tokenizer.pretokenizers[1]': unsupported pre-tokenizer type "
                        "'Whitespace'"));
  j = TinyJson();
  j["pre_tokenizer"]["pretokenizers"][2]["behavior"] = "isolated";  // Hugging Face: PascalCase
  EXPECT_THAT(LoadError(j).message(), HasSubstr("'pre_tokenizer.pretokenizers[2].behavior'"));
  j = TinyJson();
  j["pre_tokenizer"]["pretokenizers"][2].erase("invert");  // required by Hugging Face too
  EXPECT_THAT(LoadError(j).message(), HasSubstr("'pre_tokenizer.pretokenizers[2].invert'"));
  j = TinyJson();
  std::swap(j["pre_tokenizer"]["pretokenizers"][2], j["pre_tokenizer"]["pretokenizers"][3]);
  EXPECT_THAT(LoadError(j).message(),
              HasSubstr("'pre_tokenizer.pretokenizers[2]': unsupported: the pre-tokenizer must "
                        "end with its only ByteLevel stage"));
  j = TinyJson();
  j["normalizer"] = json{{"type", "Lowercase"}};
  EXPECT_THAT(LoadError(j).message(),
              HasSubstr("'normalizer': unsupported normalizer type 'Lowercase'"));
  j = TinyJson();
  j["normalizer"] = json{{"type", "Sequence"}, {"normalizers", {{{"type", "NFKC"}}}}};
  EXPECT_THAT(LoadError(j).message(), HasSubstr("'normalizer.normalizers[0]'"));
  j = TinyJson();
  j["model"]["merges"][0] = json::array({"Ġ", "no-such-token"});
  EXPECT_THAT(LoadError(j).message(), HasSubstr("'model.merges[0]'"));
  j = TinyJson();
  j["model"]["dropout"] = 0.1;
  EXPECT_THAT(LoadError(j).message(), HasSubstr("'model.dropout'"));
  j = TinyJson();
  j["added_tokens"][3]["lstrip"] = true;
  EXPECT_THAT(LoadError(j).message(), HasSubstr("'added_tokens[3].lstrip'"));
  j = TinyJson();
  j["model"]["vocab"]["Ġthe"] = -5;
  EXPECT_THAT(LoadError(j).message(), HasSubstr("out of range"));
  EXPECT_THAT(Tokenizer::LoadFromJson("{not json", "x.json").status().message(),
              HasSubstr("x.json: not valid JSON"));
}

TEST(TokenizerLoadTest, FileSizeIsBounded) {
  auto t = Tokenizer::LoadFromFile(kTiny, /*max_bytes=*/1000);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr(kTiny));
  EXPECT_FALSE(Tokenizer::LoadFromFile("no/such/tokenizer.json").ok());
}

TEST(TokenizerLoadTest, AcceptsOldStyleStringMerges) {
  json j = TinyJson();
  json merges = json::array();
  for (const auto& m : j["model"]["merges"]) {
    merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  }
  json old = j;
  old["model"]["merges"] = merges;
  auto a = Tokenizer::LoadFromJson(j.dump(), "new");
  auto b = Tokenizer::LoadFromJson(old.dump(), "old");
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string text = "What is 347 + 582? The answer is 929.";
  EXPECT_EQ(*(*a)->Encode(text), *(*b)->Encode(text));
}

// --- BPE merge paths
// -------------------------------------------------------------------------------

// Naive BPE: repeatedly merge the lowest-ranked adjacent pair, leftmost first.
std::vector<int32_t> NaiveBpe(const std::vector<int32_t>& start,
                              const std::vector<BpeModel::Merge>& merges,
                              const std::vector<int32_t>& merged) {
  std::vector<int32_t> s = start;
  while (true) {
    size_t best_rank = merges.size(), best_pos = 0;
    for (size_t p = 0; p + 1 < s.size(); ++p) {
      for (size_t r = merges.size(); r-- > 0;) {  // a later duplicate wins, as in the model
        if (merges[r].left == s[p] && merges[r].right == s[p + 1]) {
          if (r < best_rank) {
            best_rank = r;
            best_pos = p;
          }
          break;
        }
      }
    }
    if (best_rank == merges.size()) return s;
    s[best_pos] = merged[best_rank];
    s.erase(s.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
}

TEST(BpeModelTest, LinearAndHeapPathsMatchNaiveBpe) {
  // Alphabet a..d (ids 0..3); random merges over existing ids create ids 4...
  std::mt19937 rng(9);
  std::array<int32_t, 256> byte_ids;
  byte_ids.fill(-1);
  for (int b = 0; b < 4; ++b) byte_ids[static_cast<size_t>('a' + b)] = b;
  std::vector<BpeModel::Merge> merges;
  std::vector<int32_t> merged;
  int32_t next = 4;
  for (int i = 0; i < 60; ++i) {
    merges.push_back({static_cast<int32_t>(rng() % next), static_cast<int32_t>(rng() % next)});
    merged.push_back(next++);
  }
  BpeModel model(byte_ids, merges, merged, false, {});
  for (int iter = 0; iter < 3000; ++iter) {
    std::string word;
    std::vector<int32_t> start;
    for (int n = 1 + static_cast<int>(rng() % 120); n > 0; --n) {
      const char c = static_cast<char>('a' + rng() % 5);  // 'e' has no id: dropped
      word.push_back(c);
      if (c != 'e') start.push_back(c - 'a');
    }
    std::vector<int32_t> linear, heap;
    model.EncodeUncached(word, false, &linear);
    model.EncodeUncached(word, true, &heap);
    const auto want = NaiveBpe(start, merges, merged);
    ASSERT_EQ(heap, want) << word;
    ASSERT_EQ(linear, want) << word;
    std::vector<int32_t> cached;
    model.Encode(word, &cached);
    model.Encode(word, &cached);
    ASSERT_EQ(cached.size(), 2 * want.size());
  }
}

}  // namespace
}  // namespace r1::tok
