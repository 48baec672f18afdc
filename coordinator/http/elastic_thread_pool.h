// ElasticThreadPool: runs tasks that block for a long time (a generation waiting on
// GenerationHandle::Next and on its client's socket), one thread per running task, at most
// `max_threads` at once. Threads are started on demand and kept for reuse; TrySchedule refuses
// (returns false) instead of queueing when every thread is busy, so the caller can answer 503 at
// once.
//
// Thread-safe. Shutdown() (also run by the destructor) waits for running tasks to return.
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

  // Runs `task` on an idle or a new thread; false when `max_threads` tasks are running or the
  // pool is shut down.
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
