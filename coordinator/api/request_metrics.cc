#include "coordinator/api/request_metrics.h"

#include <exception>
#include <string>

#include "absl/strings/str_cat.h"

namespace r1::api {
namespace {

const prometheus::Histogram::BucketBoundaries& TtftBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,
      0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0};
  return *b;
}

const prometheus::Histogram::BucketBoundaries& ItlBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
      0.075, 0.1,    0.15,  0.2,  0.3,   0.4,  0.5,   0.75, 1.0,  2.5};
  return *b;
}

const prometheus::Histogram::BucketBoundaries& E2eBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.1,  0.3,  0.5,  0.8,  1.0,  1.5,  2.0,   2.5,   5.0,   10.0,
      15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0};
  return *b;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RequestMetrics>> RequestMetrics::Create(prometheus::Registry* r) {
  std::unique_ptr<RequestMetrics> m(new RequestMetrics());
  if (r == nullptr) return m;
  try {
    m->requests_ = &prometheus::BuildCounter()
                        .Name("r1_requests_total")
                        .Help("HTTP responses of the OpenAI API, by route and status code.")
                        .Register(*r);
    m->rejections_ = &prometheus::BuildCounter()
                          .Name("r1_request_rejections_total")
                          .Help("Requests refused before or instead of generating, by reason.")
                          .Register(*r);
    m->cancellations_ = &prometheus::BuildCounter()
                             .Name("r1_request_cancellations_total")
                             .Help("Generations stopped early: client gone or server stopping.")
                             .Register(*r)
                             .Add({});
    m->ttft_ = &prometheus::BuildHistogram()
                    .Name("r1_time_to_first_token_seconds")
                    .Help("Time from a request's arrival to its first generated token.")
                    .Register(*r)
                    .Add({}, TtftBuckets());
    m->itl_ = &prometheus::BuildHistogram()
                   .Name("r1_inter_token_latency_seconds")
                   .Help("Time between generated tokens of a request.")
                   .Register(*r)
                   .Add({}, ItlBuckets());
    m->e2e_ = &prometheus::BuildHistogram()
                   .Name("r1_e2e_request_latency_seconds")
                   .Help("Time from a generation request's arrival to the end of its response.")
                   .Register(*r)
                   .Add({}, E2eBuckets());
    m->running_ = &prometheus::BuildGauge()
                       .Name("r1_http_requests_running")
                       .Help("Generation requests in flight in the HTTP front end.")
                       .Register(*r)
                       .Add({});
    m->prompt_tokens_ = &prometheus::BuildCounter()
                             .Name("r1_prompt_tokens_total")
                             .Help("Prompt tokens of generation requests submitted.")
                             .Register(*r)
                             .Add({});
    m->generation_tokens_ = &prometheus::BuildCounter()
                                 .Name("r1_generation_tokens_total")
                                 .Help("Tokens generated (completion_tokens of every response).")
                                 .Register(*r)
                                 .Add({});
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("registering HTTP metrics: ", e.what()));
  }
  return m;
}

void RequestMetrics::RequestDone(absl::string_view route, int http_status) {
  if (requests_ == nullptr) return;
  requests_->Add({{"route", std::string(route)}, {"code", std::to_string(http_status)}})
      .Increment();
}

void RequestMetrics::Rejected(absl::string_view reason) {
  if (rejections_ == nullptr) return;
  rejections_->Add({{"reason", std::string(reason)}}).Increment();
}

void RequestMetrics::Cancelled() {
  if (cancellations_ != nullptr) cancellations_->Increment();
}

void RequestMetrics::ObserveTtft(double s) {
  if (ttft_ != nullptr) ttft_->Observe(s);
}
void RequestMetrics::ObserveInterToken(double s) {
  if (itl_ != nullptr) itl_->Observe(s);
}
void RequestMetrics::ObserveE2e(double s) {
  if (e2e_ != nullptr) e2e_->Observe(s);
}
void RequestMetrics::AddPromptTokens(int64_t n) {
  if (prompt_tokens_ != nullptr && n > 0) prompt_tokens_->Increment(static_cast<double>(n));
}
void RequestMetrics::AddGenerationTokens(int64_t n) {
  if (generation_tokens_ != nullptr && n > 0) {
    generation_tokens_->Increment(static_cast<double>(n));
  }
}
void RequestMetrics::RunningAdd(double delta) {
  if (running_ == nullptr) return;
  if (delta >= 0) {
    running_->Increment(delta);
  } else {
    running_->Decrement(-delta);
  }
}

}  // namespace r1::api
