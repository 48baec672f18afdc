// OutputTracker (usage counts) and CompletionSession (the transport-neutral generation) on the
// tiny tokenizer and a FakeGenerator (PromptBuilder: prompt_builder_test.cc).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/api/api_status.h"
#include "coordinator/api/completion_session.h"
#include "coordinator/api/output_tracker.h"
#include "coordinator/api/prompt_builder.h"
#include "coordinator/detok/incremental_detokenizer.h"
#include "coordinator/testing/api_request_util.h"
#include "coordinator/testing/fake_generator.h"
#include "coordinator/testing/tiny_tokenizer.h"
#include "gtest/gtest.h"

namespace r1::api {
namespace {

using testing::ChatRequest;
using testing::FakeGenerator;
using testing::FakeLogprob;
using testing::FakeScript;
using testing::Ids;
using testing::Msg;
using testing::TinyTokenizer;

std::unique_ptr<PromptBuilder> Builder() {
  auto b = PromptBuilder::Create(&TinyTokenizer(), testing::kEos);
  EXPECT_TRUE(b.ok()) << b.status();
  return *std::move(b);
}

TEST(OutputTrackerTest, CountsEveryGeneratedIdAndTheReasoningOnes) {
  detok::OutputOptions o;
  o.stop_token_ids = {testing::EosId()};
  o.skip_ids = detok::SpecialIdsExceptThink(TinyTokenizer());
  OutputTracker t(&TinyTokenizer(), o);
  const std::vector<int32_t> reasoning = Ids("I think so", false);
  const std::vector<int32_t> rest = Ids("</think>\n\nYes.");
  std::vector<int32_t> all = reasoning;
  all.insert(all.end(), rest.begin(), rest.end());
  all.push_back(5);  // after EOS: not consumed
  detok::OutputDelta d;
  size_t consumed = 0;
  ASSERT_TRUE(t.Append(all, &d, &consumed).ok());
  EXPECT_EQ(consumed, all.size() - 1);
  EXPECT_TRUE(t.stopped());
  EXPECT_EQ(d.reasoning, "I think so");
  EXPECT_EQ(d.content, "\n\nYes.");
  EXPECT_EQ(t.completion_tokens(), static_cast<int64_t>(all.size() - 1));
  // "</think>" and the ids before it; "\n\n" is the first content.
  EXPECT_EQ(t.reasoning_tokens(), static_cast<int64_t>(reasoning.size() + 1));
  // Undecodable ids are an error.
  OutputTracker bad(&TinyTokenizer(), o);
  EXPECT_FALSE(bad.Append({999999}, &d).ok());
}

class SessionTest : public ::testing::Test {
 protected:
  SessionTest()
      : generator_(ServedModel{testing::kModelId, 64, TinyTokenizer().id_limit(), 0}),
        builder_(Builder()) {
    env_.tokenizer = &TinyTokenizer();
    env_.generator = &generator_;
    env_.prompts = builder_.get();
    env_.skip_ids = detok::SpecialIdsExceptThink(TinyTokenizer());
  }

  absl::StatusOr<std::unique_ptr<CompletionSession>> Start(
      const OpenAiRequest& r, absl::Time deadline = absl::InfiniteFuture()) {
    return CompletionSession::Start(&env_, r, "req-1", absl::Now(), deadline);
  }

  // Runs a session to its end; returns reasoning + "|" + content.
  std::string Drain(CompletionSession* s, CompletionFinish* finish, absl::Status* error,
                    size_t* ids = nullptr) {
    std::string reasoning, content;
    size_t n = 0;
    for (int i = 0; i < 10000; ++i) {
      CompletionStep step = s->Next(absl::Milliseconds(20));
      reasoning += step.reasoning;
      content += step.content;
      n += step.token_ids.size();
      if (step.finish != CompletionFinish::kNone) {
        *finish = step.finish;
        *error = step.error;
        break;
      }
    }
    if (ids != nullptr) *ids = n;
    return reasoning + "|" + content;
  }

