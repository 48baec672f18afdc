// r1.v1.Inference over an in-process gRPC server, a scripted generator and the repository's tiny
// tokenizer: streaming deltas, reasoning split, usage, finish reasons, errors, cancellation.
#include "coordinator/grpc_api/inference_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "coordinator/testing/fake_generator.h"

namespace r1 {
namespace {

constexpr char kTokenizer[] = "models/r1-tiny/tokenizer.json";

class InferenceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tok = tok::Tokenizer::LoadFromFile(kTokenizer);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
    auto svc = InferenceService::Create(tokenizer_.get(), &gen_);
    ASSERT_TRUE(svc.ok()) << svc.status();
    service_ = *std::move(svc);
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = r1::v1::Inference::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                           grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  std::vector<int32_t> Ids(const std::string& text) { return *tokenizer_->Encode(text); }

  static r1::v1::GenerateRequest Chat(const std::string& user) {
    r1::v1::GenerateRequest r;
    r.set_model("tiny");
    auto* m = r.add_messages();
    m->set_role("user");
    m->set_content(user);
    return r;
  }

  struct Result {
    std::string reasoning, content;
    std::vector<r1::v1::GenerateResponse> messages;
    grpc::Status status;
  };
  Result Run(const r1::v1::GenerateRequest& r) {
    grpc::ClientContext ctx;
    auto reader = stub_->Generate(&ctx, r);
    Result out;
    r1::v1::GenerateResponse m;
    while (reader->Read(&m)) {
      out.reasoning += m.reasoning_delta();
      out.content += m.content_delta();
      out.messages.push_back(m);
    }
    out.status = reader->Finish();
    return out;
  }

  testing::FakeGenerator gen_{ServedModel{"tiny", 4096, 16128, 1}};
  std::unique_ptr<tok::Tokenizer> tokenizer_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<r1::v1::Inference::Stub> stub_;
};

TEST_F(InferenceServiceTest, ChatStreamsReasoningThenContentWithUsage) {
  std::vector<int32_t> script = Ids("Add the digits.</think>\n\nThe answer is 42.");
  const size_t n = script.size();
  script.push_back(1);  // EOS
  gen_.SetScript([&](const GenerationRequest&) {
    testing::FakeScript s;
    s.tokens = script;
    return s;
  });
  Result r = Run(Chat("What is 40 + 2?"));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.reasoning, "Add the digits.");
  EXPECT_EQ(r.content, "\n\nThe answer is 42.");  // as generated after </think>
  ASSERT_FALSE(r.messages.empty());
  const auto& last = r.messages.back();
  EXPECT_TRUE(last.finished());
  EXPECT_EQ(last.finish_reason(), r1::v1::FINISH_REASON_STOP);
  EXPECT_EQ(last.usage().completion_tokens(), static_cast<int32_t>(n + 1));
  // Prompt tokens: what Tokenize says the chat renders to.
  r1::v1::TokenizeRequest tr;
  *tr.mutable_messages() = Chat("What is 40 + 2?").messages();
  r1::v1::TokenizeResponse tresp;
  grpc::ClientContext tctx;
  ASSERT_TRUE(stub_->Tokenize(&tctx, tr, &tresp).ok());
  EXPECT_EQ(last.usage().prompt_tokens(), tresp.token_ids_size());
  EXPECT_TRUE(absl::EndsWith(tresp.rendered(), "<｜Assistant｜><think>\n")) << tresp.rendered();
  ASSERT_TRUE(gen_.last_request().has_value());
  EXPECT_EQ(gen_.last_request()->prompt_token_ids.size(),
            static_cast<size_t>(tresp.token_ids_size()));
}

