// GlooStoreAdapter: presents a KeyValueStore to Gloo as its rendezvous::Store, under a key prefix
// (the group's), so that Gloo's full-mesh bootstrap runs over any KeyValueStore — the in-memory one
// in tests, the coordinator's Rendezvous service in the cluster.
//
// Gloo's Store interface reports errors by throwing: every failure of the underlying store
// (including a Wait timeout) is thrown as gloo::IoException carrying the absl::Status text, which
// GlooCommunicator catches and turns back into a Status. get() waits for the key first (up to the
// default timeout), like Gloo's own stores.
//
// Borrows the store, which must outlive the adapter. Thread-safe when the store is.
#ifndef R1_WORKER_COMM_GLOO_STORE_H_
#define R1_WORKER_COMM_GLOO_STORE_H_

#include <chrono>
#include <string>
#include <vector>

#include <gloo/rendezvous/store.h>

#include "absl/time/time.h"
#include "worker/comm/key_value_store.h"

namespace r1 {

class GlooStoreAdapter final : public gloo::rendezvous::Store {
 public:
  // Keys become `prefix + key`. `timeout` bounds wait(keys) and get().
  GlooStoreAdapter(KeyValueStore* store, std::string prefix, absl::Duration timeout);

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

 private:
  std::vector<std::string> Prefixed(const std::vector<std::string>& keys) const;

  KeyValueStore* store_;
  const std::string prefix_;
  const absl::Duration timeout_;
};

}  // namespace r1

#endif  // R1_WORKER_COMM_GLOO_STORE_H_
