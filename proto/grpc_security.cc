#include "proto/grpc_security.h"

#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"
#include "common/api_keys.h"
#include "common/file_util.h"

namespace r1 {
namespace {

constexpr uint64_t kMaxPemBytes = 1 << 20;

// Reads a PEM file: bounded, and it must look like PEM.
absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  auto text = ReadFileBounded(path, kMaxPemBytes);
  if (!text.ok())
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", text.status().message()));
  if (text->find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return text;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& f) {
  if (f.cert_chain.empty() && f.private_key.empty()) {
    if (!f.client_ca.empty()) {
      return absl::InvalidArgumentError("a client CA (mTLS) needs a server certificate and key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (f.cert_chain.empty() || f.private_key.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate chain and its private key");
  }
  grpc::SslServerCredentialsOptions o;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  auto cert = ReadPem(f.cert_chain, "server certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(f.private_key, "server private key");
  if (!key.ok()) return key.status();
  pair.cert_chain = std::move(*cert);
  pair.private_key = std::move(*key);
  o.pem_key_cert_pairs.push_back(std::move(pair));
  if (!f.client_ca.empty()) {
    auto ca = ReadPem(f.client_ca, "client CA");
    if (!ca.ok()) return ca.status();
    o.pem_root_certs = std::move(*ca);
    o.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(o);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsFiles& f) {
  if (f.server_ca.empty()) {
    if (!f.cert_chain.empty() || !f.private_key.empty()) {
      return absl::InvalidArgumentError("a client certificate (mTLS) needs the server's CA");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (f.cert_chain.empty() != f.private_key.empty()) {
    return absl::InvalidArgumentError("a client certificate needs its private key and vice versa");
  }
  grpc::SslCredentialsOptions o;
  auto ca = ReadPem(f.server_ca, "server CA");
  if (!ca.ok()) return ca.status();
  o.pem_root_certs = std::move(*ca);
  if (!f.cert_chain.empty()) {
    auto cert = ReadPem(f.cert_chain, "client certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(f.private_key, "client private key");
    if (!key.ok()) return key.status();
    o.pem_cert_chain = std::move(*cert);
    o.pem_private_key = std::move(*key);
  }
  return grpc::SslCredentials(o);
}

absl::StatusOr<std::string> LoadSecretFile(const std::string& path) {
  auto keys = LoadApiKeysFile(path);
  if (!keys.ok()) return keys.status();
  return keys->front();
}

void AddBearer(grpc::ClientContext* context, const std::string& secret) {
  if (!secret.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", secret));
}

}  // namespace r1
