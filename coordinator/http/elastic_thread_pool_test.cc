#include "coordinator/http/elastic_thread_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace r1::http {
namespace {

TEST(ElasticThreadPoolTest, ThreadsThenQueueThenRefusal) {
  ElasticThreadPool pool(3);
  absl::Notification release;
  std::atomic<int> ran{0};
  auto task = [&] {
    release.WaitForNotification();
    ++ran;
  };
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.TrySchedule(task));  // one thread each
  EXPECT_EQ(pool.threads(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.TrySchedule(task));  // queued
  EXPECT_FALSE(pool.TrySchedule(task));                             // queue full
  EXPECT_EQ(pool.threads(), 3u);
  release.Notify();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (ran.load() < 6 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(ran.load(), 6);
  // Idle threads are reused.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.TrySchedule([&] { ++ran; }));
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 9);
  EXPECT_EQ(pool.threads(), 0u);
  EXPECT_FALSE(pool.TrySchedule([] {}));
}

}  // namespace
}  // namespace r1::http
