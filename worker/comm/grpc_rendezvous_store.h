// GrpcRendezvousStore: a KeyValueStore client of the coordinator's r1.v1.Rendezvous service
// (proto/r1/v1/cluster.proto): Set(key, value), Get(key) → NOT_FOUND when absent, Wait(keys,
// timeout_ms) → DEADLINE_EXCEEDED when they do not all appear in time.
//
// Set and Get are single RPCs bounded by `rpc_timeout`. Wait splits long timeouts into calls of at
// most 10 minutes (the service's cap) and retries UNAVAILABLE (a coordinator restarting) until its
// own deadline. gRPC status codes map one-to-one onto absl codes. Keys (1..1024 bytes) and values
// (≤ 1 MiB) are checked here against the service's limits.
//
// Every call carries `authorization: Bearer <secret>` when a cluster secret is given.
//
// Owns its stub; thread-safe (gRPC stubs are).
#ifndef R1_WORKER_COMM_GRPC_RENDEZVOUS_STORE_H_
#define R1_WORKER_COMM_GRPC_RENDEZVOUS_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "r1/v1/cluster.grpc.pb.h"
#include "worker/comm/key_value_store.h"

namespace r1 {

class GrpcRendezvousStore final : public KeyValueStore {
 public:
  static constexpr size_t kMaxKeyBytes = 1024;
  static constexpr size_t kMaxValueBytes = 1 << 20;

  explicit GrpcRendezvousStore(std::shared_ptr<grpc::ChannelInterface> channel,
                               absl::Duration rpc_timeout = absl::Seconds(10),
                               std::string secret = "");
  explicit GrpcRendezvousStore(std::unique_ptr<r1::v1::Rendezvous::StubInterface> stub,
                               absl::Duration rpc_timeout = absl::Seconds(10),
                               std::string secret = "");

  absl::Status Set(const std::string& key, const std::string& value) override;
  absl::StatusOr<std::string> Get(const std::string& key) override;
  absl::Status Wait(const std::vector<std::string>& keys, absl::Duration timeout) override;

 private:
  std::unique_ptr<r1::v1::Rendezvous::StubInterface> stub_;
  const absl::Duration rpc_timeout_;
  const std::string secret_;
};

}  // namespace r1

#endif  // R1_WORKER_COMM_GRPC_RENDEZVOUS_STORE_H_
