// KeyValueStore: the small bootstrap store through which the ranks of a group find each other
// (Gloo's pair addresses; later NCCL unique ids). Two implementations: InMemoryKeyValueStore
// (threads of one process: tests) and GrpcRendezvousStore (grpc_rendezvous_store.h, the
// coordinator's r1.v1.Rendezvous service). Keys are namespaced by the caller (a per-group prefix),
// so several groups share one store.
#ifndef R1_WORKER_COMM_KEY_VALUE_STORE_H_
#define R1_WORKER_COMM_KEY_VALUE_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace r1 {

// Implementations are thread-safe.
class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;

  // Sets `key` to `value`, overwriting.
  virtual absl::Status Set(const std::string& key, const std::string& value) = 0;
  // The value of `key`; NotFound when absent.
  virtual absl::StatusOr<std::string> Get(const std::string& key) = 0;
  // Returns once every key exists; DeadlineExceeded when `timeout` passes first.
  virtual absl::Status Wait(const std::vector<std::string>& keys, absl::Duration timeout) = 0;
};

// A map in memory. Thread-safe; Wait blocks on a condition, no polling.
class InMemoryKeyValueStore final : public KeyValueStore {
 public:
  absl::Status Set(const std::string& key, const std::string& value) override;
  absl::StatusOr<std::string> Get(const std::string& key) override;
  absl::Status Wait(const std::vector<std::string>& keys, absl::Duration timeout) override;

  // Number of keys (tests).
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> kv_ ABSL_GUARDED_BY(mu_);
};

}  // namespace r1

#endif  // R1_WORKER_COMM_KEY_VALUE_STORE_H_
