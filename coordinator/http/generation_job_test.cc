// GenerationJob without sockets: refusals, a stream held by the generator and released, a
// non-streamed n-sample response, the byte limit of one Poll, abort and a client that goes away.
#include "coordinator/http/generation_job.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "coordinator/api/prompt_builder.h"
#include "coordinator/api/request_metrics.h"
#include "coordinator/detok/incremental_detokenizer.h"
#include "coordinator/testing/fake_generator.h"
#include "coordinator/testing/tiny_tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace r1::http {
namespace {

using api::ApiKind;
using json = nlohmann::json;
using testing::FakeGenerator;
using testing::FakeScript;
using testing::Ids;
using testing::TinyTokenizer;

class GenerationJobTest : public ::testing::Test {
 protected:
  GenerationJobTest() : generator_(ServedModel{testing::kModelId, 4096, 16128, 0}) {
    prompts_ = *api::PromptBuilder::Create(&TinyTokenizer(), testing::kEos);
    metrics_ = *api::RequestMetrics::Create(nullptr);
    ctx_.env.tokenizer = &TinyTokenizer();
    ctx_.env.generator = &generator_;
    ctx_.env.prompts = prompts_.get();
    ctx_.env.metrics = metrics_.get();
    ctx_.env.skip_ids = detok::SpecialIdsExceptThink(TinyTokenizer());
    Reply(/*hold=*/false);
  }

  // Every generation answers "</think>Hello" then EOS, held until Release when `hold`.
  void Reply(bool hold, absl::Duration delay = absl::ZeroDuration()) {
    generator_.SetScript([hold, delay](const GenerationRequest&) {
      FakeScript s;
      s.tokens = Ids("</think>Hello");
      s.tokens_per_batch = 8;  // one batch: one content chunk
      s.wait_for_release = hold;
      s.delay = delay;
      return s;
    });
  }

  std::unique_ptr<GenerationJob> Start(const std::string& extra) {
    const std::string body = R"({"model":"r1-tiny","messages":[{"role":"user","content":"Hi"}])" +
                             (extra.empty() ? "" : "," + extra) + "}";
    return GenerationJob::Start(&ctx_, ApiKind::kChat, body, absl::Now());
  }

  // Polls until the job is done (waiting for notifications in between); all the events.
  std::string Drain(GenerationJob* job, const std::atomic<int>& notified) {
    std::string out;
    const absl::Time give_up = absl::Now() + absl::Seconds(5);
    int seen = notified.load();
    while (!job->done() && absl::Now() < give_up) {
      out += job->Poll(1 << 16);
      if (job->done() || job->more()) continue;
      while (notified.load() == seen && absl::Now() < give_up) {
        absl::SleepFor(absl::Milliseconds(1));
      }
      seen = notified.load();
    }
    return out;
  }

