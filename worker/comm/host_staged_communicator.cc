#include "worker/comm/host_staged_communicator.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "worker/comm/internal/cuda_util.h"

namespace r1 {
namespace {

using comm_internal::BufferKind;
using comm_internal::ClassifyBuffer;
using comm_internal::CudaStatus;
using comm_internal::ScopedDevice;

}  // namespace

absl::StatusOr<std::unique_ptr<HostStagedCommunicator>> HostStagedCommunicator::Create(
    std::unique_ptr<Communicator> inner) {
  if (inner == nullptr) return absl::InvalidArgumentError("host-staged: no inner communicator");
  int device = -1;
  if (absl::Status st = CudaStatus(cudaGetDevice(&device), "host-staged: cudaGetDevice");
      !st.ok()) {
    return st;
  }
  cudaStream_t stream = nullptr;
  if (absl::Status st = CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                                   "host-staged: cudaStreamCreate");
      !st.ok()) {
    return st;
  }
  return std::unique_ptr<HostStagedCommunicator>(
      new HostStagedCommunicator(std::move(inner), device, stream));
}

HostStagedCommunicator::HostStagedCommunicator(std::unique_ptr<Communicator> inner, int device,
                                               CUstream_st* stream)
    : inner_(std::move(inner)), device_(device), stream_(stream) {}

HostStagedCommunicator::~HostStagedCommunicator() {
  absl::MutexLock lock(&mu_);
  ScopedDevice device(device_);
  // Every call waited for its copies, so the stream is idle.
  for (char* p : {send_stage_.ptr, recv_stage_.ptr}) {
    if (p != nullptr) (void)cudaFreeHost(p);
  }
  (void)cudaStreamDestroy(stream_);
}

absl::Status HostStagedCommunicator::health() const {
  {
    absl::MutexLock lock(&state_mu_);
    if (!error_.ok()) return error_;
  }
  return inner_->health();
}

absl::Status HostStagedCommunicator::Fail(absl::Status st) {
  {
    absl::MutexLock lock(&state_mu_);
    if (error_.ok()) error_ = st;
  }
  inner_->Abort();  // peers fail now rather than at their timeouts
  return st;
}

absl::Status HostStagedCommunicator::Reserve(PinnedBuffer* buffer, size_t bytes) {
  if (bytes <= buffer->bytes) return absl::OkStatus();
  const size_t want = std::max(bytes, 2 * buffer->bytes);
  if (buffer->ptr != nullptr) (void)cudaFreeHost(buffer->ptr);
  buffer->ptr = nullptr;
  buffer->bytes = 0;
  void* p = nullptr;
  if (absl::Status st = CudaStatus(cudaMallocHost(&p, want), "host-staged: cudaMallocHost");
      !st.ok()) {
    return Fail(std::move(st));
  }
  buffer->ptr = static_cast<char*>(p);
  buffer->bytes = want;
  return absl::OkStatus();
}

absl::StatusOr<HostStagedCommunicator::Staged> HostStagedCommunicator::Prepare(
    const void* buffer, int64_t bytes, PinnedBuffer* stage, absl::string_view what) {
  absl::StatusOr<BufferKind> kind = ClassifyBuffer(buffer, bytes, device_, what);
  if (!kind.ok()) return kind.status();
  Staged s;
  if (bytes == 0) return s;  // the inner communicator sees an empty, null span
  s.host = const_cast<char*>(static_cast<const char*>(buffer));
  if (*kind == BufferKind::kDevice) {
    if (absl::Status st = Reserve(stage, static_cast<size_t>(bytes)); !st.ok()) return st;
    s.host = stage->ptr;
    s.device = true;
  }
  return s;
}

absl::Status HostStagedCommunicator::Copy(void* dst, const void* src, int64_t bytes,
                                          absl::Time deadline, absl::string_view what) {
  if (bytes == 0) return absl::OkStatus();
  const std::string where = absl::StrCat("host-staged ", what, " (rank ", rank(), ")");
  absl::Status st = CudaStatus(
      cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyDefault, stream_), where);
  if (st.ok()) st = comm_internal::WaitForStream(stream_, deadline, nullptr, where);
  return st.ok() ? st : Fail(std::move(st));
}

absl::StatusOr<absl::Duration> HostStagedCommunicator::Remaining(absl::Time deadline,
                                                                 absl::string_view what) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) {
    return Fail(absl::DeadlineExceededError(
        absl::StrCat("host-staged ", what, " (rank ", rank(), "): timed out while staging")));
  }
  return left;
}