TEST_F(InferenceServiceTest, ToolCallsAsInTheHttpApi) {
  std::vector<int32_t> script =
      Ids("Weather needed.</think>\n\nChecking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
          "<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Oslo\"}\n```<｜tool▁call▁end｜>"
          "<｜tool▁calls▁end｜>");
  script.push_back(1);  // EOS
  gen_.SetScript([&](const GenerationRequest&) {
    testing::FakeScript s;
    s.tokens = script;
    return s;
  });
  r1::v1::GenerateRequest req = Chat("Weather in Oslo?");
  r1::v1::Tool* tool = req.add_tools();
  tool->set_name("get_weather");
  tool->set_parameters_json(R"({"type":"object"})");
  Result r = Run(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.reasoning, "Weather needed.");
  EXPECT_EQ(r.content, "\n\nChecking.");
  std::vector<r1::v1::ToolCall> calls;
  for (const auto& m : r.messages)
    calls.insert(calls.end(), m.tool_calls().begin(), m.tool_calls().end());
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(calls[0].id(), "call_"));
  EXPECT_EQ(calls[0].type(), "function");
  EXPECT_EQ(calls[0].name(), "get_weather");
  EXPECT_EQ(calls[0].arguments(), R"({"city": "Oslo"})");
  EXPECT_EQ(r.messages.back().finish_reason(), r1::v1::FINISH_REASON_TOOL_CALLS);

  // tool_choice "none": nothing parsed (the markers, special tokens, are skipped as ever).
  req.set_tool_choice("none");
  r = Run(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.messages.back().finish_reason(), r1::v1::FINISH_REASON_STOP);
  EXPECT_TRUE(absl::StartsWith(r.content, "\n\nChecking.function")) << r.content;

  // Refusals name the parameter as the HTTP API does.
  for (const auto& [choice, name, params] :
       std::vector<std::tuple<std::string, std::string, std::string>>{{"required", "f", ""},
                                                                      {"maybe", "f", ""},
                                                                      {"auto", "bad name", ""},
                                                                      {"auto", "f", "[1]"}}) {
    r1::v1::GenerateRequest bad = Chat("x");
    bad.set_tool_choice(choice);
    bad.add_tools()->set_name(name);
    bad.mutable_tools(0)->set_parameters_json(params);
    r = Run(bad);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << choice << name;
    EXPECT_TRUE(r.messages.empty());
  }
}

