#include "coordinator/cluster/queue_wait.h"

#include <algorithm>
#include <cmath>

namespace r1 {

absl::Duration EstimateQueueWait(const WorkerQueue& queue, int64_t prompt_tokens) {
  if (queue.waiting_sequences <= 0) return absl::ZeroDuration();
  absl::Duration work_ahead = absl::ZeroDuration();
  if (queue.drain_tokens_per_s > 0) {
    const double tokens = static_cast<double>(std::max<int64_t>(queue.waiting_prompt_tokens, 0) +
                                              std::max<int64_t>(prompt_tokens, 0));
    work_ahead = absl::Seconds(tokens / queue.drain_tokens_per_s);
  }
  return std::max({work_ahead, queue.oldest_wait, absl::ZeroDuration()});
}

int RetryAfterSeconds(absl::Duration wait, absl::Duration bound, int max_s) {
  const double excess = absl::ToDoubleSeconds(wait - bound);
  if (!(excess > 1)) return 1;
  return static_cast<int>(std::min<double>(std::ceil(excess), std::max(max_s, 1)));
}

void StartRateMeter::Advance(absl::Time now, bool busy) {
  if (!busy) {
    busy_ = absl::ZeroDuration();
    tokens_ = 0;
  } else if (last_ != absl::InfinitePast() && now > last_) {
    busy_ += now - last_;
  }
  last_ = std::max(last_, now);
}

void StartRateMeter::AddStarted(int64_t tokens) {
  tokens_ += std::max<int64_t>(tokens, 0);
  if (busy_ < window_ || busy_ <= absl::ZeroDuration()) return;
  const double sample = static_cast<double>(tokens_) / absl::ToDoubleSeconds(busy_);
  rate_ = rate_ > 0 ? alpha_ * sample + (1 - alpha_) * rate_ : sample;
  busy_ = absl::ZeroDuration();
  tokens_ = 0;
}

}  // namespace r1
