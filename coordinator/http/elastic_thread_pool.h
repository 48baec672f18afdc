// ElasticThreadPool: runs tasks that block for a long time (a generation waiting on
// GenerationHandle::Next and on its client's socket), one thread per running task, at most
// `max_threads` threads. Threads are started on demand and kept for reuse. When every thread is
// busy a task waits in a queue of at most `max_threads`; beyond that TrySchedule refuses (returns
// false) so the caller can answer 503 at once.
//
// The HTTP server schedules at most one task per open connection and bounds connections by
// `max_threads`, so a queued task only waits for a thread finishing the tail of a task whose
// response is already out (the client may send its next request before that thread is free).
//
// Thread-safe. Shutdown() (also run by the destructor) runs what is queued, waits for running
// tasks to return and joins every thread.
#ifndef R1_COORDINATOR_HTTP_ELASTIC_THREAD_POOL_H_
#define R1_COORDINATOR_HTTP_ELASTIC_THREAD_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace r1::http {

class ElasticThreadPool {
 public:
  explicit ElasticThreadPool(size_t max_threads) : max_threads_(max_threads) {}
  ~ElasticThreadPool() { Shutdown(); }
  ElasticThreadPool(const ElasticThreadPool&) = delete;
  ElasticThreadPool& operator=(const ElasticThreadPool&) = delete;

  // Runs `task` on an idle or a new thread, or queues it when every thread is busy; false when
  // the queue is full too or the pool is shut down.
  bool TrySchedule(std::function<void()> task);
  // Refuses new tasks, waits for running ones, joins every thread. Idempotent.
  void Shutdown();

  size_t threads() const;

 private:
  void Loop();

  const size_t max_threads_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  size_t waiting_ ABSL_GUARDED_BY(mu_) = 0;   // threads waiting for a task
  size_t starting_ ABSL_GUARDED_BY(mu_) = 0;  // threads started, not yet waiting
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace r1::http

#endif  // R1_COORDINATOR_HTTP_ELASTIC_THREAD_POOL_H_
