#include "coordinator/testing/fake_generator.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <utility>

namespace r1::testing {

// What the generator and its handles share; every member is guarded by `mu`.
struct FakeGenerator::State {
  // One handle's progress, shared with the timer queue and the release list.
  struct Core {
    Core(FakeScript s, GenerationRequest r, int64_t v)
        : script(std::move(s)), request(std::move(r)), vocab_size(v) {}
    const FakeScript script;
    const GenerationRequest request;
    const int64_t vocab_size;
    bool cancelled = false;
    bool held = false;   // waiting for a release
    bool ended = false;  // the end was returned, or the handle is gone
    size_t pos = 0;
    int32_t produced = 0;
    absl::Time next_ready;
    std::function<void()> notify;  // nullable

    // Next has something: the end of a cancelled handle, or the next batch (or end) when due.
    bool Ready(absl::Time now) const {
      return !ended && (cancelled || (!held && now >= next_ready));
    }
  };

  // Calls `core`'s callback now when it has something, else when its next batch comes due.
  void Schedule(const std::shared_ptr<Core>& core) {
    if (!core->notify || core->ended || core->held) return;
    if (core->Ready(absl::Now())) {
      core->notify();
      return;
    }
    due.emplace(core->next_ready, core);
    timer_cv.notify_one();
  }

  // The timer thread: calls the callbacks of handles whose delayed batch came due.
  void RunTimer() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      if (due.empty()) {
        timer_cv.wait(lock);
        continue;
      }
      const absl::Time first = due.begin()->first;
      const absl::Time now = absl::Now();
      if (now < first) {
        timer_cv.wait_until(lock, absl::ToChronoTime(first));
        continue;
      }
      std::shared_ptr<Core> core = due.begin()->second.lock();
      due.erase(due.begin());
      if (core != nullptr && core->notify && core->Ready(now)) core->notify();
    }
  }

  std::mutex mu;
  std::condition_variable cv;  // a handle changed (blocking Next, the Wait* helpers)
  int submitted = 0;
  int cancelled = 0;
  int active = 0;
  int held = 0;
  std::multimap<absl::Time, std::weak_ptr<Core>> due;  // delayed batches of handles with a callback
  std::condition_variable timer_cv;
  bool stopping = false;
  std::vector<std::weak_ptr<Core>> waiting;  // handles waiting for the next Release
};

namespace {

using Core = FakeGenerator::State::Core;

class FakeHandle : public GenerationHandle {
 public:
  FakeHandle(std::shared_ptr<FakeGenerator::State> state, std::shared_ptr<Core> core)
      : state_(std::move(state)), core_(std::move(core)) {}
  ~FakeHandle() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    --state_->active;
    if (core_->held) --state_->held;
    core_->held = false;
    core_->ended = true;
    core_->notify = nullptr;
    state_->cv.notify_all();
  }

  TokenBatch Next(absl::Duration timeout) override {
    std::unique_lock<std::mutex> lock(state_->mu);
    Core& c = *core_;
    const absl::Time until = absl::Now() + timeout;
    for (;;) {
      const absl::Time now = absl::Now();
      if (c.cancelled) {
        c.ended = true;
        return {{}, {}, GenerationEnd::kCancelled, ""};
      }
      if (!c.held && now >= c.next_ready) break;
      if (now >= until) return {};
      const absl::Time wake = c.held ? until : std::min(until, c.next_ready);
      state_->cv.wait_until(lock, absl::ToChronoTime(wake));
    }
    TokenBatch b = Produce(&c);
    c.next_ready = absl::Now() + c.script.delay;
    if (b.end != GenerationEnd::kNone) {
      c.ended = true;
    } else {
      state_->Schedule(core_);
    }
    return b;
  }

  void SetNotify(std::function<void()> notify) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    core_->notify = std::move(notify);
    if (core_->notify && core_->Ready(absl::Now())) {
      core_->notify();
    } else {
      state_->Schedule(core_);
    }
  }

  void Cancel() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    Core& c = *core_;
    if (c.cancelled) return;
    c.cancelled = true;
    ++state_->cancelled;
    if (c.held) --state_->held;
    c.held = false;
    if (c.notify && !c.ended) c.notify();
    state_->cv.notify_all();
  }

 private:
  // The next batch as the script says (the batch is due).
  static TokenBatch Produce(Core* c) {
    const FakeScript& script = c->script;
    const GenerationRequest& request = c->request;
    TokenBatch b;
    const bool has_tokens = !script.tokens.empty();
    if (!script.never_ends && c->pos >= script.tokens.size()) {
      b.end = script.end;
      b.error = script.error;
      return b;
    }
    for (size_t i = 0; i < std::max<size_t>(1, script.tokens_per_batch) && has_tokens; ++i) {
      if (c->produced >= request.max_new_tokens) break;
      const int32_t t = script.tokens[c->pos % script.tokens.size()];
      ++c->pos;
      b.token_ids.push_back(t);
      if (request.logprobs && !script.omit_logprobs) {
        b.logprobs.push_back(
            FakeLogprob(t, static_cast<size_t>(c->produced), request.top_logprobs, c->vocab_size));
      }
      ++c->produced;
      if (std::find(request.stop_token_ids.begin(), request.stop_token_ids.end(), t) !=
          request.stop_token_ids.end()) {
        b.end = GenerationEnd::kStop;
        break;
      }
      if (!script.never_ends && c->pos >= script.tokens.size()) {
        b.end = script.end;
        b.error = script.error;
        break;
      }
    }
    if (b.end == GenerationEnd::kNone && c->produced >= request.max_new_tokens) {
      b.end = GenerationEnd::kLength;
    }
    return b;
  }

  std::shared_ptr<FakeGenerator::State> state_;
  std::shared_ptr<Core> core_;
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

FakeGenerator::FakeGenerator(ServedModel model)
    : model_(std::move(model)), state_(std::make_shared<State>()) {
  timer_ = std::thread([state = state_] { state->RunTimer(); });
}

FakeGenerator::~FakeGenerator() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->timer_cv.notify_all();
  timer_.join();
}

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

void FakeGenerator::Release() {
  std::lock_guard<std::mutex> lock(state_->mu);
  const absl::Time now = absl::Now();
  for (const std::weak_ptr<Core>& weak : state_->waiting) {
    std::shared_ptr<Core> core = weak.lock();
    if (core == nullptr || !core->held) continue;
    core->held = false;
    --state_->held;
    core->next_ready = now;
    if (core->notify) core->notify();
  }
  state_->waiting.clear();
  state_->cv.notify_all();
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
  auto core = std::make_shared<Core>(std::move(script), std::move(request), model_.vocab_size);
  core->next_ready = absl::Now() + core->script.delay;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    ++state_->submitted;
    ++state_->active;
    if (core->script.wait_for_release) {
      core->held = true;
      ++state_->held;
      state_->waiting.push_back(core);
    }
  }
  return std::unique_ptr<GenerationHandle>(new FakeHandle(state_, std::move(core)));
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
int FakeGenerator::held() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->held;
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

}  // namespace r1::testing
