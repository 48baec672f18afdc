// n samples, logprobs, penalties, logit_bias and system_fingerprint through the HTTP server over a
// FakeGenerator (real sockets): OpenAI's response and chunk shapes for chat and completions,
// streamed and not; seeds per sample; one sample's failure and a client's disconnect ending every
// sample; out-of-range values refused by name. Also the logprobs JSON builders on their own.
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/http/logprobs_json.h"
#include "coordinator/http/openai_response.h"
#include "coordinator/testing/http_test_util.h"
#include "gtest/gtest.h"

namespace r1::http {
namespace {

using json = nlohmann::json;
using testing::ChatBody;
using testing::FakeLogprob;
using testing::FakeScript;
using testing::HttpConnection;
using testing::HttpReply;
using testing::Ids;
using testing::Post;
using testing::SseData;
using testing::TestServer;
using testing::TinyTokenizer;

constexpr char kChat[] = "/v1/chat/completions";
constexpr char kCompletions[] = "/v1/completions";

std::string Comp(const std::string& extra) {
  return absl::StrCat(R"({"model":"r1-tiny","prompt":"Once upon a time")", extra.empty() ? "" : ",",
                      extra, "}");
}

// The JSON payloads of a stream (without [DONE]); fails the test when it does not end in [DONE].
std::vector<json> Chunks(const HttpReply& r) {
  std::vector<std::string> data = SseData(r.body);
  EXPECT_FALSE(data.empty());
  if (data.empty()) return {};
  EXPECT_EQ(data.back(), "[DONE]") << r.body;
  std::vector<json> out;
  for (size_t i = 0; i + 1 < data.size(); ++i) out.push_back(json::parse(data[i]));
  return out;
}

int64_t CodePoints(const std::string& s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// Checks chat logprobs entries against the fake's values for `ids`.
void ExpectChatEntries(const json& entries, const std::vector<int32_t>& ids, int top) {
  ASSERT_TRUE(entries.is_array());
  ASSERT_EQ(entries.size(), ids.size()) << entries.dump();
  const int64_t vocab = TinyTokenizer().id_limit();
  for (size_t i = 0; i < ids.size(); ++i) {
    const json& e = entries[i];
    const TokenLogprob want = FakeLogprob(ids[i], i, top, vocab);
    EXPECT_EQ(e["token"], TokenText(TinyTokenizer(), ids[i])) << i;
    EXPECT_DOUBLE_EQ(e["logprob"].get<double>(), want.logprob) << i;
    std::vector<int> bytes;
    for (char c : TinyTokenizer().TokenBytes(ids[i]))
      bytes.push_back(static_cast<unsigned char>(c));
    EXPECT_EQ(e["bytes"].get<std::vector<int>>(), bytes) << i;
    ASSERT_EQ(e["top_logprobs"].size(), static_cast<size_t>(top)) << i;
    for (int k = 0; k < top; ++k) {
      const json& alt = e["top_logprobs"][k];
      EXPECT_EQ(alt["token"], TokenText(TinyTokenizer(), want.top[k].first));
      EXPECT_DOUBLE_EQ(alt["logprob"].get<double>(), want.top[k].second);
      EXPECT_TRUE(alt["bytes"].is_array());
      EXPECT_EQ(alt.size(), 3u);
    }
    EXPECT_EQ(e.size(), 4u) << e.dump();
  }
}

// Checks a completions logprobs object against the fake's values for `ids`.
void ExpectCompletionLogprobs(const json& lp, const std::vector<int32_t>& ids, int top) {
  ASSERT_TRUE(lp.is_object()) << lp.dump();
  ASSERT_EQ(lp.size(), 4u) << lp.dump();
  ASSERT_EQ(lp["tokens"].size(), ids.size());
  ASSERT_EQ(lp["token_logprobs"].size(), ids.size());
  ASSERT_EQ(lp["top_logprobs"].size(), ids.size());
  ASSERT_EQ(lp["text_offset"].size(), ids.size());
  const int64_t vocab = TinyTokenizer().id_limit();
  int64_t offset = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const TokenLogprob want = FakeLogprob(ids[i], i, top, vocab);
    const std::string text = TokenText(TinyTokenizer(), ids[i]);
    EXPECT_EQ(lp["tokens"][i], text);
    EXPECT_DOUBLE_EQ(lp["token_logprobs"][i].get<double>(), want.logprob);
    EXPECT_EQ(lp["text_offset"][i], offset) << i;
    offset += CodePoints(text);
    const json& alts = lp["top_logprobs"][i];
    ASSERT_TRUE(alts.is_object());
    // The alternatives (the sampled token first) and nothing else: up to logprobs + 1 entries.
    std::set<std::string> keys;
    for (const auto& [id, value] : want.top) keys.insert(TokenText(TinyTokenizer(), id));
    keys.insert(text);
    EXPECT_EQ(alts.size(), keys.size()) << alts.dump();
    EXPECT_DOUBLE_EQ(alts[text].get<double>(), want.logprob);
  }
}

TEST(LogprobsJsonTest, ChatEntriesAndCompletionObjects) {
  const tok::Tokenizer& t = TinyTokenizer();
  const std::vector<int32_t> ids = Ids(" hello world", false);
  std::vector<TokenLogprob> lps;
  for (size_t i = 0; i < ids.size(); ++i) lps.push_back(FakeLogprob(ids[i], i, 3, t.id_limit()));
  lps[0].logprob = -std::numeric_limits<float>::infinity();
  lps[0].top[2].second = std::numeric_limits<float>::quiet_NaN();
  const json entries = ChatLogprobEntries(t, ids, lps, 2);
  ASSERT_EQ(entries.size(), ids.size());
  EXPECT_EQ(entries[0]["logprob"], -9999.0);         // probability 0, as OpenAI reports it
  EXPECT_EQ(entries[0]["top_logprobs"].size(), 2u);  // at most `top`
  EXPECT_EQ(entries[0]["token"], *t.Decode({ids[0]}));
  EXPECT_EQ(ChatLogprobEntries(t, ids, lps, 3)[0]["top_logprobs"][2]["logprob"], -9999.0);
  // An id the tokenizer does not know.
  EXPECT_EQ(TokenText(t, t.id_limit() + 3), "");

  CompletionLogprobs c(1);
  c.Append(t, absl::MakeSpan(ids).subspan(0, 1), absl::MakeSpan(lps).subspan(0, 1));
  json first = c.Take();
  EXPECT_EQ(first["tokens"], json::array({TokenText(t, ids[0])}));
  EXPECT_EQ(first["text_offset"], json::array({0}));
  EXPECT_TRUE(c.empty());
  c.Append(t, absl::MakeSpan(ids).subspan(1), absl::MakeSpan(lps).subspan(1));
  json rest = c.Json();
  // Continues after the first token.
  EXPECT_EQ(rest["text_offset"][0], CodePoints(TokenText(t, ids[0])));
  // Alternatives: the sampled token is the first (top 1), so one entry.
  EXPECT_EQ(rest["top_logprobs"][0].size(), 1u);
  // Non-ASCII text: offsets count code points, not bytes.
  const std::vector<int32_t> u = Ids("é€ü and ö", false);
  std::vector<TokenLogprob> ulp(u.size());
  CompletionLogprobs cu(0);
  cu.Append(t, u, ulp);
  const json uj = cu.Json();
  ASSERT_EQ(uj["tokens"].size(), u.size());
  int64_t points = 0;
  size_t bytes = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    EXPECT_EQ(uj["text_offset"][i], points) << i;
    const std::string text = uj["tokens"][i];
    points += CodePoints(text);
    bytes += text.size();
  }
  EXPECT_LT(static_cast<size_t>(points), bytes);
  // Each top_logprobs dict holds the sampled token even with logprobs = 0.
  for (const auto& d : uj["top_logprobs"]) EXPECT_EQ(d.size(), 1u);
}

TEST(OpenAiSamplingTest, SystemFingerprintIsStableAndEverywhere) {
  const std::string fp = SystemFingerprint("r1-tiny");
  EXPECT_TRUE(absl::StartsWith(fp, "fp_r1serve_")) << fp;
  EXPECT_EQ(fp, SystemFingerprint("r1-tiny"));
  EXPECT_NE(fp, SystemFingerprint("r1-other"));
  TestServer s;
  s.Script(Ids("Hm.</think>\n\nYes."));
  HttpReply r = Post(s.port(), kChat, ChatBody());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["system_fingerprint"], fp);
  r = Post(s.port(), kCompletions, Comp(""));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["system_fingerprint"], fp);
  for (const std::string& body :
       {ChatBody(R"("stream":true,"stream_options":{"include_usage":true})"),
        Comp(R"("stream":true,"stream_options":{"include_usage":true})")}) {
    r = Post(s.port(), absl::StrContains(body, "messages") ? kChat : kCompletions, body);
    ASSERT_EQ(r.status, 200) << r.body;
    for (const json& c : Chunks(r)) EXPECT_EQ(c["system_fingerprint"], fp) << c.dump();
  }
}