// Every collective below: check health, classify and stage the caller's buffers (InvalidArgument
// before anything is sent), device → host, the inner collective with the time left, host →
// device.

absl::Status HostStagedCommunicator::DoAllToAllV(const char* send,
                                                 const std::vector<int64_t>& send_bytes, char* recv,
                                                 const std::vector<int64_t>& recv_bytes,
                                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  ScopedDevice device(device_);
  if (absl::Status st = health(); !st.ok()) return st;
  int64_t send_total = 0, recv_total = 0;
  for (int64_t b : send_bytes) send_total += b;
  for (int64_t b : recv_bytes) recv_total += b;
  absl::StatusOr<Staged> in = Prepare(send, send_total, &send_stage_, "AllToAllV send");
  if (!in.ok()) return in.status();
  absl::StatusOr<Staged> out = Prepare(recv, recv_total, &recv_stage_, "AllToAllV recv");
  if (!out.ok()) return out.status();
  if (in->device) {
    if (absl::Status st = Copy(in->host, send, send_total, deadline, "alltoallv stage-in");
        !st.ok()) {
      return st;
    }
  }
  absl::StatusOr<absl::Duration> left = Remaining(deadline, "alltoallv");
  if (!left.ok()) return left.status();
  if (absl::Status st = inner_->AllToAllV<char>(
          absl::MakeConstSpan(in->host, static_cast<size_t>(send_total)), send_bytes,
          absl::MakeSpan(out->host, static_cast<size_t>(recv_total)), recv_bytes, *left);
      !st.ok()) {
    return st;
  }
  if (out->device) return Copy(recv, out->host, recv_total, deadline, "alltoallv stage-out");
  return absl::OkStatus();
}

absl::Status HostStagedCommunicator::DoAllGather(const char* send, int64_t bytes, char* recv,
                                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  ScopedDevice device(device_);
  if (absl::Status st = health(); !st.ok()) return st;
  const int64_t recv_total = bytes * size();
  absl::StatusOr<Staged> in = Prepare(send, bytes, &send_stage_, "AllGather send");
  if (!in.ok()) return in.status();
  absl::StatusOr<Staged> out = Prepare(recv, recv_total, &recv_stage_, "AllGather recv");
  if (!out.ok()) return out.status();
  if (in->device) {
    if (absl::Status st = Copy(in->host, send, bytes, deadline, "allgather stage-in"); !st.ok()) {
      return st;
    }
  }
  absl::StatusOr<absl::Duration> left = Remaining(deadline, "allgather");
  if (!left.ok()) return left.status();
  if (absl::Status st = inner_->AllGather<char>(
          absl::MakeConstSpan(in->host, static_cast<size_t>(bytes)),
          absl::MakeSpan(out->host, static_cast<size_t>(recv_total)), *left);
      !st.ok()) {
    return st;
  }
  if (out->device) return Copy(recv, out->host, recv_total, deadline, "allgather stage-out");
  return absl::OkStatus();
}

absl::Status HostStagedCommunicator::DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  ScopedDevice device(device_);
  if (absl::Status st = health(); !st.ok()) return st;
  const int64_t bytes =
      n * static_cast<int64_t>(type == DataType::kInt64 ? sizeof(int64_t) : sizeof(float));
  absl::StatusOr<Staged> io = Prepare(data, bytes, &send_stage_, "AllReduce data");
  if (!io.ok()) return io.status();
  if (io->device) {
    if (absl::Status st = Copy(io->host, data, bytes, deadline, "allreduce stage-in"); !st.ok()) {
      return st;
    }
  }
  absl::StatusOr<absl::Duration> left = Remaining(deadline, "allreduce");
  if (!left.ok()) return left.status();
  const size_t count = static_cast<size_t>(n);
  absl::Status st =
      type == DataType::kInt64
          ? inner_->AllReduce(absl::MakeSpan(reinterpret_cast<int64_t*>(io->host), count), op,
                              *left)
          : inner_->AllReduce(absl::MakeSpan(reinterpret_cast<float*>(io->host), count), op, *left);
  if (!st.ok()) return st;
  if (io->device) return Copy(data, io->host, bytes, deadline, "allreduce stage-out");
  return absl::OkStatus();
}

absl::Status HostStagedCommunicator::DoBarrier(absl::Duration timeout) {
  if (absl::Status st = health(); !st.ok()) return st;
  return inner_->Barrier(timeout);
}

}  // namespace r1