  FakeGenerator generator_;
  std::unique_ptr<PromptBuilder> builder_;
  CompletionEnv env_;
};

TEST_F(SessionTest, RunsToEosWithUsage) {
  const std::vector<int32_t> tokens = Ids("Hmm.</think>\n\nHello there.");
  generator_.SetScript([&](const GenerationRequest&) {
    FakeScript s;
    s.tokens = tokens;
    s.tokens_per_batch = 3;
    return s;
  });
  auto s = Start(ChatRequest({Msg("user", "Hi")}));
  ASSERT_TRUE(s.ok()) << s.status();
  CompletionFinish finish;
  absl::Status error;
  size_t ids = 0;
  EXPECT_EQ(Drain(s->get(), &finish, &error, &ids), "Hmm.|\n\nHello there.");
  EXPECT_EQ(finish, CompletionFinish::kStop);
  EXPECT_TRUE(error.ok());
  EXPECT_EQ(ids, tokens.size());
  const Usage u = (*s)->usage();
  EXPECT_EQ(u.prompt_tokens,
            static_cast<int64_t>(generator_.last_request()->prompt_token_ids.size()));
  EXPECT_EQ(u.completion_tokens, static_cast<int64_t>(tokens.size()));
  EXPECT_EQ(generator_.cancelled(), 0);  // ended by the generator itself
}

// A dense config.json's eos_token_id list: every id of it ends the output like the EOS token,
// and reaches the generator as a stop id; ignore_eos drops them all.
TEST_F(SessionTest, ExtraEosIdsEndTheOutput) {
  const std::vector<int32_t> dot = Ids(".", false);
  ASSERT_EQ(dot.size(), 1u);
  env_.extra_eos_ids = {dot[0], testing::EosId()};
  const std::vector<int32_t> tokens = Ids("Yes. And more", false);
  generator_.SetScript([&](const GenerationRequest&) {
    FakeScript s;
    s.tokens = tokens;
    return s;
  });
  OpenAiRequest r = ChatRequest({Msg("user", "Hi")});
  r.kind = ApiKind::kCompletion;
  r.prompt_text = "Hi";
  auto s = Start(r);
  ASSERT_TRUE(s.ok()) << s.status();
  CompletionFinish finish;
  absl::Status error;
  EXPECT_EQ(Drain(s->get(), &finish, &error), "|Yes");
  EXPECT_EQ(finish, CompletionFinish::kStop);
  EXPECT_EQ(generator_.last_request()->stop_token_ids,
            (std::vector<int32_t>{testing::EosId(), dot[0]}));

  r.ignore_eos = true;
  s = Start(r);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Drain(s->get(), &finish, &error), "|Yes. And more");
  EXPECT_TRUE(generator_.last_request()->stop_token_ids.empty());
}

TEST_F(SessionTest, ConversationEndingInToolOutputStartsAsContent) {
  generator_.SetScript([&](const GenerationRequest&) {
    FakeScript s;
    s.tokens = Ids("The tool says 42.");
    return s;
  });
  ChatMessage call;
  call.role = "assistant";
  call.has_tool_calls = true;
  call.tool_calls.push_back({"function", "f", "{}"});
  auto s = Start(ChatRequest({Msg("user", "Hi"), call, Msg("tool", "42")}));
  ASSERT_TRUE(s.ok()) << s.status();
  CompletionFinish finish;
  absl::Status error;
  EXPECT_EQ(Drain(s->get(), &finish, &error), "|The tool says 42.");
}

TEST_F(SessionTest, LengthDeadlineErrorsAndCancel) {
  generator_.SetScript([&](const GenerationRequest&) {
    FakeScript s;
    s.tokens = Ids(" word", false);
    s.never_ends = true;
    s.delay = absl::Milliseconds(2);
    return s;
  });
  OpenAiRequest r = ChatRequest({Msg("user", "Hi")});
  r.max_tokens = 5;
  auto s = Start(r);
  ASSERT_TRUE(s.ok()) << s.status();
  CompletionFinish finish;
  absl::Status error;
  size_t ids = 0;
  Drain(s->get(), &finish, &error, &ids);
  EXPECT_EQ(finish, CompletionFinish::kLength);
  EXPECT_EQ(ids, 5u);
  EXPECT_EQ(FinishReasonText(finish), "length");

  r.max_tokens.reset();
  s = Start(r, absl::Now() + absl::Milliseconds(50));
  ASSERT_TRUE(s.ok());
  Drain(s->get(), &finish, &error);
  EXPECT_EQ(finish, CompletionFinish::kError);
  EXPECT_EQ(error.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ApiStatusCode(error), "request_timeout");
  EXPECT_EQ(generator_.cancelled(), 1);

  // Destroying an unfinished session cancels its sequence.
  s = Start(r);
  ASSERT_TRUE(s.ok());
  (*s)->Next(absl::Milliseconds(20));
  s->reset();
  EXPECT_EQ(generator_.cancelled(), 2);
  EXPECT_TRUE(generator_.WaitIdle(absl::Seconds(1)));
}

TEST_F(SessionTest, StartErrors) {
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "the quick brown fox jumps ";
  OpenAiRequest r = ChatRequest({Msg("user", long_text)});
  auto s = Start(r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ApiStatusCode(s.status()), "context_length_exceeded");
  r = ChatRequest({Msg("user", "Hi")});
  generator_.SetSubmitError(absl::ResourceExhaustedError("full"));
  s = Start(r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  generator_.SetSubmitError(absl::AbortedError("odd"));
  s = Start(r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(generator_.submitted(), 0);
}

TEST_F(SessionTest, UndecodableTokenIsAnError) {
  generator_.SetScript([&](const GenerationRequest&) {
    FakeScript s;
    const int32_t ok = Ids("ok", false)[0];
    s.tokens = {ok, TinyTokenizer().id_limit() + 5, ok, ok};
    return s;
  });
  auto s = Start(ChatRequest({Msg("user", "Hi")}));
  ASSERT_TRUE(s.ok());
  CompletionFinish finish;
  absl::Status error;
  Drain(s->get(), &finish, &error);
  EXPECT_EQ(finish, CompletionFinish::kError);
  EXPECT_EQ(error.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(generator_.cancelled(), 1);
}

// n samples: one Generator sequence each (seed + i), steps tagged with their sample, per-sample
// finishes and usage, the usage of the request summed (the prompt once).
TEST_F(SessionTest, SamplesRunTogetherWithTheirOwnSeeds) {
  generator_.SetScript([&](const GenerationRequest& g) {
    FakeScript s;
    s.tokens = Ids(absl::StrCat("Seed ", *g.seed, std::string(*g.seed - 6, '!'), "</think>ok"));
    s.tokens_per_batch = 2;
    return s;
  });
  OpenAiRequest r = ChatRequest({Msg("user", "Hi")});
  r.n = 3;
  r.seed = 7;
  auto s = Start(r);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->samples(), 3);
  EXPECT_EQ(generator_.submitted(), 3);
  std::vector<std::string> reasoning(3), content(3);
  std::vector<size_t> ids(3, 0);
  std::vector<int> finishes(3, 0);
  for (int i = 0; i < 10000 && !(*s)->finished(); ++i) {
    CompletionStep step = (*s)->Next(absl::Milliseconds(20));
    ASSERT_TRUE(step.index >= 0 && step.index < 3);
    EXPECT_TRUE(step.logprobs.empty());  // not asked for
    reasoning[step.index] += step.reasoning;
    content[step.index] += step.content;
    ids[step.index] += step.token_ids.size();
    ASSERT_NE(step.finish, CompletionFinish::kError) << step.error;
    if (step.finish != CompletionFinish::kNone) ++finishes[step.index];
  }
  ASSERT_TRUE((*s)->finished());
  int64_t total = 0;
  for (int i = 0; i < 3; ++i) {
    const uint64_t seed = 7 + i;
    EXPECT_EQ(reasoning[i], absl::StrCat("Seed ", seed, std::string(seed - 6, '!'))) << i;
    EXPECT_EQ(content[i], "ok");
    EXPECT_EQ(finishes[i], 1);
    EXPECT_EQ((*s)->finish(i), CompletionFinish::kStop);
    EXPECT_EQ((*s)->usage(i).completion_tokens, static_cast<int64_t>(ids[i]));
    EXPECT_EQ((*s)->usage(i).prompt_tokens, (*s)->usage().prompt_tokens);
    total += static_cast<int64_t>(ids[i]);
  }
  EXPECT_EQ((*s)->usage().completion_tokens, total);
  EXPECT_EQ((*s)->usage().prompt_tokens,
            static_cast<int64_t>(generator_.last_request()->prompt_token_ids.size()));
  EXPECT_EQ(generator_.cancelled(), 0);
}

TEST_F(SessionTest, ARefusedSampleCancelsTheSubmittedOnes) {
  generator_.SetScript([&](const GenerationRequest&) {
    FakeScript s;
    s.tokens = Ids(" x", false);
    s.never_ends = true;
    return s;
  });
  generator_.SetSubmitError(absl::ResourceExhaustedError("full"), /*after=*/2);
  OpenAiRequest r = ChatRequest({Msg("user", "Hi")});
  r.n = 4;
  auto s = Start(r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(generator_.submitted(), 2);
  EXPECT_EQ(generator_.cancelled(), 2);
  EXPECT_TRUE(generator_.WaitIdle(absl::Seconds(1)));
  generator_.SetSubmitError(absl::OkStatus());
}

TEST_F(SessionTest, LogprobsFollowTheirTokensAndAreRequired) {
  const std::vector<int32_t> tokens = Ids("Hm.</think>\n\nSure, stop here please.");
  generator_.SetScript([&](const GenerationRequest&) {
    FakeScript s;
    s.tokens = tokens;
    s.tokens_per_batch = 4;
    return s;
  });
  OpenAiRequest r = ChatRequest({Msg("user", "Hi")});
  r.logprobs = true;
  r.top_logprobs = 3;
  r.stop = {"here"};
  auto s = Start(r);
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<int32_t> ids;
  std::vector<TokenLogprob> lps;
  while (!(*s)->finished()) {
    CompletionStep step = (*s)->Next(absl::Milliseconds(20));
    ASSERT_EQ(step.logprobs.size(), step.token_ids.size());
    ids.insert(ids.end(), step.token_ids.begin(), step.token_ids.end());
    lps.insert(lps.end(), step.logprobs.begin(), step.logprobs.end());
  }
  // The stop string ended the output early: only consumed tokens, each with its own logprob.
  ASSERT_LT(ids.size(), tokens.size());
  EXPECT_EQ(static_cast<int64_t>(ids.size()), (*s)->usage().completion_tokens);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i], tokens[i]);
    const TokenLogprob want = FakeLogprob(ids[i], i, 3, TinyTokenizer().id_limit());
    EXPECT_EQ(lps[i].logprob, want.logprob);
    EXPECT_EQ(lps[i].top, want.top);
  }
  // A generator that sends none fails the session.
  generator_.SetScript([&](const GenerationRequest&) {
    FakeScript f;
    f.tokens = tokens;
    f.omit_logprobs = true;
    return f;
  });
  s = Start(r);
  ASSERT_TRUE(s.ok());
  CompletionFinish finish;
  absl::Status error;
  Drain(s->get(), &finish, &error);
  EXPECT_EQ(finish, CompletionFinish::kError);
  EXPECT_EQ(ApiStatusCode(error), "generation_failed");
}

}  // namespace
}  // namespace r1::api