TEST(OpenAiSamplingTest, ChatLogprobsStreamedAndNot) {
  TestServer s;
  const std::vector<int32_t> tokens = Ids("Let me see.</think>\n\nIt is 4.");
  s.Script(tokens, absl::ZeroDuration());
  HttpReply r = Post(s.port(), kChat, ChatBody(R"("logprobs":true,"top_logprobs":2)"));
  ASSERT_EQ(r.status, 200) << r.body;
  const GenerationRequest g = *s.generator().last_request();
  EXPECT_TRUE(g.logprobs);
  EXPECT_EQ(g.top_logprobs, 2);
  const json choice = r.Json()["choices"][0];
  ASSERT_TRUE(choice["logprobs"].is_object()) << r.body;
  EXPECT_EQ(choice["logprobs"].size(), 1u);
  // One entry per generated token (EOS included, as usage counts it).
  ExpectChatEntries(choice["logprobs"]["content"], tokens, 2);
  EXPECT_EQ(r.Json()["usage"]["completion_tokens"], tokens.size());

  // top_logprobs 0: entries with an empty list of alternatives.
  r = Post(s.port(), kChat, ChatBody(R"("logprobs":true,"top_logprobs":0)"));
  ASSERT_EQ(r.status, 200) << r.body;
  ExpectChatEntries(r.Json()["choices"][0]["logprobs"]["content"], tokens, 0);
  // Without logprobs: null, and the generator is not asked for them.
  r = Post(s.port(), kChat, ChatBody(R"("logprobs":false)"));
  EXPECT_TRUE(r.Json()["choices"][0]["logprobs"].is_null());
  EXPECT_FALSE(s.generator().last_request()->logprobs);

  // Streamed: every chunk's logprobs are its tokens'; together they are the same entries.
  for (size_t per_batch : {size_t{1}, size_t{3}}) {
    s.generator().SetScript([&](const GenerationRequest&) {
      FakeScript f;
      f.tokens = tokens;
      f.tokens_per_batch = per_batch;
      return f;
    });
    r = Post(s.port(), kChat, ChatBody(R"("logprobs":true,"top_logprobs":2,"stream":true)"));
    ASSERT_EQ(r.status, 200) << r.body;
    json all = json::array();
    std::string text;
    for (const json& c : Chunks(r)) {
      const json& ch = c["choices"][0];
      EXPECT_EQ(ch["index"], 0);
      ASSERT_TRUE(ch.contains("logprobs"));
      if (ch["logprobs"].is_null()) continue;
      EXPECT_TRUE(ch["finish_reason"].is_null());
      for (const json& e : ch["logprobs"]["content"]) all.push_back(e);
    }
    ExpectChatEntries(all, tokens, 2);
  }
}

