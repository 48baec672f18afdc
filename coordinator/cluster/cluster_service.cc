#include "coordinator/cluster/cluster_service.h"

#include <thread>

#include "common/logging.h"

namespace r1 {

grpc::Status ClusterService::Attach(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<r1::v1::CoordinatorMessage, r1::v1::WorkerMessage>* stream) {
  if (auth_ != nullptr) {
    if (grpc::Status st = auth_->Check(*ctx); !st.ok()) {
      log::Warn({}, "refused a worker from {}: {}", ctx->peer(), st.error_message());
      return st;
    }
  }
  r1::v1::WorkerMessage first;
  if (!stream->Read(&first)) return {grpc::StatusCode::CANCELLED, "stream closed before Hello"};
  if (!first.has_hello()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "the first message must be Hello"};
  }
  auto outbox = std::make_shared<WorkerOutbox>(1 << 16);
  auto id = state_->AddWorker(first.hello(), outbox);
  if (!id.ok()) {
    log::Warn({}, "refused a worker from {}: {}", ctx->peer(), id.status().message());
    return {grpc::StatusCode::ALREADY_EXISTS, std::string(id.status().message())};
  }

  // One writer thread drains the outbox; this thread reads. When the outbox closes (the worker
  // was declared dead) the writer cancels the call so that the blocked Read returns.
  std::thread writer([&] {
    for (;;) {
      auto msg = outbox->Pop(std::chrono::milliseconds(200));
      if (!msg) {
        if (outbox->closed() || ctx->IsCancelled()) break;
        continue;
      }
      if (!stream->Write(*msg)) break;
    }
    ctx->TryCancel();
  });
  r1::v1::WorkerMessage msg;
  while (stream->Read(&msg)) state_->OnMessage(*id, msg);
  state_->RemoveWorker(*id, "control stream ended");
  outbox->Close();
  writer.join();
  return grpc::Status::OK;
}

grpc::Status AdminService::ClusterStatus(grpc::ServerContext* ctx,
                                         const r1::v1::ClusterStatusRequest*,
                                         r1::v1::ClusterStatusResponse* resp) {
  if (auth_ != nullptr) {
    if (grpc::Status st = auth_->Check(*ctx); !st.ok()) return st;
  }
  *resp = state_->Status();
  return grpc::Status::OK;
}

grpc::Status AdminService::Drain(grpc::ServerContext* ctx, const r1::v1::DrainRequest* req,
                                 r1::v1::DrainResponse* resp) {
  if (auth_ != nullptr) {
    if (grpc::Status st = auth_->Check(*ctx); !st.ok()) return st;
  }
  auto r = state_->Drain(*req);
  if (!r.ok()) {
    return {static_cast<grpc::StatusCode>(r.status().code()), std::string(r.status().message())};
  }
  *resp = std::move(*r);
  return grpc::Status::OK;
}

}  // namespace r1
