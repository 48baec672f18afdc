#include "coordinator/http/elastic_thread_pool.h"

#include <algorithm>
#include <utility>

namespace r1::http {

bool ElasticThreadPool::TrySchedule(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return false;
  if (queue_.size() < waiting_ + starting_) {
    queue_.push_back(std::move(task));
    cv_.Signal();
    return true;
  }
  if (threads_.size() < max_threads_) {
    queue_.push_back(std::move(task));
    ++starting_;
    threads_.emplace_back([this] { Loop(); });
    return true;
  }
  // Every thread is busy; the next one to finish takes the task. Tasks that an idle or starting
  // thread is about to take do not count against the queue's bound.
  const size_t backlog = queue_.size() - std::min(queue_.size(), waiting_ + starting_);
  if (backlog >= max_threads_) return false;
  queue_.push_back(std::move(task));
  return true;
}

void ElasticThreadPool::Loop() {
  mu_.Lock();
  --starting_;
  while (true) {
    ++waiting_;
    while (queue_.empty() && !shutdown_) cv_.Wait(&mu_);
    --waiting_;
    if (queue_.empty()) break;  // shut down
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    task();
    task = nullptr;  // destroy captures before taking the lock again
    mu_.Lock();
  }
  mu_.Unlock();
}

void ElasticThreadPool::Shutdown() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    threads.swap(threads_);
    cv_.SignalAll();
  }
  for (std::thread& t : threads) t.join();
}

size_t ElasticThreadPool::threads() const {
  absl::MutexLock lock(&mu_);
  return threads_.size();
}

}  // namespace r1::http
