// The HTTP API's request parsing (request_parser.h) with the request layer's validation and
// GenerationRequest building behind it (coordinator/api/openai_request.h), error objects and API
// keys: pure functions, no sockets.
#include "coordinator/api/json_nesting.h"
#include "coordinator/http/request_parser.h"

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/http/api_error.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace r1::http {
namespace {

using json = nlohmann::json;
using api::ApiKind;
using api::ChatMessage;
using api::InvalidRequest;
using api::kMaxLogitBias;
using api::MakeGenerationRequest;
using api::OpenAiRequest;
using api::RequestLimits;
using api::ValidateOpenAiRequest;

const RequestLimits kLimits{"m", 1000};

absl::StatusOr<OpenAiRequest> Chat(const std::string& body) {
  return ParseOpenAiRequest(ApiKind::kChat, body, kLimits);
}
absl::StatusOr<OpenAiRequest> Completion(const std::string& body) {
  return ParseOpenAiRequest(ApiKind::kCompletion, body, kLimits);
}

TEST(OpenAiRequestTest, ChatDefaults) {
  auto r = Chat(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, ApiKind::kChat);
  EXPECT_EQ(r->model, "m");
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->include_usage);
  EXPECT_FALSE(r->max_tokens.has_value());
  EXPECT_EQ(r->temperature, 1.0);
  EXPECT_EQ(r->top_p, 1.0);
  EXPECT_EQ(r->top_k, 0);
  EXPECT_FALSE(r->seed.has_value());
  EXPECT_TRUE(r->stop.empty());
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0].role, "user");
  EXPECT_EQ(r->messages[0].content, "hi");
}

TEST(OpenAiRequestTest, ChatEverything) {
  auto r = Chat(R"({"model":"m","messages":[
      {"role":"developer","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
      {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
        "function":{"name":"f","arguments":"{\"x\":1}"}}]},
      {"role":"tool","content":"42","tool_call_id":"c1"}],
    "stream":true,"stream_options":{"include_usage":true},"max_tokens":10,
    "max_completion_tokens":20,"temperature":0,"top_p":0.5,"top_k":-1,"seed":-3,
    "stop":["x","yy"],"stop_token_ids":[7],"n":1,"user":"u","logprobs":false,
    "presence_penalty":0,"frequency_penalty":0.0,"logit_bias":{},"tools":[],
    "response_format":{"type":"text"},"tool_choice":"auto","parallel_tool_calls":true,
    "unknown_but_null":null,"metadata":null})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->max_tokens, 20);  // max_completion_tokens wins
  EXPECT_EQ(r->temperature, 0.0);
  EXPECT_EQ(r->top_p, 0.5);
  EXPECT_EQ(r->top_k, 0);
  EXPECT_EQ(r->seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(r->stop, (std::vector<std::string>{"x", "yy"}));
  EXPECT_EQ(r->stop_token_ids, std::vector<int32_t>{7});
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "a\nb");
  EXPECT_FALSE(r->messages[2].content.has_value());
  ASSERT_EQ(r->messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(r->messages[2].tool_calls[0].name, "f");
  EXPECT_EQ(r->messages[2].tool_calls[0].arguments, "{\"x\":1}");
  EXPECT_EQ(r->messages[3].role, "tool");
}

TEST(OpenAiRequestTest, NullMeansNotGiven) {
  auto r = Chat(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":null,
      "temperature":null,"stop":null,"stream":null,"stream_options":null,"seed":null})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->max_tokens.has_value());
  EXPECT_EQ(r->temperature, 1.0);
}

