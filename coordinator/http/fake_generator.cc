#include "coordinator/http/fake_generator.h"

#include <algorithm>
#include <utility>

namespace r1::http {
namespace {

class FakeHandle : public GenerationHandle {
 public:
  FakeHandle(std::shared_ptr<FakeGenerator::State> state, FakeScript script,
             GenerationRequest request, int64_t vocab_size)
      : state_(std::move(state)),
        script_(std::move(script)),
        request_(std::move(request)),
        vocab_size_(vocab_size) {
    next_ready_ = absl::Now() + script_.delay;
  }
  ~FakeHandle() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    --state_->active;
    state_->cv.notify_all();
  }

  TokenBatch Next(absl::Duration timeout) override {
    const absl::Time until = std::min(next_ready_, absl::Now() + timeout);
    {
      std::unique_lock<std::mutex> lock(state_->mu);
      state_->cv.wait_until(lock, absl::ToChronoTime(until), [&] { return cancelled_; });
      if (cancelled_) return {{}, {}, GenerationEnd::kCancelled, ""};
    }
    TokenBatch b;
    if (absl::Now() < next_ready_) return b;
    const bool has_tokens = !script_.tokens.empty();
    if (!script_.never_ends && pos_ >= script_.tokens.size()) {
      b.end = script_.end;
      b.error = script_.error;
      return b;
    }
    for (size_t i = 0; i < std::max<size_t>(1, script_.tokens_per_batch) && has_tokens; ++i) {
      if (produced_ >= request_.max_new_tokens) break;
      const int32_t t = script_.tokens[pos_ % script_.tokens.size()];
      ++pos_;
      b.token_ids.push_back(t);
      if (request_.logprobs && !script_.omit_logprobs) {
        b.logprobs.push_back(
            FakeLogprob(t, static_cast<size_t>(produced_), request_.top_logprobs, vocab_size_));
      }
      ++produced_;
      if (std::find(request_.stop_token_ids.begin(), request_.stop_token_ids.end(), t) !=
          request_.stop_token_ids.end()) {
        b.end = GenerationEnd::kStop;
        break;
      }
      if (!script_.never_ends && pos_ >= script_.tokens.size()) {
        b.end = script_.end;
        b.error = script_.error;
        break;
      }
    }
    if (b.end == GenerationEnd::kNone && produced_ >= request_.max_new_tokens) {
      b.end = GenerationEnd::kLength;
    }
    next_ready_ = absl::Now() + script_.delay;
    return b;
  }

  void Cancel() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (cancelled_) return;
    cancelled_ = true;
    ++state_->cancelled;
    state_->cv.notify_all();
  }

 private:
  std::shared_ptr<FakeGenerator::State> state_;
  const FakeScript script_;
  const GenerationRequest request_;
  const int64_t vocab_size_;
  bool cancelled_ = false;  // guarded by state_->mu
  size_t pos_ = 0;
  int32_t produced_ = 0;
  absl::Time next_ready_;
};

}  // namespace

TokenLogprob FakeLogprob(int32_t id, size_t position, int32_t top, int64_t vocab_size) {
  TokenLogprob lp;
  lp.logprob =
      -static_cast<float>(1 + (static_cast<int64_t>(id) + static_cast<int64_t>(position)) % 5) /
      8.0f;
  const int64_t vocab = std::max<int64_t>(vocab_size, 1);
  for (int32_t k = 0; k < top; ++k) {
    lp.top.emplace_back(static_cast<int32_t>((static_cast<int64_t>(id) + k) % vocab),
                        lp.logprob - 0.5f * static_cast<float>(k));
  }
  return lp;
}

FakeGenerator::FakeGenerator(ServedModel model) : model_(std::move(model)) {}

void FakeGenerator::SetScript(ScriptFn fn) {
  std::lock_guard<std::mutex> lock(mu_);
  script_ = std::move(fn);
}

void FakeGenerator::SetReady(bool ready) {
  std::lock_guard<std::mutex> lock(mu_);
  ready_ = ready;
}

void FakeGenerator::SetSubmitError(absl::Status status, int after) {
  std::lock_guard<std::mutex> lock(mu_);
  submit_error_ = std::move(status);
  submit_error_after_ = after;
}

bool FakeGenerator::Ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_;
}

absl::StatusOr<std::unique_ptr<GenerationHandle>> FakeGenerator::Submit(GenerationRequest request) {
  FakeScript script;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_request_ = request;
    if (!submit_error_.ok()) {
      if (submit_error_after_ == 0) return submit_error_;
      --submit_error_after_;
    }
    if (script_) script = script_(request);
  }
  if (request.prompt_token_ids.empty() || request.max_new_tokens <= 0) {
    return absl::InvalidArgumentError("fake generator: empty prompt or max_new_tokens <= 0");
  }
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    ++state_->submitted;
    ++state_->active;
  }
  return std::unique_ptr<GenerationHandle>(
      new FakeHandle(state_, std::move(script), std::move(request), model_.vocab_size));
}

int FakeGenerator::submitted() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->submitted;
}
int FakeGenerator::cancelled() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->cancelled;
}
int FakeGenerator::active() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->active;
}

std::optional<GenerationRequest> FakeGenerator::last_request() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_request_;
}

bool FakeGenerator::WaitCancelled(int n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->cv.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                             [&] { return state_->cancelled >= n; });
}

bool FakeGenerator::WaitIdle(absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->cv.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                             [&] { return state_->active == 0; });
}

}  // namespace r1::http
