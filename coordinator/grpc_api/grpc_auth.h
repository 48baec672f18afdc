// GrpcAuth: the bearer-token check every coordinator gRPC method makes first (DESIGN §10). The
// public Inference API takes the same API keys as the HTTP API; the cluster plane (Cluster/Attach,
// Rendezvous, Admin) takes the cluster secret. A call carries `authorization: Bearer <key>` in its
// metadata; keys are compared in constant time (common/api_keys.h). With no keys configured every
// call passes (the coordinator warns at start when its cluster plane is open).
//
// Immutable after construction; thread-safe.
#ifndef R1_COORDINATOR_GRPC_API_GRPC_AUTH_H_
#define R1_COORDINATOR_GRPC_API_GRPC_AUTH_H_

#include <string>
#include <vector>

#include <grpcpp/server_context.h>

#include "common/api_keys.h"

namespace r1 {

class GrpcAuth {
 public:
  GrpcAuth() = default;  // open
  // `what` names the credential in errors ("API key", "cluster secret").
  GrpcAuth(const std::vector<std::string>& keys, std::string what);

  bool open() const { return keys_.empty(); }
  // OK, or UNAUTHENTICATED saying what is missing or wrong (never echoing what was sent).
  grpc::Status Check(const grpc::ServerContext& context) const;

 private:
  ApiKeySet keys_;
  std::string what_ = "key";
};

}  // namespace r1

#endif  // R1_COORDINATOR_GRPC_API_GRPC_AUTH_H_
