// EstimateQueueWait, RetryAfterSeconds and StartRateMeter with made-up queues and times.
#include "coordinator/cluster/queue_wait.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(EstimateQueueWaitTest, EmptyQueueWaitsNothing) {
  WorkerQueue q;
  q.drain_tokens_per_s = 100;
  EXPECT_EQ(EstimateQueueWait(q, 1000), absl::ZeroDuration());
  q.waiting_prompt_tokens = 500;  // stale tokens without sequences: still empty
  EXPECT_EQ(EstimateQueueWait(q, 1000), absl::ZeroDuration());
}

TEST(EstimateQueueWaitTest, WorkAheadOverTheDrainRate) {
  WorkerQueue q;
  q.waiting_sequences = 10;
  q.waiting_prompt_tokens = 900;
  q.drain_tokens_per_s = 200;
  // (900 waiting + 100 of this request) / 200 tokens/s.
  EXPECT_EQ(EstimateQueueWait(q, 100), absl::Seconds(5));
  q.drain_tokens_per_s = 2000;
  EXPECT_EQ(EstimateQueueWait(q, 100), absl::Milliseconds(500));
}

TEST(EstimateQueueWaitTest, UnknownRateFallsBackToTheOldestWait) {
  WorkerQueue q;
  q.waiting_sequences = 3;
  q.waiting_prompt_tokens = 300;
  EXPECT_EQ(EstimateQueueWait(q, 10), absl::ZeroDuration());
  q.oldest_wait = absl::Seconds(12);
  EXPECT_EQ(EstimateQueueWait(q, 10), absl::Seconds(12));
}

TEST(EstimateQueueWaitTest, TheLargerOfWorkAheadAndOldestWait) {
  WorkerQueue q;
  q.waiting_sequences = 4;
  q.waiting_prompt_tokens = 400;
  q.drain_tokens_per_s = 100;
  q.oldest_wait = absl::Seconds(2);
  EXPECT_EQ(EstimateQueueWait(q, 100), absl::Seconds(5));
  q.oldest_wait = absl::Seconds(40);  // the queue stalled: its head says more than the rate
  EXPECT_EQ(EstimateQueueWait(q, 100), absl::Seconds(40));
}

TEST(EstimateQueueWaitTest, NegativeInputsAreClamped) {
  WorkerQueue q;
  q.waiting_sequences = 1;
  q.waiting_prompt_tokens = -50;
  q.drain_tokens_per_s = 10;
  q.oldest_wait = -absl::Seconds(3);
  EXPECT_EQ(EstimateQueueWait(q, -5), absl::ZeroDuration());
}

TEST(RetryAfterSecondsTest, TheExcessOverTheBoundInWholeSecondsWithinOneToMax) {
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(31), absl::Seconds(30)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(30.5), absl::Seconds(30)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(42.2), absl::Seconds(30)), 13);
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(500), absl::Seconds(30)), 60);
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(500), absl::Seconds(30), 10), 10);
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(1), absl::Seconds(30)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::InfiniteDuration(), absl::Seconds(30)), 60);
}

TEST(StartRateMeterTest, MeasuresTokensPerSecondOfBusyTime) {
  StartRateMeter m(/*alpha=*/0.5, absl::Seconds(1));
  EXPECT_EQ(m.tokens_per_s(), 0);
  m.Advance(kT0, false);
  // Busy for 1 s, 200 tokens started: 200 tokens/s once the window holds 1 s.
  m.Advance(kT0 + absl::Milliseconds(500), true);
  m.AddStarted(100);
  EXPECT_EQ(m.tokens_per_s(), 0);
  m.Advance(kT0 + absl::Seconds(1), true);
  m.AddStarted(100);
  EXPECT_DOUBLE_EQ(m.tokens_per_s(), 200);
  // The next window, 1 s with 100 tokens, moves it half way to 100.
  m.Advance(kT0 + absl::Seconds(2), true);
  m.AddStarted(100);
  EXPECT_DOUBLE_EQ(m.tokens_per_s(), 150);
}

TEST(StartRateMeterTest, IdleTimeAndShortBusyStretchesDoNotCount) {
  StartRateMeter m(0.5, absl::Seconds(1));
  m.Advance(kT0, false);
  // A lone request: busy 0.2 s, then the queue is empty. Its latency is not a capacity sample.
  m.Advance(kT0 + absl::Milliseconds(200), true);
  m.AddStarted(20);
  m.Advance(kT0 + absl::Seconds(10), false);
  EXPECT_EQ(m.tokens_per_s(), 0);
  // A stretch of 1.5 s that never empties.
  m.Advance(kT0 + absl::Seconds(10.5), true);
  m.AddStarted(100);
  m.Advance(kT0 + absl::Seconds(10.9), true);
  m.AddStarted(200);
  EXPECT_EQ(m.tokens_per_s(), 0);
  m.Advance(kT0 + absl::Seconds(11.5), true);
  m.AddStarted(300);  // 600 tokens in 1.5 s
  EXPECT_DOUBLE_EQ(m.tokens_per_s(), 400);
  // A long idle time keeps the last rate.
  m.Advance(kT0 + absl::Hours(1), false);
  EXPECT_DOUBLE_EQ(m.tokens_per_s(), 400);
}

TEST(StartRateMeterTest, AWindowWithoutStartsStaysOpenUntilOneStarts) {
  StartRateMeter m(0.5, absl::Seconds(1));
  m.Advance(kT0, true);
  m.Advance(kT0 + absl::Seconds(5), true);  // 5 s of a long prefill, nothing started
  EXPECT_EQ(m.tokens_per_s(), 0);
  m.Advance(kT0 + absl::Seconds(10), true);
  m.AddStarted(1000);  // 1000 tokens in 10 s
  EXPECT_DOUBLE_EQ(m.tokens_per_s(), 100);
}

TEST(StartRateMeterTest, TimeGoingBackIsIgnored) {
  StartRateMeter m(0.5, absl::Seconds(1));
  m.Advance(kT0 + absl::Seconds(5), true);
  m.Advance(kT0, true);  // earlier than the last call: no busy time
  m.AddStarted(10);
  EXPECT_EQ(m.tokens_per_s(), 0);
  m.Advance(kT0 + absl::Seconds(6), true);  // 1 s after the latest time seen
  m.AddStarted(10);
  EXPECT_DOUBLE_EQ(m.tokens_per_s(), 20);
}

}  // namespace
}  // namespace r1
