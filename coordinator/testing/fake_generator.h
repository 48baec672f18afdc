// FakeGenerator: a scripted Generator for front-end tests and r1-http-fake-server. Each Submit
// asks a script function what to produce for the request: a token sequence, batching, a delay
// per batch, how it ends, "never ends" (tokens repeat until Cancel), or "wait for a release"
// (nothing until Release()). Like the real cluster, it stops after a token in the request's
// stop_token_ids and at max_new_tokens (kLength). With GenerationRequest::logprobs it reports
// FakeLogprob for every token (unless the script says omit_logprobs). It records what it saw
// (requests, cancellations) for tests to check.
//
// Handles support both ways of reading (coordinator/core/generator.h): blocking Next(timeout), and
// SetNotify + Next(ZeroDuration()). The callback is called when a delayed batch comes due (from
// the generator's one timer thread), on Release, on Cancel, and — when a batch was taken and the
// next one is due at once — inside Next.
//
// Thread-safe. Handles share state with the generator and may outlive it (their callbacks then no
// longer fire for delays). One mutex guards every handle, which is fine at test scale (10,000
// handles).
#ifndef R1_COORDINATOR_TESTING_FAKE_GENERATOR_H_
#define R1_COORDINATOR_TESTING_FAKE_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "coordinator/core/generator.h"

namespace r1::testing {

struct FakeScript {
  std::vector<int32_t> tokens;               // produced in order
  GenerationEnd end = GenerationEnd::kStop;  // after the last token (kError: with `error`)
  std::string error;
  bool never_ends = false;                      // repeat `tokens` (or nothing) until Cancel
  absl::Duration delay = absl::ZeroDuration();  // before each batch
  size_t tokens_per_batch = 1;
  bool omit_logprobs = false;  // send no logprobs even when the request asks for them
  // Produce nothing until the next FakeGenerator::Release() after this Submit; then as scripted.
  bool wait_for_release = false;
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
  ~FakeGenerator() override;  // stops the timer thread
  FakeGenerator(const FakeGenerator&) = delete;
  FakeGenerator& operator=(const FakeGenerator&) = delete;

  void SetScript(ScriptFn fn);
  void SetReady(bool ready);
  // Every Submit fails with `status` while it is not OK — after the next `after` Submits, which
  // succeed.
  void SetSubmitError(absl::Status status, int after = 0);
  // Lets every handle waiting for a release (FakeScript::wait_for_release) produce its tokens.
  void Release();

  absl::StatusOr<std::unique_ptr<GenerationHandle>> Submit(GenerationRequest request) override;
  bool Ready() const override;
  ServedModel Model() const override { return model_; }

  int submitted() const;
  int cancelled() const;
  int active() const;  // handles alive
  int held() const;    // handles alive, not cancelled, waiting for a release
  std::optional<GenerationRequest> last_request() const;
  // Waits until at least `n` handles were cancelled.
  bool WaitCancelled(int n, absl::Duration timeout) const;
  // Waits until no handle is alive.
  bool WaitIdle(absl::Duration timeout) const;

  struct State;  // shared with the handles (fake_generator.cc)

 private:
  const ServedModel model_;
  std::shared_ptr<State> state_;
  std::thread timer_;  // calls the callbacks of handles whose delayed batch came due
  mutable std::mutex mu_;
  ScriptFn script_;
  bool ready_ = true;
  absl::Status submit_error_;
  int submit_error_after_ = 0;
  std::optional<GenerationRequest> last_request_;
};

}  // namespace r1::testing

#endif  // R1_COORDINATOR_TESTING_FAKE_GENERATOR_H_
