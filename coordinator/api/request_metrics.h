// RequestMetrics: the generation requests' Prometheus metrics (DESIGN §9), registered into a
// caller-owned prometheus::Registry. CompletionSession records into the instance its
// CompletionEnv names; the OpenAI HTTP server creates one and counts its responses in it (the gRPC
// Inference API records none):
//   r1_requests_total{route,code}            counter, every HTTP response (code = HTTP status)
//   r1_request_rejections_total{reason}      counter: connection_limit,
//                                            client_connection_limit, shutting_down,
//                                            queue_full (every 429 of
//                                            Generator::Submit), unavailable, unauthorized,
//                                            body_too_large, header_too_large,
//                                            invalid_request, model_not_found,
//                                            unsupported_media_type,
//                                            context_length, timeout, internal
//   r1_request_cancellations_total           counter: generations stopped before their end
//                                            because the client went away or the server
//                                            stopped
//   r1_time_to_first_token_seconds           histogram, request received -> first token
//   r1_inter_token_latency_seconds           histogram, per generated token after the first
//                                            (a batch of k ids after dt observes dt/k k times)
//   r1_e2e_request_latency_seconds           histogram, request received -> response ended
//   r1_http_requests_running                 gauge, generation requests in flight here
//   r1_prompt_tokens_total                   counter
//   r1_generation_tokens_total               counter (completion_tokens of every response)
// The running gauge is not called r1_requests_running: coordinator/cluster's ClusterMetrics
// already sets that name (sequences running on workers) in the same registry, and the two would
// write one series.
//
// Shared by every request of a server (CompletionSession records into it from any thread).
// Create() catches prometheus-cpp's exceptions (a name registered with another type) and returns
// them as a Status. A null registry gives metrics that record nothing. Thread-safe (prometheus-cpp
// metrics are).
#ifndef R1_COORDINATOR_API_REQUEST_METRICS_H_
#define R1_COORDINATOR_API_REQUEST_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace r1::api {

class RequestMetrics {
 public:
  // `registry` is nullable (then nothing is recorded); borrowed, must outlive the result.
  static absl::StatusOr<std::unique_ptr<RequestMetrics>> Create(prometheus::Registry* registry);

  void RequestDone(absl::string_view route, int http_status);
  void Rejected(absl::string_view reason);
  void Cancelled();
  void ObserveTtft(double seconds);
  void ObserveInterToken(double seconds);
  void ObserveE2e(double seconds);
  void AddPromptTokens(int64_t n);
  void AddGenerationTokens(int64_t n);
  void RunningAdd(double delta);

 private:
  RequestMetrics() = default;

  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Counter>* rejections_ = nullptr;
  prometheus::Counter* cancellations_ = nullptr;
  prometheus::Histogram* ttft_ = nullptr;
  prometheus::Histogram* itl_ = nullptr;
  prometheus::Histogram* e2e_ = nullptr;
  prometheus::Gauge* running_ = nullptr;
  prometheus::Counter* prompt_tokens_ = nullptr;
  prometheus::Counter* generation_tokens_ = nullptr;
};

}  // namespace r1::api

#endif  // R1_COORDINATOR_API_REQUEST_METRICS_H_