TEST(OpenAiSamplingTest, CompletionLogprobsStreamedAndNot) {
  TestServer s;
  const std::vector<int32_t> tokens = Ids(" and they lived happily ever after.");
  s.Script(tokens);
  HttpReply r = Post(s.port(), kCompletions, Comp(R"("logprobs":3)"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(s.generator().last_request()->top_logprobs, 3);
  const json choice = r.Json()["choices"][0];
  ExpectCompletionLogprobs(choice["logprobs"], tokens, 3);
  // The tokens spell the text, then the EOS the output consumed.
  std::string joined;
  for (const auto& t : choice["logprobs"]["tokens"]) joined += t.get<std::string>();
  EXPECT_EQ(joined, choice["text"].get<std::string>() + testing::kEos);
  r = Post(s.port(), kCompletions, Comp(R"("logprobs":0)"));
  ASSERT_EQ(r.status, 200) << r.body;
  ExpectCompletionLogprobs(r.Json()["choices"][0]["logprobs"], tokens, 0);
  r = Post(s.port(), kCompletions, Comp(R"("logprobs":null)"));
  EXPECT_TRUE(r.Json()["choices"][0]["logprobs"].is_null());
  EXPECT_FALSE(s.generator().last_request()->logprobs);

  s.generator().SetScript([&](const GenerationRequest&) {
    FakeScript f;
    f.tokens = tokens;
    f.tokens_per_batch = 2;
    return f;
  });
  r = Post(s.port(), kCompletions, Comp(R"("logprobs":3,"stream":true)"));
  ASSERT_EQ(r.status, 200) << r.body;
  json merged = {{"tokens", json::array()},
                 {"token_logprobs", json::array()},
                 {"top_logprobs", json::array()},
                 {"text_offset", json::array()}};
  for (const json& c : Chunks(r)) {
    const json& lp = c["choices"][0]["logprobs"];
    if (lp.is_null()) continue;
    for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
      for (const json& v : lp[key]) merged[key].push_back(v);
    }
  }
  ExpectCompletionLogprobs(merged, tokens, 3);
}

// The fake's reply to a sample: " s<seed>" (or " none" without a seed).
void ScriptBySeed(TestServer& s) {
  s.generator().SetScript([](const GenerationRequest& g) {
    FakeScript f;
    f.tokens = Ids(g.seed.has_value() ? absl::StrCat(" s", *g.seed) : " none");
    return f;
  });
}

TEST(OpenAiSamplingTest, NSamplesWithASeedReproduce) {
  TestServer s;
  ScriptBySeed(s);
  HttpReply r = Post(s.port(), kCompletions, Comp(R"("n":4,"seed":10,"max_tokens":20)"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(s.generator().submitted(), 4);
  const json j = r.Json();
  ASSERT_EQ(j["choices"].size(), 4u);
  int64_t tokens = 0;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(j["choices"][i]["index"], i);
    EXPECT_EQ(j["choices"][i]["text"], absl::StrCat(" s", 10 + i));
    EXPECT_EQ(j["choices"][i]["finish_reason"], "stop");
    tokens += static_cast<int64_t>(Ids(absl::StrCat(" s", 10 + i)).size());
  }
  // Usage: the prompt once, the completions of every sample.
  EXPECT_EQ(j["usage"]["completion_tokens"], tokens);
  EXPECT_EQ(j["usage"]["prompt_tokens"], s.generator().last_request()->prompt_token_ids.size());
  // The same request again: the same choices.
  HttpReply again = Post(s.port(), kCompletions, Comp(R"("n":4,"seed":10,"max_tokens":20)"));
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.Json()["choices"], j["choices"]);
  // best_of = n is the same request.
  EXPECT_EQ(Post(s.port(), kCompletions, Comp(R"("n":4,"best_of":4,"seed":10)")).Json()["choices"],
            j["choices"]);
  // Without a seed, no sample gets one (the cluster draws each its own).
  r = Post(s.port(), kChat, ChatBody(R"("n":3)"));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.Json()["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.Json()["choices"][i]["index"], i);
    EXPECT_EQ(r.Json()["choices"][i]["message"]["reasoning_content"], " none");
  }
}

// The request metrics count a request of n samples once; its tokens are every sample's.
TEST(OpenAiSamplingTest, MetricsCountTheRequestOnce) {
  TestServer s;
  ScriptBySeed(s);
  HttpReply r = Post(s.port(), kCompletions, Comp(R"("n":4,"seed":1)"));
  ASSERT_EQ(r.status, 200) << r.body;
  const json usage = r.Json()["usage"];
  const std::string metrics = testing::Request(s.port(), "GET", "/metrics").body;
  for (const std::string& want : {
           absl::StrCat("r1_prompt_tokens_total ", usage["prompt_tokens"].get<int>()),
           absl::StrCat("r1_generation_tokens_total ", usage["completion_tokens"].get<int>()),
           std::string("r1_e2e_request_latency_seconds_count 1"),
           std::string("r1_time_to_first_token_seconds_count 1"),
           std::string("r1_http_requests_running 0"),
       }) {
    EXPECT_NE(metrics.find(want), std::string::npos) << want << "\n" << metrics;
  }
}

TEST(OpenAiSamplingTest, NSamplesStreamInterleavedWithUsageSummed) {
  TestServer s;
  s.generator().SetScript([](const GenerationRequest& g) {
    FakeScript f;
    f.tokens = Ids(absl::StrCat("Think ", *g.seed, ".</think>\n\nAnswer ", *g.seed, "."));
    f.delay = absl::Milliseconds(1);
    return f;
  });
  HttpReply r =
      Post(s.port(), kChat,
           ChatBody(R"("n":3,"seed":5,"stream":true,"stream_options":{"include_usage":true},)"
                    R"("logprobs":true,"top_logprobs":1)"));
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<json> chunks = Chunks(r);
  ASSERT_FALSE(chunks.empty());
  std::map<int, std::string> reasoning, content;
  std::map<int, int> roles, finishes;
  std::map<int, json> logprobs;
  for (size_t k = 0; k + 1 < chunks.size(); ++k) {
    const json& c = chunks[k];
    EXPECT_TRUE(c["usage"].is_null());
    ASSERT_EQ(c["choices"].size(), 1u);
    const json& ch = c["choices"][0];
    const int i = ch["index"];
    ASSERT_TRUE(i >= 0 && i < 3) << c.dump();
    EXPECT_EQ(finishes[i], 0) << "chunk after the finish of " << i;
    if (ch["delta"].contains("role")) ++roles[i];
    if (ch["delta"].contains("reasoning_content")) reasoning[i] += ch["delta"]["reasoning_content"];
    if (ch["delta"].contains("content")) content[i] += ch["delta"]["content"];
    if (!ch["finish_reason"].is_null()) {
      EXPECT_EQ(ch["finish_reason"], "stop");
      ++finishes[i];
    }
    if (!ch["logprobs"].is_null()) {
      for (const json& e : ch["logprobs"]["content"]) logprobs[i].push_back(e);
    }
  }
  int64_t total = 0;
  for (int i = 0; i < 3; ++i) {
    const int seed = 5 + i;
    EXPECT_EQ(roles[i], 1);
    EXPECT_EQ(finishes[i], 1);
    EXPECT_EQ(reasoning[i], absl::StrCat("Think ", seed, "."));
    EXPECT_EQ(content[i], absl::StrCat("\n\nAnswer ", seed, "."));
    const std::vector<int32_t> ids =
        Ids(absl::StrCat("Think ", seed, ".</think>\n\nAnswer ", seed, "."));
    ExpectChatEntries(logprobs[i], ids, 1);
    total += static_cast<int64_t>(ids.size());
  }
  const json& usage = chunks.back();
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], total);
  EXPECT_GT(usage["usage"]["completion_tokens_details"]["reasoning_tokens"].get<int>(), 0);
}