TEST_F(InferenceServiceTest, MaxTokensEndsWithLength) {
  gen_.SetScript([&](const GenerationRequest&) {
    testing::FakeScript s;
    s.tokens = Ids("x");
    s.never_ends = true;
    return s;
  });
  r1::v1::GenerateRequest req;
  req.set_model("tiny");
  req.set_prompt("count:");
  req.mutable_sampling()->set_max_tokens(7);
  Result r = Run(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.messages.back().finish_reason(), r1::v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(r.messages.back().usage().completion_tokens(), 7);
  EXPECT_EQ(r.reasoning, "");  // completions have no reasoning split
  EXPECT_EQ(r.content, "xxxxxxx");
}

TEST_F(InferenceServiceTest, StopStringEndsTheOutput) {
  gen_.SetScript([&](const GenerationRequest&) {
    testing::FakeScript s;
    s.tokens = Ids("alpha beta gamma delta");
    s.never_ends = true;
    return s;
  });
  r1::v1::GenerateRequest req;
  req.set_model("tiny");
  req.set_prompt("go");
  req.mutable_sampling()->add_stop(" gam");
  Result r = Run(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.content, "alpha beta");
  EXPECT_EQ(r.messages.back().finish_reason(), r1::v1::FINISH_REASON_STOP);
  EXPECT_TRUE(gen_.WaitCancelled(1, absl::Seconds(5)));
}

TEST_F(InferenceServiceTest, BadRequestsAreRefusedBeforeAnyMessage) {
  struct Case {
    std::string what;
    std::function<void(r1::v1::GenerateRequest*)> edit;
    grpc::StatusCode code;
  };
  std::vector<Case> cases = {
      {"unknown model", [](auto* r) { r->set_model("gpt-4"); }, grpc::StatusCode::NOT_FOUND},
      {"max_tokens 0", [](auto* r) { r->mutable_sampling()->set_max_tokens(0); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"temperature 5", [](auto* r) { r->mutable_sampling()->set_temperature(5); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"top_p 2", [](auto* r) { r->mutable_sampling()->set_top_p(2); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"bad role", [](auto* r) { r->mutable_messages(0)->set_role("wizard"); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"five stops",
       [](auto* r) {
         for (int i = 0; i < 5; ++i) r->mutable_sampling()->add_stop("s" + std::to_string(i));
       },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"prompt too long",
       [](auto* r) {
         std::string s;
         for (int i = 0; i < 5000; ++i) s += "word ";
         r->mutable_messages(0)->set_content(s);
       },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"stop_token_ids out of the vocabulary",
       [](auto* r) { r->mutable_sampling()->add_stop_token_ids(999999); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"n 17", [](auto* r) { r->mutable_sampling()->set_n(17); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"n -1", [](auto* r) { r->mutable_sampling()->set_n(-1); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"presence_penalty 3", [](auto* r) { r->mutable_sampling()->set_presence_penalty(3); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"frequency_penalty NaN",
       [](auto* r) { r->mutable_sampling()->set_frequency_penalty(std::nanf("")); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"repetition_penalty 2.5",
       [](auto* r) { r->mutable_sampling()->set_repetition_penalty(2.5); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"repetition_penalty negative",
       [](auto* r) { r->mutable_sampling()->set_repetition_penalty(-1); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"logit_bias id", [](auto* r) { (*r->mutable_sampling()->mutable_logit_bias())[999999] = 1; },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"logit_bias value", [](auto* r) { (*r->mutable_sampling()->mutable_logit_bias())[5] = 101; },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"top_logprobs without logprobs", [](auto* r) { r->mutable_sampling()->set_top_logprobs(2); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"top_logprobs 21",
       [](auto* r) {
         r->mutable_sampling()->set_logprobs(true);
         r->mutable_sampling()->set_top_logprobs(21);
       },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"messages and prompt", [](auto* r) { r->set_prompt("also"); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"tool calls on a user message",
       [](auto* r) { r->mutable_messages(0)->add_tool_calls()->set_name("f"); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {"seeded top_k below -1", [](auto* r) { r->mutable_sampling()->set_top_k(-7); },
       grpc::StatusCode::INVALID_ARGUMENT},
  };
  for (const Case& c : cases) {
    r1::v1::GenerateRequest req = Chat("hi");
    c.edit(&req);
    Result r = Run(req);
    EXPECT_EQ(r.status.error_code(), c.code) << c.what << ": " << r.status.error_message();
    EXPECT_TRUE(r.messages.empty()) << c.what;
  }
  r1::v1::GenerateRequest empty;
  empty.set_model("tiny");
  EXPECT_EQ(Run(empty).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  r1::v1::GenerateRequest bad_id;
  bad_id.set_model("tiny");
  bad_id.add_prompt_token_ids(999999);
  EXPECT_EQ(Run(bad_id).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(gen_.submitted(), 0);
}

// Every SamplingParams field reaches the generator as the HTTP API's parameter of the same name
// would; zero values are the documented defaults.
TEST_F(InferenceServiceTest, SamplingParamsMapToTheRequest) {
  gen_.SetScript([&](const GenerationRequest&) {
    testing::FakeScript s;
    s.tokens = Ids("a</think>b");
    return s;
  });
  r1::v1::GenerateRequest req = Chat("hi");
  Result r = Run(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  GenerationRequest g = *gen_.last_request();
  EXPECT_EQ(g.temperature, 0.0f);
  EXPECT_EQ(g.top_p, 1.0f);
  EXPECT_EQ(g.repetition_penalty, 1.0f);
  EXPECT_FALSE(g.logprobs);
  EXPECT_FALSE(g.seed.has_value());
  EXPECT_TRUE(g.speculative);  // unset: speculates where the worker does
  EXPECT_EQ(gen_.submitted(), 1);

  r1::v1::SamplingParams* p = req.mutable_sampling();
  p->set_temperature(0.7f);
  p->set_top_p(0.9f);
  p->set_top_k(-1);
  p->set_seed(42);
  p->set_max_tokens(30);
  p->add_stop_token_ids(Ids(",")[0]);
  p->set_presence_penalty(0.5f);
  p->set_frequency_penalty(-0.25f);
  p->set_repetition_penalty(1.1f);
  (*p->mutable_logit_bias())[9] = -100;
  (*p->mutable_logit_bias())[3] = 2.5f;
  p->set_logprobs(true);
  p->set_top_logprobs(4);
  p->set_speculative(false);
  r = Run(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  g = *gen_.last_request();
  EXPECT_FLOAT_EQ(g.temperature, 0.7f);
  EXPECT_FLOAT_EQ(g.top_p, 0.9f);
  EXPECT_EQ(g.top_k, 0);
  EXPECT_EQ(g.seed, 42u);
  EXPECT_EQ(g.max_new_tokens, 30);
  EXPECT_NE(std::find(g.stop_token_ids.begin(), g.stop_token_ids.end(), Ids(",")[0]),
            g.stop_token_ids.end());
  EXPECT_FLOAT_EQ(g.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(g.frequency_penalty, -0.25f);
  EXPECT_FLOAT_EQ(g.repetition_penalty, 1.1f);
  EXPECT_EQ(g.logit_bias, (std::vector<std::pair<int32_t, float>>{{3, 2.5f}, {9, -100.0f}}));
  EXPECT_TRUE(g.logprobs);
  EXPECT_EQ(g.top_logprobs, 4);
  EXPECT_FALSE(g.speculative);
  EXPECT_EQ(gen_.submitted(), 2);
}

TEST_F(InferenceServiceTest, NSamplesInterleaveEachWithItsOwnFinishedMessageAndLogprobs) {
  gen_.SetScript([&](const GenerationRequest& g) {
    testing::FakeScript s;
    std::vector<int32_t> t = Ids(absl::StrCat("r", *g.seed, "</think>answer ", *g.seed));
    t.push_back(1);  // EOS
    s.tokens = t;
    s.delay = absl::Milliseconds(1);
    return s;
  });
  r1::v1::GenerateRequest req = Chat("hi");
  req.mutable_sampling()->set_n(3);
  req.mutable_sampling()->set_seed(20);
  req.mutable_sampling()->set_logprobs(true);
  req.mutable_sampling()->set_top_logprobs(2);
  Result r = Run(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(gen_.submitted(), 3);
  std::map<int, std::string> content;
  std::map<int, std::vector<int32_t>> ids;
  std::map<int, int> finished;
  for (const auto& m : r.messages) {
    ASSERT_TRUE(m.index() >= 0 && m.index() < 3);
    EXPECT_EQ(finished[m.index()], 0) << "message after the finish of " << m.index();
    content[m.index()] += m.content_delta();
    ASSERT_EQ(m.logprobs_size(), m.token_ids_size());
    for (int k = 0; k < m.token_ids_size(); ++k) {
      const size_t position = ids[m.index()].size();
      const TokenLogprob want =
          testing::FakeLogprob(m.token_ids(k), position, 2, tokenizer_->id_limit());
      EXPECT_EQ(m.logprobs(k).logprob(), want.logprob);
      ASSERT_EQ(m.logprobs(k).top_ids_size(), 2);
      ASSERT_EQ(m.logprobs(k).top_logprobs_size(), 2);
      EXPECT_EQ(m.logprobs(k).top_ids(1), want.top[1].first);
      EXPECT_EQ(m.logprobs(k).top_logprobs(1), want.top[1].second);
      ids[m.index()].push_back(m.token_ids(k));
    }
    if (m.finished()) {
      ++finished[m.index()];
      EXPECT_EQ(m.finish_reason(), r1::v1::FINISH_REASON_STOP);
      EXPECT_EQ(m.usage().completion_tokens(), static_cast<int32_t>(ids[m.index()].size()));
      EXPECT_GT(m.usage().prompt_tokens(), 0);
    }
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(finished[i], 1) << i;
    EXPECT_EQ(content[i], absl::StrCat("answer ", 20 + i));
  }
}

TEST_F(InferenceServiceTest, AFailingSampleEndsTheCallAndCancelsTheOthers) {
  gen_.SetScript([&](const GenerationRequest& g) {
    testing::FakeScript s;
    s.delay = absl::Milliseconds(2);
    s.tokens = Ids("y");
    if (*g.seed == 1) {
      s.end = GenerationEnd::kError;
      s.error = "worker w1 gone";
    } else {
      s.never_ends = true;
    }
    return s;
  });
  r1::v1::GenerateRequest req = Chat("hi");
  req.mutable_sampling()->set_n(3);
  req.mutable_sampling()->set_seed(0);
  Result r = Run(req);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_FALSE(r.messages.empty());
  EXPECT_EQ(r.messages.back().index(), 1);
  EXPECT_EQ(r.messages.back().finish_reason(), r1::v1::FINISH_REASON_ERROR);
  EXPECT_TRUE(gen_.WaitCancelled(2, absl::Seconds(5)));
  EXPECT_TRUE(gen_.WaitIdle(absl::Seconds(5)));
}

TEST_F(InferenceServiceTest, GeneratorErrorEndsTheStreamWithUnavailable) {
  gen_.SetScript([&](const GenerationRequest&) {
    testing::FakeScript s;
    s.tokens = Ids("partial");
    s.end = GenerationEnd::kError;
    s.error = "engine group failed: worker w0 gone";
    return s;
  });
  Result r = Run(Chat("hi"));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_FALSE(r.messages.empty());
  EXPECT_EQ(r.messages.back().finish_reason(), r1::v1::FINISH_REASON_ERROR);
  EXPECT_NE(r.messages.back().error().find("worker w0 gone"), std::string::npos);
}

TEST_F(InferenceServiceTest, CancelledCallCancelsTheSequence) {
  gen_.SetScript([&](const GenerationRequest&) {
    testing::FakeScript s;
    s.tokens = Ids("y");
    s.never_ends = true;
    s.delay = absl::Milliseconds(5);
    return s;
  });
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, Chat("go on forever"));
  r1::v1::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));
  ctx.TryCancel();
  while (reader->Read(&m)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(gen_.WaitCancelled(1, absl::Seconds(5)));
  EXPECT_TRUE(gen_.WaitIdle(absl::Seconds(5)));
}

TEST_F(InferenceServiceTest, ListModelsAndTokenize) {
  grpc::ClientContext c1;
  r1::v1::ListModelsResponse models;
  ASSERT_TRUE(stub_->ListModels(&c1, {}, &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).id(), "tiny");
  EXPECT_EQ(models.models(0).max_model_len(), 4096);

  grpc::ClientContext c2;
  r1::v1::TokenizeRequest tr;
  tr.set_text("hello world");
  r1::v1::TokenizeResponse resp;
  ASSERT_TRUE(stub_->Tokenize(&c2, tr, &resp).ok());
  EXPECT_EQ(std::vector<int32_t>(resp.token_ids().begin(), resp.token_ids().end()),
            Ids("hello world"));

  grpc::ClientContext c3;
  tr.set_model("other");
  EXPECT_EQ(stub_->Tokenize(&c3, tr, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A refusal for load is RESOURCE_EXHAUSTED with the cluster's retry hint as `retry-after`.
TEST_F(InferenceServiceTest, OverloadIsResourceExhaustedWithRetryAfter) {
  absl::Status busy = absl::ResourceExhaustedError("overloaded: estimated queue wait 40 s");
  busy.SetPayload(kRetryAfterPayload, absl::Cord("7"));
  gen_.SetSubmitError(busy);
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, Chat("hi"));
  r1::v1::GenerateResponse m;
  while (reader->Read(&m)) {
  }
  const grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  auto it = ctx.GetServerTrailingMetadata().find("retry-after");
  ASSERT_NE(it, ctx.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "7");
}

// chat_template_kwargs (a JSON object as text) reach the checkpoint's chat template; bad ones,
// and the template's own errors, are INVALID_ARGUMENT, never a crash.
TEST_F(InferenceServiceTest, ChatTemplateKwargs) {
  gen_.SetScript([&](const GenerationRequest&) {
    testing::FakeScript s;
    s.tokens = {1};  // EOS
    return s;
  });
  r1::v1::GenerateRequest r = Chat("hi");
  r.set_chat_template_kwargs(R"({"thinking": true})");
  Result ok = Run(r);
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  for (const char* bad : {R"({"messages": []})", "[1]", "{", R"({"add_generation_prompt": 0})"}) {
    r.set_chat_template_kwargs(bad);
    Result refused = Run(r);
    EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(refused.status.error_message().find("chat_template_kwargs"), std::string::npos)
        << refused.status.error_message();
  }
  // Not for completions.
  r1::v1::GenerateRequest c;
  c.set_model("tiny");
  c.set_prompt("x");
  c.set_chat_template_kwargs(R"({"a": 1})");
  EXPECT_EQ(Run(c).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Tokenize renders with them too.
  r1::v1::TokenizeRequest tr;
  *tr.mutable_messages() = Chat("hi").messages();
  tr.set_chat_template_kwargs(R"({"tools": null})");
  r1::v1::TokenizeResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->Tokenize(&ctx, tr, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  tr.set_chat_template_kwargs(R"({"thinking": false})");
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->Tokenize(&ctx2, tr, &resp).ok());
  EXPECT_EQ(resp.rendered(), "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜><think>\n");
}

}  // namespace
}  // namespace r1
