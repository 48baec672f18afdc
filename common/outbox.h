// Outbox: a bounded, closable FIFO (for example the messages of one control stream). Producers
// (routing, group formation) Push; the stream's writer thread Pops. Thread-safe.
#ifndef R1_COMMON_OUTBOX_H_
#define R1_COMMON_OUTBOX_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace r1 {

template <typename T>
class Outbox {
 public:
  explicit Outbox(size_t capacity) : capacity_(capacity) {}

  // False when closed or full (the caller treats the worker as failing).
  bool Push(T item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_ || items_.size() >= capacity_) return false;
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
    return true;
  }

  // Waits up to `timeout`; nullopt on timeout or when closed and drained.
  std::optional<T> Pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace r1

#endif  // R1_COMMON_OUTBOX_H_