TEST(OpenAiSamplingTest, OneFailingSampleEndsTheRequestAndCancelsTheOthers) {
  TestServer s;
  s.generator().SetScript([](const GenerationRequest& g) {
    FakeScript f;
    f.delay = absl::Milliseconds(2);
    if (*g.seed == 2) {
      f.tokens = Ids("partial", false);
      f.end = GenerationEnd::kError;
      f.error = "worker w3 died";
    } else {
      f.tokens = Ids(" more", false);
      f.never_ends = true;
    }
    return f;
  });
  HttpReply r = Post(s.port(), kChat, ChatBody(R"("n":4,"seed":0)"));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(r.Json()["error"]["message"], "worker w3 died");
  EXPECT_TRUE(s.generator().WaitCancelled(3, absl::Seconds(5)));
  EXPECT_TRUE(s.generator().WaitIdle(absl::Seconds(5)));
  r = Post(s.port(), kChat, ChatBody(R"("n":4,"seed":0,"stream":true)"));
  ASSERT_EQ(r.status, 200);
  const std::vector<std::string> data = SseData(r.body);
  ASSERT_GE(data.size(), 2u);
  EXPECT_EQ(data.back(), "[DONE]");
  EXPECT_EQ(json::parse(data[data.size() - 2])["error"]["message"], "worker w3 died");
  EXPECT_TRUE(s.generator().WaitCancelled(6, absl::Seconds(5)));
  // A generator that does not send the logprobs asked for fails the request.
  s.generator().SetScript([](const GenerationRequest&) {
    FakeScript f;
    f.tokens = Ids("x</think>y");
    f.omit_logprobs = true;
    return f;
  });
  r = Post(s.port(), kChat, ChatBody(R"("logprobs":true)"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.Json()["error"]["code"], "generation_failed");
  EXPECT_EQ(Post(s.port(), kChat, ChatBody()).status, 200);  // without logprobs: fine
}

TEST(OpenAiSamplingTest, ClientGoneCancelsEverySample) {
  OpenAiHttpServerOptions o;
  TestServer s(o);
  s.Forever(absl::Milliseconds(5));
  HttpConnection c(s.port());
  const std::string body = ChatBody(R"("n":4,"stream":true)");
  ASSERT_TRUE(c.WriteRaw(absl::StrCat(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: ",
      body.size(), "\r\n\r\n", body)));
  int status = 0;
  c.ReadStreamUntil("reasoning_content", &status);
  EXPECT_EQ(status, 200);
  c.Close();
  EXPECT_TRUE(s.generator().WaitCancelled(4, absl::Seconds(5)));
  EXPECT_TRUE(s.generator().WaitIdle(absl::Seconds(5)));
}

TEST(OpenAiSamplingTest, PenaltiesAndLogitBiasReachTheGenerator) {
  TestServer s;
  s.Script(Ids("a</think>b"));
  HttpReply r = Post(s.port(), kChat,
                     ChatBody(R"("presence_penalty":0.5,"frequency_penalty":-1.25,)"
                              R"("repetition_penalty":1.2,"logit_bias":{"7":-100,"5":3.5})"));
  ASSERT_EQ(r.status, 200) << r.body;
  GenerationRequest g = *s.generator().last_request();
  EXPECT_FLOAT_EQ(g.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(g.frequency_penalty, -1.25f);
  EXPECT_FLOAT_EQ(g.repetition_penalty, 1.2f);
  EXPECT_EQ(g.logit_bias, (std::vector<std::pair<int32_t, float>>{{5, 3.5f}, {7, -100.0f}}));
  r = Post(s.port(), kCompletions, Comp(""));
  ASSERT_EQ(r.status, 200);
  g = *s.generator().last_request();
  EXPECT_EQ(g.presence_penalty, 0.0f);
  EXPECT_EQ(g.frequency_penalty, 0.0f);
  EXPECT_EQ(g.repetition_penalty, 1.0f);
  EXPECT_TRUE(g.logit_bias.empty());
  EXPECT_FALSE(g.logprobs);
}

// Each bad value of a new parameter: 400 naming it; nothing reaches the generator.
TEST(OpenAiSamplingTest, OutOfRangeValuesAreRefusedByName) {
  TestServer s;
  s.Script(Ids("x"));
  struct Case {
    const char* route;
    std::string body;
    const char* param;
    const char* code;
  };
  std::string many = "{";
  for (int i = 0; i < 301; ++i) absl::StrAppend(&many, i == 0 ? "" : ",", "\"", i, "\":1");
  many += "}";
  const std::vector<Case> cases = {
      {kChat, ChatBody(R"("n":0)"), "n", "invalid_value"},
      {kChat, ChatBody(R"("n":17)"), "n", "invalid_value"},
      {kChat, ChatBody(R"("n":"2")"), "n", "invalid_type"},
      {kChat, ChatBody(R"("presence_penalty":2.5)"), "presence_penalty", "invalid_value"},
      {kChat, ChatBody(R"("frequency_penalty":-3)"), "frequency_penalty", "invalid_value"},
      {kChat, ChatBody(R"("frequency_penalty":"x")"), "frequency_penalty", "invalid_type"},
      {kChat, ChatBody(R"("repetition_penalty":0)"), "repetition_penalty", "invalid_value"},
      {kChat, ChatBody(R"("repetition_penalty":2.01)"), "repetition_penalty", "invalid_value"},
      {kChat, ChatBody(R"("logit_bias":[1])"), "logit_bias", "invalid_type"},
      {kChat, ChatBody(R"("logit_bias":{"x":1})"), "logit_bias", "invalid_value"},
      {kChat, ChatBody(R"("logit_bias":{"1":"a"})"), "logit_bias", "invalid_type"},
      {kChat, ChatBody(R"("logit_bias":{"1":101})"), "logit_bias", "invalid_value"},
      {kChat, ChatBody(R"("logit_bias":{"-1":1})"), "logit_bias", "invalid_value"},
      {kChat, ChatBody(R"("logit_bias":{"99999999":1})"), "logit_bias", "invalid_value"},
      {kChat, ChatBody(absl::StrCat(R"("logit_bias":)", many)), "logit_bias", "invalid_value"},
      {kChat, ChatBody(R"("logprobs":1)"), "logprobs", "invalid_type"},
      {kChat, ChatBody(R"("top_logprobs":2)"), "top_logprobs", "invalid_value"},
      {kChat, ChatBody(R"("logprobs":true,"top_logprobs":21)"), "top_logprobs", "invalid_value"},
      {kChat, ChatBody(R"("logprobs":true,"top_logprobs":-1)"), "top_logprobs", "invalid_value"},
      {kChat, ChatBody(R"("logprobs":true,"top_logprobs":1.5)"), "top_logprobs", "invalid_type"},
      {kChat, ChatBody(R"("n":2,"best_of":3)"), "best_of", "unsupported_parameter"},
      {kCompletions, Comp(R"("logprobs":6)"), "logprobs", "invalid_value"},
      {kCompletions, Comp(R"("logprobs":-1)"), "logprobs", "invalid_value"},
      {kCompletions, Comp(R"("logprobs":true)"), "logprobs", "invalid_type"},
      {kCompletions, Comp(R"("logprobs":1,"top_logprobs":1)"), "top_logprobs",
       "unsupported_parameter"},
      {kCompletions, Comp(R"("best_of":2)"), "best_of", "unsupported_parameter"},
      {kCompletions, Comp(R"("logprobs":2,"echo":true)"), "echo", "unsupported_parameter"},
  };
  for (const Case& c : cases) {
    const HttpReply r = Post(s.port(), c.route, c.body);
    EXPECT_EQ(r.status, 400) << c.body << "\n" << r.body;
    const json e = r.Json()["error"];
    EXPECT_EQ(e["param"], c.param) << c.body << "\n" << r.body;
    EXPECT_EQ(e["code"], c.code) << c.body << "\n" << r.body;
  }
  EXPECT_EQ(s.generator().submitted(), 0);
}

}  // namespace
}  // namespace r1::http
