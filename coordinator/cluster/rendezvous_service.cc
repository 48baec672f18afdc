#include "coordinator/cluster/rendezvous_service.h"

#include <algorithm>
#include <chrono>

namespace r1 {

grpc::Status RendezvousService::Set(grpc::ServerContext* ctx,
                                    const r1::v1::RendezvousSetRequest* req,
                                    r1::v1::RendezvousSetResponse*) {
  if (auth_ != nullptr) {
    if (grpc::Status st = auth_->Check(*ctx); !st.ok()) return st;
  }
  if (req->key().empty() || req->key().size() > kMaxKeyBytes) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "key must be 1..1024 bytes"};
  }
  if (req->value().size() > kMaxValueBytes) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "value larger than 1 MiB"};
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (kv_.size() >= kMaxKeys && !kv_.count(req->key())) {
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, "rendezvous store is full"};
    }
    kv_[req->key()] = req->value();
  }
  cv_.notify_all();
  return grpc::Status::OK;
}

grpc::Status RendezvousService::Get(grpc::ServerContext* ctx,
                                    const r1::v1::RendezvousGetRequest* req,
                                    r1::v1::RendezvousGetResponse* resp) {
  if (auth_ != nullptr) {
    if (grpc::Status st = auth_->Check(*ctx); !st.ok()) return st;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kv_.find(req->key());
  if (it == kv_.end()) return {grpc::StatusCode::NOT_FOUND, "no such key"};
  resp->set_value(it->second);
  return grpc::Status::OK;
}

grpc::Status RendezvousService::Wait(grpc::ServerContext* ctx,
                                     const r1::v1::RendezvousWaitRequest* req,
                                     r1::v1::RendezvousWaitResponse*) {
  if (auth_ != nullptr) {
    if (grpc::Status st = auth_->Check(*ctx); !st.ok()) return st;
  }
  if (req->keys_size() > 4096) return {grpc::StatusCode::INVALID_ARGUMENT, "too many keys"};
  const auto timeout = std::chrono::milliseconds(std::min<uint32_t>(req->timeout_ms(), 600000));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  auto all_present = [&] {
    return std::all_of(req->keys().begin(), req->keys().end(),
                       [&](const std::string& k) { return kv_.count(k) > 0; });
  };
  while (!all_present()) {
    if (ctx->IsCancelled()) return {grpc::StatusCode::CANCELLED, "client went away"};
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return {grpc::StatusCode::DEADLINE_EXCEEDED, "keys did not appear"};
    cv_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(100)));
  }
  return grpc::Status::OK;
}

void RendezvousService::ErasePrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = kv_.lower_bound(prefix); it != kv_.end() && it->first.rfind(prefix, 0) == 0;) {
    it = kv_.erase(it);
  }
}

}  // namespace r1
