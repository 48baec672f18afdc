#include "coordinator/grpc_api/grpc_auth.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace r1 {

GrpcAuth::GrpcAuth(const std::vector<std::string>& keys, std::string what)
    : keys_(keys), what_(std::move(what)) {}

grpc::Status GrpcAuth::Check(const grpc::ServerContext& context) const {
  if (open()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return {
        grpc::StatusCode::UNAUTHENTICATED,
        absl::StrCat("missing ", what_, ": send metadata 'authorization: Bearer <", what_, ">'")};
  }
  if (!keys_.Authorizes(absl::string_view(it->second.data(), it->second.size()))) {
    return {grpc::StatusCode::UNAUTHENTICATED, absl::StrCat("invalid ", what_)};
  }
  return grpc::Status::OK;
}

}  // namespace r1
