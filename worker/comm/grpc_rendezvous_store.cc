#include "worker/comm/grpc_rendezvous_store.h"

#include <algorithm>

#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/grpc_security.h"

namespace r1 {
namespace {

constexpr absl::Duration kMaxWaitCall = absl::Minutes(10);  // the service caps timeout_ms here
constexpr absl::Duration kRetryPause = absl::Milliseconds(100);

absl::Status FromGrpc(const grpc::Status& st, absl::string_view what) {
  if (st.ok()) return absl::OkStatus();
  // grpc::StatusCode and absl::StatusCode share their numbering (both follow google.rpc.Code).
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                      absl::StrCat("rendezvous ", what, ": ", st.error_message()));
}

absl::Status CheckKey(const std::string& key) {
  if (key.empty() || key.size() > GrpcRendezvousStore::kMaxKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("rendezvous key of ", key.size(), " bytes (must be 1..1024)"));
  }
  return absl::OkStatus();
}

void SetDeadline(grpc::ClientContext* ctx, absl::Duration d) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

}  // namespace

GrpcRendezvousStore::GrpcRendezvousStore(std::shared_ptr<grpc::ChannelInterface> channel,
                                         absl::Duration rpc_timeout, std::string secret)
    : GrpcRendezvousStore(r1::v1::Rendezvous::NewStub(std::move(channel)), rpc_timeout,
                          std::move(secret)) {}

GrpcRendezvousStore::GrpcRendezvousStore(std::unique_ptr<r1::v1::Rendezvous::StubInterface> stub,
                                         absl::Duration rpc_timeout, std::string secret)
    : stub_(std::move(stub)), rpc_timeout_(rpc_timeout), secret_(std::move(secret)) {}

absl::Status GrpcRendezvousStore::Set(const std::string& key, const std::string& value) {
  if (absl::Status st = CheckKey(key); !st.ok()) return st;
  if (value.size() > kMaxValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("rendezvous value of ", value.size(), " bytes for '", key, "' (> 1 MiB)"));
  }
  r1::v1::RendezvousSetRequest req;
  req.set_key(key);
  req.set_value(value);
  r1::v1::RendezvousSetResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, rpc_timeout_);
  AddBearer(&ctx, secret_);
  return FromGrpc(stub_->Set(&ctx, req, &resp), absl::StrCat("Set '", key, "'"));
}

absl::StatusOr<std::string> GrpcRendezvousStore::Get(const std::string& key) {
  if (absl::Status st = CheckKey(key); !st.ok()) return st;
  r1::v1::RendezvousGetRequest req;
  req.set_key(key);
  r1::v1::RendezvousGetResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, rpc_timeout_);
  AddBearer(&ctx, secret_);
  if (absl::Status st = FromGrpc(stub_->Get(&ctx, req, &resp), absl::StrCat("Get '", key, "'"));
      !st.ok()) {
    return st;
  }
  return std::move(*resp.mutable_value());
}

absl::Status GrpcRendezvousStore::Wait(const std::vector<std::string>& keys,
                                       absl::Duration timeout) {
  for (const std::string& k : keys) {
    if (absl::Status st = CheckKey(k); !st.ok()) return st;
  }
  const absl::Time deadline = absl::Now() + timeout;
  r1::v1::RendezvousWaitRequest req;
  for (const std::string& k : keys) req.add_keys(k);
  absl::Status last = absl::DeadlineExceededError("rendezvous Wait: timeout passed");
  for (absl::Duration left = timeout; left > absl::ZeroDuration(); left = deadline - absl::Now()) {
    const absl::Duration call = std::min(left, kMaxWaitCall);
    req.set_timeout_ms(
        static_cast<uint32_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(call))));
    r1::v1::RendezvousWaitResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(&ctx, call + rpc_timeout_);
    AddBearer(&ctx, secret_);
    const grpc::Status st = stub_->Wait(&ctx, req, &resp);
    if (st.ok()) return absl::OkStatus();
    last = FromGrpc(st, absl::StrCat("Wait for ", keys.size(), " keys"));
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE) {
      absl::SleepFor(std::min(kRetryPause, deadline - absl::Now()));
    } else if (st.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      return last;
    }
  }
  if (last.code() == absl::StatusCode::kDeadlineExceeded) return last;
  return absl::DeadlineExceededError(
      absl::StrCat("rendezvous Wait: timeout passed; last error: ", last.message()));
}

}  // namespace r1
