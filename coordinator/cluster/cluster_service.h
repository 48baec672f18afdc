// gRPC adapters of the coordinator's cluster plane (thin: proto ↔ ClusterState):
//   ClusterService — r1.v1.Cluster/Attach, one bidirectional stream per worker for its life;
//   AdminService   — r1.v1.Admin: ClusterStatus, Drain (ClusterState::Drain).
// Both check the cluster secret first (`auth`, nullable: open) and borrow the ClusterState and
// the GrpcAuth, which must outlive them. Thread-safe (gRPC calls them from its own threads).
#ifndef R1_COORDINATOR_CLUSTER_CLUSTER_SERVICE_H_
#define R1_COORDINATOR_CLUSTER_CLUSTER_SERVICE_H_

#include "coordinator/cluster/cluster_state.h"
#include "coordinator/grpc_api/grpc_auth.h"
#include "r1/v1/admin.grpc.pb.h"
#include "r1/v1/cluster.grpc.pb.h"

namespace r1 {

class ClusterService final : public r1::v1::Cluster::Service {
 public:
  explicit ClusterService(ClusterState* state, const GrpcAuth* auth = nullptr)
      : state_(state), auth_(auth) {}
  grpc::Status Attach(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<r1::v1::CoordinatorMessage, r1::v1::WorkerMessage>* stream) override;

 private:
  ClusterState* state_;   // borrowed
  const GrpcAuth* auth_;  // borrowed, nullable
};

class AdminService final : public r1::v1::Admin::Service {
 public:
  explicit AdminService(ClusterState* state, const GrpcAuth* auth = nullptr)
      : state_(state), auth_(auth) {}
  grpc::Status ClusterStatus(grpc::ServerContext* ctx, const r1::v1::ClusterStatusRequest* req,
                             r1::v1::ClusterStatusResponse* resp) override;
  grpc::Status Drain(grpc::ServerContext* ctx, const r1::v1::DrainRequest* req,
                     r1::v1::DrainResponse* resp) override;

 private:
  ClusterState* state_;   // borrowed
  const GrpcAuth* auth_;  // borrowed, nullable
};

}  // namespace r1

#endif  // R1_COORDINATOR_CLUSTER_CLUSTER_SERVICE_H_
