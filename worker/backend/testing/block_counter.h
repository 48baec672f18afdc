// BlockCounter: hands out KV block ids from a counter, for GPU tests that drive CudaModel without
// an Engine (the device cache needs only block ids). Not thread-safe.
#ifndef R1_WORKER_BACKEND_TESTING_BLOCK_COUNTER_H_
#define R1_WORKER_BACKEND_TESTING_BLOCK_COUNTER_H_

#include <cstdint>

#include "worker/kv_cache/kv_cache.h"

namespace r1::testing {

struct BlockCounter {
  int next = 0;
  int limit;
  explicit BlockCounter(int l) : limit(l) {}
  // Grows kv->blocks to hold `tokens`; false when the counter ran out.
  [[nodiscard]] bool Reserve(KvSequence* kv, int64_t tokens) {
    while (kv->capacity() < tokens) {
      if (next >= limit) return false;
      kv->blocks.push_back(next++);
    }
    return true;
  }
};

}  // namespace r1::testing

#endif  // R1_WORKER_BACKEND_TESTING_BLOCK_COUNTER_H_
