// Randomized equivalence of the streaming path (OutputStream fed ids in random splits) and the
// non-streaming path (DecodeComplete): same reasoning, content and finish reason, every delta
// valid UTF-8. Texts mix reasoning tags (as added tokens and, encoded without added-token
// matching, as text pieces spanning several tokens), stop strings, multi-byte characters and
// random ids (whose bytes are often invalid UTF-8), and DeepSeek tool-call markers and calls
// (whole, in pieces and malformed) with tool-call parsing on or off. Runs on
// models/r1-tiny/tokenizer.json and on $R1_TOKENIZER_JSON when set.
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/unicode.h"
#include "coordinator/detok/output_stream.h"
#include "gtest/gtest.h"

namespace r1::detok {
namespace {

std::vector<std::string> TokenizerPaths() {
  std::vector<std::string> paths = {"models/r1-tiny/tokenizer.json"};
  if (const char* env = std::getenv("R1_TOKENIZER_JSON"); env != nullptr && *env != '\0') {
    paths.emplace_back(env);
  }
  return paths;
}

const char* const kFragments[] = {"<think>",    "</think>",  "</thi",
                                  "nk>",        "<",         "/",
                                  "think",      ">",         "\n\n",
                                  "\n",         " ",         "The answer",
                                  " is ",       "42",        "347 + 582 = 929",
                                  "中文",       "😀",         "👩‍💻",
                                  "é",          "e\xCC\x81", "STOP",
                                  "ST",         "OP",        "###",
                                  "Hello",      " world",    "<｜end▁of▁sentence｜>",
                                  "<｜User｜>", "\r\n",      "…",
                                  "\\boxed{4}"};
// Tool calls: markers, pieces and whole calls of both formats.
const char* const kToolFragments[] = {
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁calls▁end｜>",
    "<｜tool▁call▁begin｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁sep｜>",
    "function",
    "get_weather\n```json\n",
    "{\"city\": \"巴黎\"}",
    "\n```",
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"x\": [1]}\n```"
    "<｜tool▁call▁end｜>",
    "<｜tool▁call▁begin｜>g<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"};
const char* const kStops[] = {"STOP", "###", "\n\n\n", "929", "world", "</", "😀", "OP S", "x"};

std::string RandomText(std::mt19937& rng) {
  std::string s;
  const int n = static_cast<int>(rng() % 24);
  for (int i = 0; i < n; ++i) {
    s += rng() % 4 == 0 ? kToolFragments[rng() % (sizeof(kToolFragments) / sizeof(*kToolFragments))]
                        : kFragments[rng() % (sizeof(kFragments) / sizeof(*kFragments))];
  }
  return s;
}

struct Stats {
  int sequences = 0;
  int splits = 0;
  int stopped_by_string = 0;
  int with_reasoning_and_content = 0;
  int with_tool_calls = 0;
};

void CheckOne(const tok::Tokenizer& tok, const std::vector<int32_t>& ids, const OutputOptions& opts,
              std::mt19937& rng, Stats* stats) {
  auto want = DecodeComplete(tok, ids, opts);
  ASSERT_TRUE(want.ok()) << want.status();
  ++stats->sequences;
  if (want->reason == FinishReason::kStopString) ++stats->stopped_by_string;
  if (!want->reasoning.empty() && !want->content.empty()) ++stats->with_reasoning_and_content;
  if (!want->tool_calls.empty()) ++stats->with_tool_calls;
  for (int split = 0; split < 3; ++split) {
    OutputStream stream(&tok, opts);
    OutputDelta total;
    size_t pos = 0;
    while (pos < ids.size()) {
      const size_t take = std::min<size_t>(ids.size() - pos, 1 + rng() % (split == 0 ? 1 : 5));
      OutputDelta d;
      ASSERT_TRUE(stream.Append(absl::MakeConstSpan(ids).subspan(pos, take), &d).ok());
      ASSERT_EQ(tok::FindInvalidUtf8(d.reasoning), absl::string_view::npos);
      ASSERT_EQ(tok::FindInvalidUtf8(d.content), absl::string_view::npos);
      total.reasoning += d.reasoning;
      total.content += d.content;
      total.tool_calls.insert(total.tool_calls.end(), d.tool_calls.begin(), d.tool_calls.end());
      if (d.finished) {
        total.finished = true;
        total.reason = d.reason;
        total.matched_stop = d.matched_stop;
      }
      pos += take;
    }
    if (!stream.finished()) {
      OutputDelta d;
      stream.Finish(&d);
      total.reasoning += d.reasoning;
      total.content += d.content;
      total.tool_calls.insert(total.tool_calls.end(), d.tool_calls.begin(), d.tool_calls.end());
      total.reason = d.reason;
      total.matched_stop = d.matched_stop;
    }
    ++stats->splits;
    ASSERT_EQ(total.reasoning, want->reasoning);
    ASSERT_EQ(total.content, want->content);
    ASSERT_EQ(total.tool_calls, want->tool_calls);
    ASSERT_EQ(total.reason, want->reason);
    ASSERT_EQ(total.matched_stop, want->matched_stop);
  }
}

TEST(OutputStreamRandomTest, StreamingEqualsNonStreaming) {
  for (const std::string& path : TokenizerPaths()) {
    SCOPED_TRACE(path);
    auto loaded = tok::Tokenizer::LoadFromFile(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const tok::Tokenizer& tok = **loaded;
    const int32_t eos = *tok.AddedTokenId("<｜end▁of▁sentence｜>");
    std::mt19937 rng(1234);
    Stats stats;
    std::vector<int32_t> valid_ids;
    for (int32_t id = 0; id < tok.id_limit(); ++id) {
      if (tok.IsValidId(id)) valid_ids.push_back(id);
    }
    for (int iter = 0; iter < 10000; ++iter) {
      OutputOptions opts;
      opts.starts_in_reasoning = rng() % 4 != 0;
      opts.parse_reasoning = rng() % 8 != 0;
      for (int k = static_cast<int>(rng() % 3); k > 0; --k) {
        opts.stop_strings.push_back(kStops[rng() % (sizeof(kStops) / sizeof(*kStops))]);
      }
      if (rng() % 2 == 0) opts.stop_token_ids = {eos};
      if (rng() % 2 == 0) opts.skip_ids = SpecialIdsExceptThink(tok);
      opts.parse_tool_calls = rng() % 2 == 0;
      if (opts.parse_tool_calls) {
        for (absl::string_view marker : kToolCallMarkers) {
          if (auto id = tok.AddedTokenId(marker)) opts.skip_ids.erase(*id);
        }
      }
      std::vector<int32_t> ids;
      if (iter % 5 == 4) {  // random ids: partial and invalid UTF-8 byte sequences
        for (int k = static_cast<int>(rng() % 30); k > 0; --k) {
          ids.push_back(valid_ids[rng() % valid_ids.size()]);
        }
      } else {
        tok::EncodeOptions enc;
        // Without added-token matching "</think>" becomes several text tokens.
        enc.added_tokens =
            iter % 2 ? tok::AddedTokenMatching::kAll : tok::AddedTokenMatching::kNone;
        auto encoded = tok.Encode(RandomText(rng), enc);
        ASSERT_TRUE(encoded.ok());
        ids = *encoded;
      }
      CheckOne(tok, ids, opts, rng, &stats);
      if (HasFatalFailure()) return;
    }
    std::printf(
        "%s: %d sequences, %d random splits compared (%d ended by a stop string, %d with "
        "reasoning and content, %d with tool calls)\n",
        path.c_str(), stats.sequences, stats.splits, stats.stopped_by_string,
        stats.with_reasoning_and_content, stats.with_tool_calls);
    EXPECT_GT(stats.stopped_by_string, 100);
    EXPECT_GT(stats.with_reasoning_and_content, 100);
    EXPECT_GT(stats.with_tool_calls, 100);
  }
}

}  // namespace
}  // namespace r1::detok
