// FakeGenerator: a scripted Generator for front-end tests and r1-http-fake-server. Each Submit
// asks a script function what to produce for the request: a token sequence, batching, a delay
// per batch, how it ends, or "never ends" (tokens repeat until Cancel). Like the real cluster,
// it stops after a token in the request's stop_token_ids and at max_new_tokens (kLength). With
// GenerationRequest::logprobs it reports FakeLogprob for every token (unless the script says
// omit_logprobs). It records what it saw (requests, cancellations) for tests to check.
//
// Thread-safe. Handles share state with the generator and may outlive it.
#ifndef R1_COORDINATOR_HTTP_FAKE_GENERATOR_H_
#define R1_COORDINATOR_HTTP_FAKE_GENERATOR_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "coordinator/core/generator.h"

namespace r1::http {

struct FakeScript {
  std::vector<int32_t> tokens;               // produced in order
  GenerationEnd end = GenerationEnd::kStop;  // after the last token (kError: with `error`)
  std::string error;
  bool never_ends = false;                      // repeat `tokens` (or nothing) until Cancel
  absl::Duration delay = absl::ZeroDuration();  // before each batch
  size_t tokens_per_batch = 1;
  bool omit_logprobs = false;  // send no logprobs even when the request asks for them
};

// The log-probability the fake reports for `id` as the `position`-th generated token (0-based):
// -(1 + (id + position) % 5) / 8, exact in binary. Alternatives (request.top_logprobs of them):
// the token itself first, then ids id+1, id+2, ... (mod vocab_size), each 0.5 less likely than the
// one before.
TokenLogprob FakeLogprob(int32_t id, size_t position, int32_t top, int64_t vocab_size);

class FakeGenerator : public Generator {
 public:
  using ScriptFn = std::function<FakeScript(const GenerationRequest&)>;

  explicit FakeGenerator(ServedModel model);

  void SetScript(ScriptFn fn);
  void SetReady(bool ready);
  // Every Submit fails with `status` while it is not OK — after the next `after` Submits, which
  // succeed.
  void SetSubmitError(absl::Status status, int after = 0);

  absl::StatusOr<std::unique_ptr<GenerationHandle>> Submit(GenerationRequest request) override;
  bool Ready() const override;
  ServedModel Model() const override { return model_; }

  int submitted() const;
  int cancelled() const;
  int active() const;  // handles alive
  std::optional<GenerationRequest> last_request() const;
  // Waits until at least `n` handles were cancelled.
  bool WaitCancelled(int n, absl::Duration timeout) const;
  // Waits until no handle is alive.
  bool WaitIdle(absl::Duration timeout) const;

  struct State {
    mutable std::mutex mu;
    mutable std::condition_variable cv;
    int submitted = 0;
    int cancelled = 0;
    int active = 0;
  };

 private:
  const ServedModel model_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  mutable std::mutex mu_;
  ScriptFn script_;
  bool ready_ = true;
  absl::Status submit_error_;
  int submit_error_after_ = 0;
  std::optional<GenerationRequest> last_request_;
};

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_FAKE_GENERATOR_H_