  FakeGenerator generator_;
  std::unique_ptr<api::PromptBuilder> prompts_;
  std::unique_ptr<api::RequestMetrics> metrics_;
  GenerationContext ctx_;
};

TEST_F(GenerationJobTest, RefusalsAreDoneAtOnceWithTheirResponse) {
  auto job = GenerationJob::Start(&ctx_, ApiKind::kChat, "{not json", absl::Now());
  EXPECT_TRUE(job->done());
  EXPECT_FALSE(job->streaming());
  EXPECT_EQ(job->response().http_status, 400);
  EXPECT_EQ(json::parse(job->response().body)["error"]["code"], "invalid_json");
  EXPECT_EQ(job->Poll(1024), "");

  generator_.SetSubmitError(absl::ResourceExhaustedError("full"));
  job = Start(R"("stream":true)");
  EXPECT_TRUE(job->done());
  EXPECT_FALSE(job->streaming());  // the refusal is a JSON response, not a stream
  EXPECT_EQ(job->response().http_status, 429);
  EXPECT_EQ(job->response().retry_after_s, 1);
  EXPECT_EQ(job->http_status(), 429);
}

TEST_F(GenerationJobTest, HeldStreamSendsItsOpeningThenEverythingAfterTheRelease) {
  Reply(/*hold=*/true);
  auto job = Start(R"("stream":true,"stream_options":{"include_usage":true})");
  ASSERT_TRUE(job->streaming());
  EXPECT_FALSE(job->done());
  std::atomic<int> notified{0};
  job->SetNotify([&] { ++notified; });
  const std::string opening = job->Poll(1 << 16);
  EXPECT_TRUE(absl::StrContains(opening, R"("role":"assistant")")) << opening;
  EXPECT_EQ(job->Poll(1 << 16), "");  // held: nothing new, no notification
  EXPECT_EQ(notified.load(), 0);
  EXPECT_EQ(generator_.held(), 1);

  generator_.Release();
  EXPECT_GE(notified.load(), 1);
  const std::string rest = Drain(job.get(), notified);
  ASSERT_TRUE(job->done());
  EXPECT_EQ(job->http_status(), 200);
  EXPECT_TRUE(absl::StrContains(rest, R"("content":"Hello")")) << rest;
  EXPECT_TRUE(absl::StrContains(rest, R"("finish_reason":"stop")")) << rest;
  EXPECT_TRUE(absl::StrContains(rest, R"("completion_tokens")")) << rest;
  EXPECT_TRUE(absl::EndsWith(rest, "data: [DONE]\n\n")) << rest;
  EXPECT_EQ(job->Poll(1 << 16), "");
}

TEST_F(GenerationJobTest, NonStreamedSamplesAreOneResponse) {
  Reply(/*hold=*/false, absl::Milliseconds(1));
  auto job = Start(R"("n":2,"seed":3)");
  ASSERT_FALSE(job->streaming());
  std::atomic<int> notified{0};
  job->SetNotify([&] { ++notified; });
  EXPECT_EQ(Drain(job.get(), notified), "");
  ASSERT_TRUE(job->done());
  EXPECT_EQ(job->response().http_status, 200);
  const json r = json::parse(job->response().body);
  ASSERT_EQ(r["choices"].size(), 2u);
  for (const json& c : r["choices"]) {
    EXPECT_EQ(c["message"]["content"], "Hello");
    EXPECT_EQ(c["finish_reason"], "stop");
  }
}

TEST_F(GenerationJobTest, OnePollStopsAtItsByteLimit) {
  auto job = Start(R"("stream":true)");
  std::atomic<int> notified{0};
  job->SetNotify([&] { ++notified; });
  const std::string first = job->Poll(1);
  EXPECT_FALSE(first.empty());
  EXPECT_TRUE(job->more());
  EXPECT_FALSE(job->done());
  const std::string rest = Drain(job.get(), notified);
  EXPECT_TRUE(absl::EndsWith(rest, "data: [DONE]\n\n")) << rest;
}

TEST_F(GenerationJobTest, AbortEndsTheStreamWithAnErrorEvent) {
  Reply(/*hold=*/true);
  auto job = Start(R"("stream":true)");
  job->Poll(1 << 16);
  job->Abort();
  const std::string events = job->Poll(1 << 16);
  EXPECT_TRUE(job->done());
  EXPECT_TRUE(absl::StrContains(events, "server_shutting_down")) << events;
  EXPECT_TRUE(absl::EndsWith(events, "data: [DONE]\n\n")) << events;
  EXPECT_EQ(generator_.cancelled(), 1);

  job = Start("");  // not streamed: a 503 response
  job->Abort();
  EXPECT_EQ(job->Poll(1 << 16), "");
  ASSERT_TRUE(job->done());
  EXPECT_EQ(job->response().http_status, 503);
  EXPECT_EQ(job->response().retry_after_s, 1);
}

TEST_F(GenerationJobTest, ClientGoneCancelsAndCounts499) {
  Reply(/*hold=*/true);
  auto job = Start(R"("stream":true,"n":3)");
  job->Poll(1 << 16);
  job->ClientGone();
  EXPECT_TRUE(job->done());
  EXPECT_EQ(job->http_status(), 499);
  EXPECT_EQ(generator_.cancelled(), 3);
  EXPECT_TRUE(generator_.WaitIdle(absl::Seconds(1)));
}

}  // namespace
}  // namespace r1::http
