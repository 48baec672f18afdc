// FakeGenerator's two ways of reading a handle: blocking Next, and SetNotify + Next(zero) with the
// callback firing for delayed batches (timer thread), releases and cancellation.
#include "coordinator/testing/fake_generator.h"

#include <atomic>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace r1::testing {
namespace {

GenerationRequest Request(int32_t max_new_tokens = 8) {
  GenerationRequest r;
  r.request_id = "r";
  r.prompt_token_ids = {1, 2};
  r.max_new_tokens = max_new_tokens;
  return r;
}

// Waits until `count` reaches `want`.
bool WaitFor(const std::atomic<int>& count, int want, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (count.load() < want) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

TEST(FakeGeneratorTest, NotifyFiresWhenADelayedBatchComesDue) {
  FakeGenerator g(ServedModel{"m", 64, 100, 0});
  g.SetScript([](const GenerationRequest&) {
    FakeScript s;
    s.tokens = {5, 6};
    s.delay = absl::Milliseconds(30);
    return s;
  });
  auto h = g.Submit(Request());
  ASSERT_TRUE(h.ok());
  std::atomic<int> calls{0};
  (*h)->SetNotify([&] { ++calls; });
  EXPECT_EQ(calls.load(), 0);  // not due yet
  EXPECT_TRUE((*h)->Next(absl::ZeroDuration()).token_ids.empty());
  ASSERT_TRUE(WaitFor(calls, 1, absl::Seconds(5)));
  TokenBatch b = (*h)->Next(absl::ZeroDuration());
  EXPECT_EQ(b.token_ids, std::vector<int32_t>{5});
  ASSERT_TRUE(WaitFor(calls, 2, absl::Seconds(5)));
  b = (*h)->Next(absl::ZeroDuration());
  EXPECT_EQ(b.token_ids, std::vector<int32_t>{6});
  EXPECT_EQ(b.end, GenerationEnd::kStop);
}

TEST(FakeGeneratorTest, HeldHandlesWaitForRelease) {
  FakeGenerator g(ServedModel{"m", 64, 100, 0});
  g.SetScript([](const GenerationRequest&) {
    FakeScript s;
    s.tokens = {5};
    s.wait_for_release = true;
    return s;
  });
  auto notified = g.Submit(Request());
  auto blocking = g.Submit(Request());
  ASSERT_TRUE(notified.ok() && blocking.ok());
  EXPECT_EQ(g.held(), 2);
  std::atomic<int> calls{0};
  (*notified)->SetNotify([&] { ++calls; });
  EXPECT_TRUE((*blocking)->Next(absl::Milliseconds(20)).token_ids.empty());
  EXPECT_EQ(calls.load(), 0);
  g.Release();
  EXPECT_EQ(g.held(), 0);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ((*notified)->Next(absl::ZeroDuration()).token_ids, std::vector<int32_t>{5});
  EXPECT_EQ((*blocking)->Next(absl::Seconds(1)).token_ids, std::vector<int32_t>{5});
  // A later Submit waits for the next release.
  auto later = g.Submit(Request());
  EXPECT_EQ(g.held(), 1);
  EXPECT_TRUE((*later)->Next(absl::ZeroDuration()).token_ids.empty());
}

TEST(FakeGeneratorTest, CancelNotifiesAndClearedCallbacksStayQuiet) {
  FakeGenerator g(ServedModel{"m", 64, 100, 0});
  g.SetScript([](const GenerationRequest&) {
    FakeScript s;
    s.never_ends = true;
    s.wait_for_release = true;
    return s;
  });
  auto h = g.Submit(Request());
  std::atomic<int> calls{0};
  (*h)->SetNotify([&] { ++calls; });
  (*h)->Cancel();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(g.held(), 0);
  EXPECT_EQ((*h)->Next(absl::ZeroDuration()).end, GenerationEnd::kCancelled);

  auto quiet = g.Submit(Request());
  std::atomic<int> quiet_calls{0};
  (*quiet)->SetNotify([&] { ++quiet_calls; });
  (*quiet)->SetNotify(nullptr);
  g.Release();
  (*quiet)->Cancel();
  EXPECT_EQ(quiet_calls.load(), 0);
  quiet->reset();
  EXPECT_EQ(g.active(), 1);  // `h` is still alive
}

// Without a delay, taking a batch notifies at once when the next one is due.
TEST(FakeGeneratorTest, BatchesWithoutDelayNotifyAfterEachTake) {
  FakeGenerator g(ServedModel{"m", 64, 100, 0});
  g.SetScript([](const GenerationRequest&) {
    FakeScript s;
    s.tokens = {5, 6, 7};
    return s;
  });
  auto h = g.Submit(Request());
  std::atomic<int> calls{0};
  (*h)->SetNotify([&] { ++calls; });
  EXPECT_EQ(calls.load(), 1);
  std::vector<int32_t> got;
  for (int i = 0; i < 3; ++i) {
    TokenBatch b = (*h)->Next(absl::ZeroDuration());
    got.insert(got.end(), b.token_ids.begin(), b.token_ids.end());
  }
  EXPECT_EQ(got, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(calls.load(), 3);  // after the first and second take; the third batch ended it
}

}  // namespace
}  // namespace r1::testing
