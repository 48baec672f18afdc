// gRPC security for both ends of the coordinator's gRPC servers (DESIGN §10):
//   - TLS: server credentials from a certificate chain + key, with mTLS when a client CA is
//     given (clients must present a certificate it signed); channel credentials from the server's
//     CA, plus a client certificate + key for mTLS. No files: insecure (loopback, tests).
//   - Bearer tokens: the cluster secret or an API key sent as `authorization: Bearer <secret>` on
//     each call (checked by the coordinator's GrpcAuth). Per-call metadata rather than gRPC call
//     credentials, because gRPC drops call credentials on insecure channels.
// Errors name the file and what is wrong with it. Stateless; thread-safe.
#ifndef R1_PROTO_GRPC_SECURITY_H_
#define R1_PROTO_GRPC_SECURITY_H_

#include <memory>
#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"

namespace r1 {

struct ServerTlsFiles {
  std::string cert_chain;   // PEM; empty (with key empty): insecure
  std::string private_key;  // PEM
  std::string client_ca;    // PEM; non-empty: mTLS (clients must present a certificate)
};

struct ClientTlsFiles {
  std::string server_ca;    // PEM; empty: insecure (then cert/key must be empty too)
  std::string cert_chain;   // PEM; for mTLS, with private_key
  std::string private_key;  // PEM
};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsFiles& files);

// The secret a client sends: the first key of a key file (common/api_keys.h format).
absl::StatusOr<std::string> LoadSecretFile(const std::string& path);
// Adds `authorization: Bearer <secret>` to the call; nothing for an empty secret.
void AddBearer(grpc::ClientContext* context, const std::string& secret);

}  // namespace r1

#endif  // R1_PROTO_GRPC_SECURITY_H_
