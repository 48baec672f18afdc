// Generator: the coordinator's internal interface between the public APIs (OpenAI HTTP, gRPC
// Inference) and the cluster that generates tokens. The front ends tokenize, render the chat
// template and detokenize; a Generator only moves token ids.
//
// Implementations: the cluster router (coordinator/cluster) in production; a scripted fake
// (coordinator/testing) in front-end tests. Thread-safe: Submit may be called from many threads;
// each GenerationHandle is used by one thread at a time (Cancel may come from any thread).
//
// A front end reads a handle in one of two ways: blocking in Next(timeout) on a thread of its own
// (the gRPC service), or without a thread per request: SetNotify(callback), then Next(zero) each
// time the callback says something arrived (the HTTP server, on its I/O threads).
#ifndef R1_COORDINATOR_CORE_GENERATOR_H_
#define R1_COORDINATOR_CORE_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace r1 {

struct GenerationRequest {
  std::string request_id;                 // for logs; never empty
  std::vector<int32_t> prompt_token_ids;  // non-empty, ids < vocab
  float temperature = 0.0f;               // 0 = greedy
  float top_p = 1.0f;                     // (0, 1]
  int32_t top_k = 0;                      // 0 = off
  std::optional<uint64_t> seed;           // unset = random
  int32_t max_new_tokens = 16;            // > 0
  std::vector<int32_t> stop_token_ids;    // besides EOS
  bool ignore_eos = false;                // EOS does not end the sequence
  int32_t min_tokens = 0;                 // EOS / stop ids masked before this many tokens
  // false: the sequence does not speculate on a worker with --speculative_tokens (the output
  // is the same for greedy requests either way; this is for measuring and opting out).
  bool speculative = true;
  float presence_penalty = 0.0f;                      // [-2, 2], OpenAI semantics; 0 = off
  float frequency_penalty = 0.0f;                     // [-2, 2], OpenAI semantics; 0 = off
  float repetition_penalty = 1.0f;                    // (0, 2], Hugging Face semantics; 1 = off
  std::vector<std::pair<int32_t, float>> logit_bias;  // (id < vocab, bias in [-100, 100])
  bool logprobs = false;                              // report TokenBatch::logprobs
  int32_t top_logprobs = 0;  // 0–20 alternatives per token (with logprobs)
  absl::Time deadline = absl::InfiniteFuture();
};

// One generated token's log-probability under the model (log-softmax of the raw logits) and the
// most likely alternatives, most likely first.
struct TokenLogprob {
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // (id, logprob)
};

enum class GenerationEnd { kNone, kStop, kLength, kCancelled, kError };

// Tokens produced since the previous Next() call, and whether the sequence ended.
struct TokenBatch {
  std::vector<int32_t> token_ids;
  std::vector<TokenLogprob> logprobs;  // with GenerationRequest::logprobs: one per token_ids entry
  GenerationEnd end = GenerationEnd::kNone;  // kNone while running
  std::string error;                         // with kError
};

class GenerationHandle {
 public:
  virtual ~GenerationHandle() = default;
  // Waits up to `timeout` for tokens or the end (ZeroDuration: returns at once). An empty batch
  // with end == kNone means the timeout passed with nothing new. After a batch with end != kNone,
  // Next is not called again.
  virtual TokenBatch Next(absl::Duration timeout) = 0;
  // Sets (nullptr: clears) the readiness callback, called whenever tokens or the end arrive for
  // Next — and at once, inside SetNotify, when some are already waiting — so that a reader can
  // call Next(ZeroDuration()) then instead of blocking a thread. Calls may be spurious; several
  // arrivals may give one call, so a reader takes everything (Next until an empty batch) after
  // each. The callback runs on any thread (the cluster's stream threads, a timer, the caller's),
  // with the handle's internal lock held: it must be quick and must not call into this handle
  // (post the work elsewhere). It is never called after SetNotify(nullptr) or the handle's
  // destructor has returned.
  virtual void SetNotify(std::function<void()> notify) = 0;
  // Asks the cluster to stop the sequence (client gone, deadline); idempotent, any thread.
  virtual void Cancel() = 0;
};

struct ServedModel {
  std::string id;
  int64_t max_model_len = 0;  // context length in tokens
  int64_t vocab_size = 0;     // ids must be < this
  int64_t created_unix = 0;
};

// The payload of a ResourceExhausted status from Generator::Submit: the seconds a client should
// wait before retrying, as decimal text. The HTTP API sends it as Retry-After, the gRPC API as
// the `retry-after` trailing metadata.
inline constexpr absl::string_view kRetryAfterPayload = "type.r1serve/retry-after-seconds";

class Generator {
 public:
  virtual ~Generator() = default;
  // Queues a request. Errors: InvalidArgument (bad request), ResourceExhausted (queue full:
  // HTTP 429; kRetryAfterPayload says when to retry), Unavailable (no group can serve: HTTP 503).
  virtual absl::StatusOr<std::unique_ptr<GenerationHandle>> Submit(GenerationRequest request) = 0;
  // True when at least one engine group can serve (/ready, gRPC health).
  virtual bool Ready() const = 0;
  virtual ServedModel Model() const = 0;
};

}  // namespace r1

#endif  // R1_COORDINATOR_CORE_GENERATOR_H_
