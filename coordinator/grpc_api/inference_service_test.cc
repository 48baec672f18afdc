// r1.v1.Inference over an in-process gRPC server, a scripted generator and the repository's tiny
// tokenizer: streaming deltas, reasoning split, usage, finish reasons, errors, cancellation.
#include "coordinator/grpc_api/inference_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"

#include "coordinator/http/fake_generator.h"

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

  http::FakeGenerator gen_{ServedModel{"tiny", 4096, 16128, 1}};
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
    http::FakeScript s;
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

TEST_F(InferenceServiceTest, MaxTokensEndsWithLength) {
  gen_.SetScript([&](const GenerationRequest&) {
    http::FakeScript s;
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
    http::FakeScript s;
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
      {"stop_token_ids", [](auto* r) { r->mutable_sampling()->add_stop_token_ids(5); },
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

TEST_F(InferenceServiceTest, GeneratorErrorEndsTheStreamWithUnavailable) {
  gen_.SetScript([&](const GenerationRequest&) {
    http::FakeScript s;
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
    http::FakeScript s;
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

}  // namespace
}  // namespace r1
