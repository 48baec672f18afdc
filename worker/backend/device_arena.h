// DeviceArena: owns device allocations that live as long as the arena (model weights, a model's
// scratch buffers). Alloc and Upload return memory whose contents are in place when they return,
// for every stream (they wait for the default stream's fill or copy). Not thread-safe; not
// copyable.
#ifndef R1_WORKER_BACKEND_DEVICE_ARENA_H_
#define R1_WORKER_BACKEND_DEVICE_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace r1 {

class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena();

  // `bytes` of zeroed device memory (256-byte aligned); ResourceExhausted when the device is full.
  absl::StatusOr<void*> Alloc(size_t bytes);
  // Copies `bytes` of host memory into a new allocation.
  absl::StatusOr<void*> Upload(const void* host, size_t bytes);
  template <typename T>
  absl::StatusOr<T*> AllocArray(size_t n) {
    auto p = Alloc(n * sizeof(T));
    if (!p.ok()) return p.status();
    return static_cast<T*>(*p);
  }
  template <typename T>
  absl::StatusOr<T*> UploadVector(const std::vector<T>& v) {
    auto p = Upload(v.data(), v.size() * sizeof(T));
    if (!p.ok()) return p.status();
    return static_cast<T*>(*p);
  }
  size_t bytes() const { return bytes_; }

 private:
  std::vector<void*> blocks_;
  size_t bytes_ = 0;
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_DEVICE_ARENA_H_