TEST(OpenAiRequestTest, CompletionPrompts) {
  auto r = Completion(R"({"model":"m","prompt":"hello","stop":"\n"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prompt_text, "hello");
  EXPECT_FALSE(r->prompt_is_ids);
  EXPECT_EQ(r->stop, std::vector<std::string>{"\n"});
  r = Completion(R"({"model":"m","prompt":["one"]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->prompt_text, "one");
  r = Completion(R"({"model":"m","prompt":[1,2,999]})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->prompt_is_ids);
  EXPECT_EQ(r->prompt_ids, (std::vector<int32_t>{1, 2, 999}));
  // Chat-only fields are ignored by completions, completions-only ones refused when used.
  r = Completion(R"({"model":"m","prompt":"x","max_completion_tokens":0,"echo":false,
      "best_of":1,"suffix":""})");
  EXPECT_TRUE(r.ok()) << r.status();
}

// Status code, param and code of an error.
void ExpectBad(const absl::StatusOr<OpenAiRequest>& r, int http, const std::string& param,
               const std::string& code) {
  ASSERT_FALSE(r.ok());
  const ApiError e = ApiErrorFromStatus(r.status());
  EXPECT_EQ(e.http_status, http) << r.status();
  EXPECT_EQ(e.param.value_or(""), param) << r.status();
  EXPECT_EQ(e.code.value_or(""), code) << r.status();
}

TEST(OpenAiRequestTest, Refusals) {
  const std::string m = R"({"model":"m","messages":[{"role":"user","content":"hi"}],)";
  ExpectBad(Chat(m + R"("top_k":1e3})"), 400, "top_k", "invalid_type");
  ExpectBad(Chat(m + R"("seed":1.0})"), 400, "seed", "invalid_type");
  ExpectBad(Chat(m + R"("stop_token_ids":[1000]})"), 400, "stop_token_ids[0]", "invalid_value");
  ExpectBad(Chat(m + R"("stop_token_ids":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,
      21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,
      51,52,53,54,55,56,57,58,59,60,61,62,63,64,65]})"),
            400, "stop_token_ids", "invalid_value");
  ExpectBad(Chat(m + R"("functions":[{"name":"f"}]})"), 400, "functions", "unsupported_parameter");
  ExpectBad(Chat(m + R"("response_format":{}})"), 400, "response_format.type",
            "missing_required_parameter");
  ExpectBad(Chat(m + R"("response_format":"json"})"), 400, "response_format", "invalid_type");
  ExpectBad(Chat(m + R"("best_of":2})"), 400, "best_of", "unsupported_parameter");
  ExpectBad(Chat(R"({"model":"other","messages":[{"role":"user","content":"hi"}]})"), 404, "model",
            "model_not_found");
  // Errors in the body are reported before an unknown model.
  ExpectBad(Chat(R"({"model":"other","messages":[]})"), 400, "messages", "invalid_value");
  ExpectBad(Completion(R"({"model":"m","prompt":[1,2.5]})"), 400, "prompt[1]", "invalid_type");
}

// Every parameter is honoured or refused: unknown ones are 400s naming them.
TEST(OpenAiRequestTest, UnknownParametersAreRefusedByName) {
  const std::string m = R"({"model":"m","messages":[{"role":"user","content":"hi"}],)";
  ExpectBad(Chat(m + R"("temprature":0.5})"), 400, "temprature", "unknown_parameter");
  ExpectBad(Chat(m + R"("reasoning_effort":"low"})"), 400, "reasoning_effort",
            "unsupported_parameter");
  ExpectBad(Completion(R"({"model":"m","prompt":"x","foo":1})"), 400, "foo", "unknown_parameter");
  ExpectBad(Chat(m + R"("tool_choice":"required"})"), 400, "tool_choice", "unsupported_parameter");
  ExpectBad(Chat(m + R"("metadata":{"a":"b"}})"), 400, "metadata", "unknown_parameter");
}

TEST(OpenAiRequestTest, IgnoreEosAndMinTokens) {
  const std::string m = R"({"model":"m","messages":[{"role":"user","content":"hi"}],)";
  auto r = Chat(m + R"("ignore_eos":true,"min_tokens":4,"max_tokens":8})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ignore_eos);
  EXPECT_EQ(r->min_tokens, 4);
  auto g = MakeGenerationRequest(*r, std::vector<int32_t>(10, 1), ServedModel{"m", 100, 1000, 0},
                                 "id", absl::InfiniteFuture(), {});
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->ignore_eos);
  EXPECT_EQ(g->min_tokens, 4);
  ExpectBad(Chat(m + R"("ignore_eos":1})"), 400, "ignore_eos", "invalid_type");
  ExpectBad(Chat(m + R"("min_tokens":-1})"), 400, "min_tokens", "invalid_value");
  ExpectBad(Chat(m + R"("min_tokens":9,"max_tokens":8})"), 400, "min_tokens", "invalid_value");
  ExpectBad(Chat(m + R"("min_tokens":2,"stop":["x"]})"), 400, "min_tokens",
            "unsupported_parameter");
}

