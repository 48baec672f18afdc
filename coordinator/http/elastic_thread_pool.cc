#include "coordinator/http/elastic_thread_pool.h"

#include <utility>

namespace r1::http {

bool ElasticThreadPool::TrySchedule(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return false;
  if (queue_.size() < waiting_ + starting_) {
    queue_.push_back(std::move(task));
    cv_.notify_one();
    return true;
  }
  if (threads_.size() >= max_threads_) return false;
  queue_.push_back(std::move(task));
  ++starting_;
  threads_.emplace_back([this] { Loop(); });
  return true;
}

void ElasticThreadPool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  --starting_;
  while (true) {
    ++waiting_;
    cv_.wait(lock, [this] { return !queue_.empty() || shutdown_; });
    --waiting_;
    if (queue_.empty()) return;  // shut down
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // destroy captures before taking the lock again
    lock.lock();
  }
}

void ElasticThreadPool::Shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    threads.swap(threads_);
    cv_.notify_all();
  }
  for (std::thread& t : threads) t.join();
}

size_t ElasticThreadPool::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

}  // namespace r1::http
