// RendezvousService: the small key-value store on the coordinator that bootstraps group
// communicators (Gloo's Store interface, NCCL unique ids). Keys and values are bounded; Wait
// blocks until every key exists or its timeout (≤ 10 min) passes. Every call checks the cluster
// secret first (`auth`: nullable, open; borrowed, must outlive the service). Thread-safe.
#ifndef R1_COORDINATOR_CLUSTER_RENDEZVOUS_SERVICE_H_
#define R1_COORDINATOR_CLUSTER_RENDEZVOUS_SERVICE_H_

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "coordinator/grpc_api/grpc_auth.h"
#include "r1/v1/cluster.grpc.pb.h"

namespace r1 {

class RendezvousService final : public r1::v1::Rendezvous::Service {
 public:
  static constexpr size_t kMaxKeyBytes = 1024;
  static constexpr size_t kMaxValueBytes = 1 << 20;
  static constexpr size_t kMaxKeys = 100000;

  explicit RendezvousService(const GrpcAuth* auth = nullptr) : auth_(auth) {}

  grpc::Status Set(grpc::ServerContext* ctx, const r1::v1::RendezvousSetRequest* req,
                   r1::v1::RendezvousSetResponse* resp) override;
  grpc::Status Get(grpc::ServerContext* ctx, const r1::v1::RendezvousGetRequest* req,
                   r1::v1::RendezvousGetResponse* resp) override;
  grpc::Status Wait(grpc::ServerContext* ctx, const r1::v1::RendezvousWaitRequest* req,
                    r1::v1::RendezvousWaitResponse* resp) override;

  // Drops every key under `prefix` (a group that went away).
  void ErasePrefix(const std::string& prefix);

 private:
  const GrpcAuth* auth_;  // borrowed, nullable
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> kv_;  // guarded by mu_
};

}  // namespace r1

#endif  // R1_COORDINATOR_CLUSTER_RENDEZVOUS_SERVICE_H_