TEST(OpenAiRequestTest, SpeculativeOptOut) {
  const std::string m = R"({"model":"m","messages":[{"role":"user","content":"hi"}],)";
  auto on = Chat(m + R"("max_tokens":8})");
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->speculative);  // absent: speculate where the worker does
  auto off = Completion(R"({"model":"m","prompt":"x","speculative":false})");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->speculative);
  auto null = Chat(m + R"("speculative":null})");
  ASSERT_TRUE(null.ok()) << null.status();
  EXPECT_TRUE(null->speculative);
  auto g = MakeGenerationRequest(*off, std::vector<int32_t>(10, 1), ServedModel{"m", 100, 1000, 0},
                                 "id", absl::InfiniteFuture(), {});
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->speculative);
  ExpectBad(Chat(m + R"("speculative":"no"})"), 400, "speculative", "invalid_type");
  ExpectBad(Chat(m + R"("speculative":0})"), 400, "speculative", "invalid_type");
}

TEST(OpenAiRequestTest, SamplesPenaltiesLogitBiasAndLogprobs) {
  const std::string m = R"({"model":"m","messages":[{"role":"user","content":"hi"}],)";
  auto r = Chat(m + R"("n":4,"best_of":4,"seed":3,"presence_penalty":-2,"frequency_penalty":2,
      "repetition_penalty":1.5,"logit_bias":{"9":-100,"12":0.5,"3":100},"logprobs":true,
      "top_logprobs":20})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->n, 4);
  EXPECT_EQ(r->presence_penalty, -2.0);
  EXPECT_EQ(r->frequency_penalty, 2.0);
  EXPECT_EQ(r->repetition_penalty, 1.5);
  EXPECT_EQ(r->logit_bias,
            (std::vector<std::pair<int64_t, double>>{{3, 100.0}, {9, -100.0}, {12, 0.5}}));
  EXPECT_TRUE(r->logprobs);
  EXPECT_EQ(r->top_logprobs, 20);
  auto g = MakeGenerationRequest(*r, std::vector<int32_t>(10, 1), ServedModel{"m", 100, 1000, 0},
                                 "id", absl::InfiniteFuture(), {});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FLOAT_EQ(g->presence_penalty, -2.0f);
  EXPECT_FLOAT_EQ(g->frequency_penalty, 2.0f);
  EXPECT_FLOAT_EQ(g->repetition_penalty, 1.5f);
  EXPECT_EQ(g->logit_bias,
            (std::vector<std::pair<int32_t, float>>{{3, 100.0f}, {9, -100.0f}, {12, 0.5f}}));
  EXPECT_TRUE(g->logprobs);
  EXPECT_EQ(g->top_logprobs, 20);
  EXPECT_EQ(g->seed, 3u);  // sample 0's; sample i gets seed + i (CompletionSession)
  // Defaults: one sample, penalties off, no logprobs.
  r = Chat(m + R"("logprobs":null,"n":null,"logit_bias":null})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->n, 1);
  EXPECT_EQ(r->repetition_penalty, 1.0);
  EXPECT_FALSE(r->logprobs);
  EXPECT_TRUE(r->logit_bias.empty());
  // Completions: the integer `logprobs` is the number of alternatives; 0 still reports logprobs.
  r = Completion(R"({"model":"m","prompt":"x","logprobs":0})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->logprobs);
  EXPECT_EQ(r->top_logprobs, 0);
  r = Completion(R"({"model":"m","prompt":"x","logprobs":5,"n":16})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->top_logprobs, 5);
  EXPECT_EQ(r->n, 16);
}

TEST(OpenAiRequestTest, SamplingRefusalsNameTheParameter) {
  const std::string m = R"({"model":"m","messages":[{"role":"user","content":"hi"}],)";
  ExpectBad(Chat(m + R"("n":0})"), 400, "n", "invalid_value");
  ExpectBad(Chat(m + R"("n":17})"), 400, "n", "invalid_value");
  ExpectBad(Chat(m + R"("n":99999999999})"), 400, "n", "invalid_value");
  ExpectBad(Chat(m + R"("n":1.0})"), 400, "n", "invalid_type");
  ExpectBad(Chat(m + R"("n":3,"best_of":2})"), 400, "best_of", "unsupported_parameter");
  ExpectBad(Chat(m + R"("presence_penalty":-2.01})"), 400, "presence_penalty", "invalid_value");
  ExpectBad(Chat(m + R"("presence_penalty":true})"), 400, "presence_penalty", "invalid_type");
  ExpectBad(Chat(m + R"("frequency_penalty":2.5})"), 400, "frequency_penalty", "invalid_value");
  ExpectBad(Chat(m + R"("repetition_penalty":-1})"), 400, "repetition_penalty", "invalid_value");
  ExpectBad(Chat(m + R"("repetition_penalty":3})"), 400, "repetition_penalty", "invalid_value");
  ExpectBad(Chat(m + R"("logit_bias":"x"})"), 400, "logit_bias", "invalid_type");
  ExpectBad(Chat(m + R"("logit_bias":{" 1":1}})"), 400, "logit_bias", "invalid_value");
  ExpectBad(Chat(m + R"("logit_bias":{"1.5":1}})"), 400, "logit_bias", "invalid_value");
  ExpectBad(Chat(m + R"("logit_bias":{"1000":1}})"), 400, "logit_bias", "invalid_value");
  ExpectBad(Chat(m + R"("logit_bias":{"1":-100.5}})"), 400, "logit_bias", "invalid_value");
  ExpectBad(Chat(m + R"("logit_bias":{"1":null}})"), 400, "logit_bias", "invalid_type");
  ExpectBad(Chat(m + R"("logit_bias":{"1":1,"01":2}})"), 400, "logit_bias", "invalid_value");
  std::string many = R"("logit_bias":{)";
  for (int i = 0; i <= static_cast<int>(kMaxLogitBias); ++i) {
    absl::StrAppend(&many, i == 0 ? "" : ",", "\"", i, "\":1");
  }
  ExpectBad(Chat(m + many + "}}"), 400, "logit_bias", "invalid_value");
  ExpectBad(Chat(m + R"("logprobs":2})"), 400, "logprobs", "invalid_type");
  ExpectBad(Chat(m + R"("top_logprobs":0})"), 400, "top_logprobs", "invalid_value");
  ExpectBad(Chat(m + R"("logprobs":false,"top_logprobs":1})"), 400, "top_logprobs",
            "invalid_value");
  ExpectBad(Chat(m + R"("logprobs":true,"top_logprobs":21})"), 400, "top_logprobs",
            "invalid_value");
  ExpectBad(Chat(m + R"("logprobs":true,"top_logprobs":"3"})"), 400, "top_logprobs",
            "invalid_type");
  ExpectBad(Completion(R"({"model":"m","prompt":"x","logprobs":6})"), 400, "logprobs",
            "invalid_value");
  ExpectBad(Completion(R"({"model":"m","prompt":"x","logprobs":18446744073709551615})"), 400,
            "logprobs", "invalid_value");
  ExpectBad(Completion(R"({"model":"m","prompt":"x","logprobs":false})"), 400, "logprobs",
            "invalid_type");
  ExpectBad(Completion(R"({"model":"m","prompt":"x","top_logprobs":2})"), 400, "top_logprobs",
            "unsupported_parameter");
  ExpectBad(Completion(R"({"model":"m","prompt":"x","best_of":3,"n":2})"), 400, "best_of",
            "unsupported_parameter");
  ExpectBad(Completion(R"({"model":"m","prompt":"x","logprobs":1,"echo":true})"), 400, "echo",
            "unsupported_parameter");
}

// The checks the gRPC service applies to the requests it maps from its proto.
TEST(OpenAiRequestTest, ValidateOpenAiRequestChecksTheTypedRequest) {
  auto valid = [] {
    OpenAiRequest r;
    r.kind = ApiKind::kCompletion;
    r.model = "m";
    r.prompt_text = "x";
    return r;
  };
  OpenAiRequest r = valid();
  r.top_k = -1;
  ASSERT_TRUE(ValidateOpenAiRequest(&r, kLimits).ok());
  EXPECT_EQ(r.top_k, 0);  // -1 means off
  struct Case {
    std::function<void(OpenAiRequest*)> edit;
    const char* param;
    int http;
  };
  const std::vector<Case> cases = {
      {[](OpenAiRequest* r) { r->model = "x"; }, "model", 404},
      {[](OpenAiRequest* r) { r->max_tokens = 0; }, "max_tokens", 400},
      {[](OpenAiRequest* r) { r->n = 0; }, "n", 400},
      {[](OpenAiRequest* r) { r->top_k = -2; }, "top_k", 400},
      {[](OpenAiRequest* r) { r->temperature = std::nan(""); }, "temperature", 400},
      {[](OpenAiRequest* r) { r->top_p = 0; }, "top_p", 400},
      {[](OpenAiRequest* r) { r->presence_penalty = 3; }, "presence_penalty", 400},
      {[](OpenAiRequest* r) { r->frequency_penalty = std::nan(""); }, "frequency_penalty", 400},
      {[](OpenAiRequest* r) { r->repetition_penalty = 0; }, "repetition_penalty", 400},
      {[](OpenAiRequest* r) {
         r->logit_bias = {{1000, 1.0}};
       },
       "logit_bias", 400},
      {[](OpenAiRequest* r) {
         r->logit_bias = {{1, 1.0}, {1, 2.0}};
       },
       "logit_bias", 400},
      {[](OpenAiRequest* r) { r->top_logprobs = 2; }, "top_logprobs", 400},
      {[](OpenAiRequest* r) {
         r->logprobs = true;
         r->top_logprobs = 21;
       },
       "top_logprobs", 400},
      {[](OpenAiRequest* r) {
         r->stop = {"a", "b", "c", "d", "e"};
       },
       "stop", 400},
      {[](OpenAiRequest* r) { r->stop = {""}; }, "stop[0]", 400},
      {[](OpenAiRequest* r) {
         r->stop_token_ids = {5, 1000};
       },
       "stop_token_ids[1]", 400},
      {[](OpenAiRequest* r) { r->min_tokens = -1; }, "min_tokens", 400},
      {[](OpenAiRequest* r) {
         r->prompt_is_ids = true;
         r->prompt_ids = {1, -4};
       },
       "prompt[1]", 400},
      {[](OpenAiRequest* r) {
         r->kind = ApiKind::kChat;
         r->messages = {ChatMessage{"wizard", "hi", {}, false}};
       },
       "messages[0].role", 400},
      {[](OpenAiRequest* r) {
         r->kind = ApiKind::kChat;
         r->messages = {ChatMessage{"user", std::nullopt, {}, false}};
       },
       "messages[0].content", 400},
      {[](OpenAiRequest* r) {
         r->kind = ApiKind::kChat;
         r->messages = {ChatMessage{"user", "x", {{"function", "f", "{}"}}, true}};
       },
       "messages[0].tool_calls", 400},
      {[](OpenAiRequest* r) {
         r->kind = ApiKind::kChat;
         r->messages = {ChatMessage{"assistant", std::nullopt, {{"code", "f", "{}"}}, true}};
       },
       "messages[0].tool_calls[0].type", 400},
      {[](OpenAiRequest* r) { r->kind = ApiKind::kChat; }, "messages", 400},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    OpenAiRequest bad = valid();
    cases[i].edit(&bad);
    const absl::Status s = ValidateOpenAiRequest(&bad, kLimits);
    ASSERT_FALSE(s.ok()) << i;
    const ApiError e = ApiErrorFromStatus(s);
    EXPECT_EQ(e.http_status, cases[i].http) << i << " " << s;
    EXPECT_EQ(e.param.value_or(""), cases[i].param) << i << " " << s;
  }
}

TEST(OpenAiRequestTest, JsonNestingDepth) {
  EXPECT_EQ(api::JsonNestingDepth(R"({"a":[1,{"b":2}]})"), 3);
  EXPECT_EQ(api::JsonNestingDepth(R"({"a":"[[[[{{{"})"), 1);
  EXPECT_EQ(api::JsonNestingDepth(R"({"a":"\"[[["})"), 1);
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  ExpectBad(Chat(deep), 400, "", "invalid_json");
}

TEST(OpenAiRequestTest, MakeGenerationRequest) {
  const ServedModel model{"m", 100, 1000, 0};
  auto r = Chat(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,
      "top_p":0.25,"top_k":5,"seed":9,"stop_token_ids":[3,2]})");
  ASSERT_TRUE(r.ok());
  std::vector<int32_t> prompt(40, 1);
  auto g = MakeGenerationRequest(*r, prompt, model, "id1", absl::InfiniteFuture(), {2});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->request_id, "id1");
  EXPECT_EQ(g->max_new_tokens, 60);  // the rest of the context
  EXPECT_FLOAT_EQ(g->temperature, 0.5f);
  EXPECT_FLOAT_EQ(g->top_p, 0.25f);
  EXPECT_EQ(g->top_k, 5);
  EXPECT_EQ(g->seed, 9u);
  EXPECT_EQ(g->stop_token_ids, (std::vector<int32_t>{2, 3}));
  r->max_tokens = 60;
  EXPECT_TRUE(MakeGenerationRequest(*r, prompt, model, "id", absl::InfiniteFuture(), {}).ok());
  r->max_tokens = 61;
  auto bad = MakeGenerationRequest(*r, prompt, model, "id", absl::InfiniteFuture(), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ApiErrorFromStatus(bad.status()).code, "context_length_exceeded");
  EXPECT_NE(bad.status().message().find("101 tokens (40 in the messages, 61 in the completion)"),
            absl::string_view::npos)
      << bad.status();
  r->max_tokens.reset();
  std::vector<int32_t> full(100, 1);
  bad = MakeGenerationRequest(*r, full, model, "id", absl::InfiniteFuture(), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ApiErrorFromStatus(bad.status()).param, "messages");
  bad = MakeGenerationRequest(*r, {}, model, "id", absl::InfiniteFuture(), {});
  EXPECT_FALSE(bad.ok());
}

TEST(ApiErrorTest, JsonAndMapping) {
  const ApiError e = ApiErrorFromStatus(InvalidRequest("bad \xff value", "temperature"));
  EXPECT_EQ(e.http_status, 400);
  const json j = json::parse(e.Json());
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(j["error"]["message"], "bad \xEF\xBF\xBD value");  // invalid UTF-8 replaced
  EXPECT_EQ(ApiErrorFromStatus(absl::ResourceExhaustedError("x")).http_status, 429);
  EXPECT_EQ(ApiErrorFromStatus(absl::ResourceExhaustedError("x")).type, "rate_limit_error");
  EXPECT_EQ(ApiErrorFromStatus(absl::UnavailableError("x")).http_status, 503);
  EXPECT_EQ(ApiErrorFromStatus(absl::UnavailableError("x")).type, "server_error");
  EXPECT_EQ(ApiErrorFromStatus(absl::DeadlineExceededError("x")).http_status, 504);
  EXPECT_EQ(ApiErrorFromStatus(absl::NotFoundError("x")).http_status, 404);
  EXPECT_EQ(ApiErrorFromStatus(absl::UnknownError("x")).http_status, 500);
  EXPECT_EQ(MakeApiError(413, "big").type, "invalid_request_error");
}

// chat_template_kwargs (vLLM's extension) is kept as JSON text for the chat template
// (coordinator/api/chat_template_renderer.h checks its names and renders it).
TEST(OpenAiRequestTest, ChatTemplateKwargs) {
  const std::string m = R"({"model":"m","messages":[{"role":"user","content":"hi"}],)";
  auto r = Chat(m + R"("chat_template_kwargs":{"thinking":true,"n":{"a":[1,"x"]}}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(json::parse(r->chat_template_kwargs),
            json::parse(R"({"thinking":true,"n":{"a":[1,"x"]}})"));
  r = Chat(m + R"("chat_template_kwargs":null})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chat_template_kwargs, "");
  r = Chat(m + R"("chat_template_kwargs":{}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chat_template_kwargs, "");
  ExpectBad(Chat(m + R"("chat_template_kwargs":[1]})"), 400, "chat_template_kwargs",
            "invalid_type");
  ExpectBad(Completion(R"({"model":"m","prompt":"x","chat_template_kwargs":{"a":1}})"), 400,
            "chat_template_kwargs", "unsupported_parameter");
}

}  // namespace
}  // namespace r1::http
