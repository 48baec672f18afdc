// Queue-wait estimation for admission (DESIGN §10: overload answers 429 at once instead of
// queueing without limit).
//
// The coordinator knows, per worker, exactly which sequences it routed there that have not yet
// produced their first token ("waiting": queued, or mid-prefill), their prompt tokens, and when
// the oldest of them was routed. It measures how fast that queue drains while it is backed up:
// prompt tokens of sequences that produced their first token, per second, over stretches of at
// least a second during which the queue never emptied (StartRateMeter). That rate already
// includes everything that slows a queue down on the worker — decode steps sharing the step
// budget, batch slots held by running sequences, KV blocks — which a raw prompt+generated
// tokens/s figure would not; and measuring only while the queue stays backed up keeps the
// latency of a lone request (which says little about capacity) out of it.
//
//   estimate = max( (waiting prompt tokens + this prompt) / drain rate,   (work ahead)
//                   age of the oldest waiting sequence )                   (sojourn, as CoDel)
//
// The second term needs no measurement: while the rate is unknown (the queue has not yet stayed
// backed up for a second, e.g. the first burst after start) a queue whose head has waited longer
// than the bound is still seen as overloaded. An empty queue waits 0.
//
// EstimateQueueWait is a pure function. StartRateMeter is a value type, not thread-safe (its
// owner, ClusterState, guards it with its mutex); time is passed in, so tests need no clock.
#ifndef R1_COORDINATOR_CLUSTER_QUEUE_WAIT_H_
#define R1_COORDINATOR_CLUSTER_QUEUE_WAIT_H_

#include <cstdint>

#include "absl/time/time.h"

namespace r1 {

// One worker's queue as the coordinator sees it.
struct WorkerQueue {
  int64_t waiting_sequences = 0;      // routed here, no first token yet
  int64_t waiting_prompt_tokens = 0;  // their prompt tokens
  double drain_tokens_per_s = 0;      // StartRateMeter::tokens_per_s(); 0 = not measured yet
  absl::Duration oldest_wait = absl::ZeroDuration();  // how long the oldest has waited
};

// How long a new request of `prompt_tokens` would wait for its first token behind `queue`
// (see the file comment). Never negative; InfiniteDuration never (a measured rate is > 0).
absl::Duration EstimateQueueWait(const WorkerQueue& queue, int64_t prompt_tokens);

// Retry-After, in whole seconds in [1, max_s], for a request refused because `wait` exceeds
// `bound`: the time until the queue should be back under the bound.
int RetryAfterSeconds(absl::Duration wait, absl::Duration bound, int max_s = 60);

// An exponentially weighted moving average of the rate at which a backed-up queue drains:
// tokens that left the queue per second, measured over windows of `window` during which the
// queue never emptied. A window closes at a start once it holds `window` of busy time; its rate is
// folded into the average with weight `alpha` (the first window sets it). When the queue empties,
// the open window is dropped. Idle time is never counted, so an idle worker keeps its last measured
// rate.
//
//   meter.Advance(now, /*busy=*/waiting > 0);   // before every change to the queue
//   meter.AddStarted(prompt_tokens);            // a sequence left the queue (first token)
//   meter.tokens_per_s();                       // 0 until a first window closed
class StartRateMeter {
 public:
  explicit StartRateMeter(double alpha = 0.3, absl::Duration window = absl::Seconds(1))
      : alpha_(alpha), window_(window) {}

  // Accounts the time since the previous call as busy (the queue was not empty all along) or
  // idle (which drops the open window). The first call only sets the start.
  void Advance(absl::Time now, bool busy);
  void AddStarted(int64_t tokens);
  double tokens_per_s() const { return rate_; }

 private:
  double alpha_;
  absl::Duration window_;
  absl::Time last_ = absl::InfinitePast();
  absl::Duration busy_ = absl::ZeroDuration();  // busy time in the open window
  int64_t tokens_ = 0;                          // tokens started in the open window
  double rate_ = 0;
};

}  // namespace r1

#endif  // R1_COORDINATOR_CLUSTER_QUEUE_WAIT_H_
