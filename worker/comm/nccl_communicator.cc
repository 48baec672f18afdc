#include "worker/comm/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "worker/comm/internal/cuda_util.h"

namespace r1 {
namespace {

using comm_internal::BufferKind;
using comm_internal::ClassifyBuffer;
using comm_internal::CudaStatus;
using comm_internal::Poller;
using comm_internal::ScopedDevice;

// The text of an NCCL error: the code's string and, when there is one, ncclGetLastError's
// message. System and remote errors (a peer or its connection gone) are Unavailable.
absl::Status NcclStatus(ncclResult_t result, ncclComm_t comm, absl::string_view where) {
  std::string text = absl::StrCat(where, ": ", ncclGetErrorString(result));
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && last[0] != '\0') absl::StrAppend(&text, " (", last, ")");
  if (result == ncclSystemError || result == ncclRemoteError) {
    return absl::UnavailableError(text);
  }
  return absl::InternalError(text);
}

// Polls the communicator until it leaves ncclInProgress (initialisation or finalisation).
// Returns the final state, or ncclInProgress when the deadline passed.
ncclResult_t PollCommState(ncclComm_t comm, absl::Time deadline) {
  Poller poller(deadline, absl::Milliseconds(1));
  while (true) {
    ncclResult_t state = ncclInProgress;
    const ncclResult_t r = ncclCommGetAsyncError(comm, &state);
    if (r != ncclSuccess) return r;
    if (state != ncclInProgress) return state;
    if (!poller.Next()) return ncclInProgress;
  }
}

constexpr absl::string_view kUidKey = "nccl/uid";

}  // namespace

int NcclCommunicator::LoadedNcclVersion() {
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess) return 0;
  return version;
}

std::string NcclCommunicator::VersionString(int version) {
  // Since 2.9: major * 10000 + minor * 100 + patch.
  return absl::StrCat(version / 10000, ".", (version / 100) % 100, ".", version % 100);
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    KeyValueStore* store, const std::string& prefix, int rank, int size,
    NcclCommunicatorOptions options) {
  if (size < 1 || rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrCat("nccl: rank ", rank, " of a group of ", size));
  }
  if (store == nullptr) return absl::InvalidArgumentError("nccl: no rendezvous store");
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("nccl: connect timeout must be positive");
  }
  const absl::Time deadline = absl::Now() + options.connect_timeout;
  const std::string where =
      absl::StrCat("nccl bootstrap (rank ", rank, " of ", size, ", prefix '", prefix, "')");
  int device = -1;
  if (absl::Status st = CudaStatus(cudaGetDevice(&device), where); !st.ok()) return st;

  // The unique id: rank 0 makes it, everyone else waits for it.
  ncclUniqueId id;
  const std::string key = absl::StrCat(prefix, kUidKey);
  if (rank == 0) {
    if (ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
      return NcclStatus(r, nullptr, absl::StrCat(where, ": ncclGetUniqueId"));
    }
    if (absl::Status st = store->Set(key, std::string(id.internal, sizeof(id.internal)));
        !st.ok()) {
      return absl::Status(st.code(),
                          absl::StrCat(where, ": publishing the unique id: ", st.message()));
    }
  } else {
    if (absl::Status st = store->Wait({key}, options.connect_timeout); !st.ok()) {
      return absl::Status(st.code(),
                          absl::StrCat(where, ": waiting for rank 0's unique id: ", st.message()));
    }
    absl::StatusOr<std::string> value = store->Get(key);
    if (!value.ok()) return value.status();
    if (value->size() != sizeof(id.internal)) {
      return absl::InternalError(absl::StrCat(where, ": unique id of ", value->size(),
                                              " bytes, expected ", sizeof(id.internal)));
    }
    std::memcpy(id.internal, value->data(), sizeof(id.internal));
  }

  // A non-blocking communicator: initialisation runs in the background; poll it.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ncclResult_t r = ncclCommInitRankConfig(&comm, size, id, rank, &config);
  if (r == ncclSuccess || r == ncclInProgress) r = PollCommState(comm, deadline);
  if (r != ncclSuccess) {
    absl::Status st =
        r == ncclInProgress
            ? absl::DeadlineExceededError(
                  absl::StrCat(where, ": NCCL initialisation did not finish within ",
                               absl::FormatDuration(options.connect_timeout), " (a rank missing?)"))
            : NcclStatus(r, comm, absl::StrCat(where, ": ncclCommInitRankConfig"));
    if (comm != nullptr) (void)ncclCommAbort(comm);
    return st;
  }

  cudaStream_t stream = nullptr;
  void* scratch = nullptr;
  absl::Status st = CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), where);
  if (st.ok()) st = CudaStatus(cudaMallocAsync(&scratch, sizeof(int64_t), stream), where);
  if (st.ok()) st = CudaStatus(cudaMemsetAsync(scratch, 0, sizeof(int64_t), stream), where);
  if (st.ok()) st = CudaStatus(cudaStreamSynchronize(stream), where);
  if (!st.ok()) {
    (void)ncclCommAbort(comm);
    if (scratch != nullptr) (void)cudaFreeAsync(scratch, stream);
    if (stream != nullptr) (void)cudaStreamDestroy(stream);
    return st;
  }
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(rank, size, device, comm, stream, scratch, options));
}

NcclCommunicator::NcclCommunicator(int rank, int size, int device, ncclComm* comm,
                                   CUstream_st* stream, void* scratch,
                                   NcclCommunicatorOptions options)
    : rank_(rank),
      size_(size),
      device_(device),
      options_(options),
      stream_(stream),
      comm_(comm),
      scratch_(scratch) {}

NcclCommunicator::~NcclCommunicator() {
  absl::MutexLock lock(&call_mu_);
  ScopedDevice device(device_);
  if (comm_ != nullptr) {
    ncclResult_t state = ncclInProgress;
    const bool healthy = !abort_requested_.load() && health().ok() &&
                         ncclCommGetAsyncError(comm_, &state) == ncclSuccess &&
                         state == ncclSuccess;
    bool destroyed = false;
    if (healthy) {
      // Finalise (flushes outstanding work, non-blocking here), then destroy; abort if that does
      // not finish in time.
      ncclResult_t r = ncclCommFinalize(comm_);
      if (r == ncclSuccess || r == ncclInProgress) {
        r = PollCommState(comm_, absl::Now() + options_.finalize_timeout);
      }
      if (r == ncclSuccess) destroyed = ncclCommDestroy(comm_) == ncclSuccess;
    }
    if (!destroyed) (void)ncclCommAbort(comm_);
    comm_ = nullptr;
  }
  // Stream-ordered frees: nothing here waits for the device.
  for (void* p : {send_stage_.ptr, recv_stage_.ptr, scratch_}) {
    if (p != nullptr) (void)cudaFreeAsync(p, stream_);
  }
  (void)cudaStreamDestroy(stream_);
}

absl::Status NcclCommunicator::health() const {
  absl::MutexLock lock(&state_mu_);
  return health_;
}

std::string NcclCommunicator::Describe() const {
  return absl::StrCat("NCCL ", VersionString(LoadedNcclVersion()), ", rank ", rank_, " of ", size_,
                      ", device ", device_);
}

std::string NcclCommunicator::Where(absl::string_view what) const {
  return absl::StrCat("nccl ", what, " (rank ", rank_, " of ", size_, ")");
}

void NcclCommunicator::Abort() {
  abort_requested_.store(true);
  {
    absl::MutexLock lock(&state_mu_);
    if (health_.ok()) health_ = absl::AbortedError("communicator aborted");
  }
  // Free the NCCL communicator now unless a call is using it; that call sees the flag in its poll
  // loop (or right after it) and aborts it itself.
  if (call_mu_.TryLock()) {
    AbortCommLocked();
    call_mu_.Unlock();
  }
}

void NcclCommunicator::AbortCommLocked() {
  if (comm_ == nullptr) return;
  ScopedDevice device(device_);
  (void)ncclCommAbort(comm_);
  comm_ = nullptr;
}

absl::Status NcclCommunicator::Fail(absl::Status st) {
  {
    absl::MutexLock lock(&state_mu_);
    if (abort_requested_.load()) {
      st = absl::AbortedError(absl::StrCat("communicator aborted (", st.message(), ")"));
    }
    if (health_.ok()) health_ = st;
  }
  AbortCommLocked();
  return st;
}

absl::Status NcclCommunicator::CheckNccl(int result, absl::string_view what) {
  const auto r = static_cast<ncclResult_t>(result);
  if (r == ncclSuccess || r == ncclInProgress) return absl::OkStatus();
  return Fail(NcclStatus(r, comm_, Where(what)));
}

template <typename Body>
absl::Status NcclCommunicator::Run(Body&& body) {
  absl::Status st;
  {
    absl::MutexLock lock(&call_mu_);
    if (abort_requested_.load()) AbortCommLocked();
    st = health();
    if (st.ok() && comm_ == nullptr) st = absl::InternalError("nccl: no communicator");
    if (st.ok()) {
      ScopedDevice device(device_);
      st = body();
    }
    if (abort_requested_.load()) AbortCommLocked();
  }
  // An Abort() that came after the check above but found call_mu_ taken.
  if (abort_requested_.load() && call_mu_.TryLock()) {
    AbortCommLocked();
    call_mu_.Unlock();
  }
  return st;
}

absl::Status NcclCommunicator::WaitDone(absl::Time deadline, absl::string_view what) {
  Poller poller(deadline);
  // First until NCCL has enqueued everything (a non-blocking communicator may still be in
  // progress after ncclGroupEnd), then until the stream has run it.
  bool enqueued = false;
  while (true) {
    ncclResult_t state = ncclInProgress;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
    if (r != ncclSuccess) return Fail(NcclStatus(r, comm_, Where(what)));
    if (state != ncclSuccess && state != ncclInProgress) {
      return Fail(NcclStatus(state, comm_, Where(what)));
    }
    if (state == ncclSuccess) enqueued = true;
    if (enqueued) {
      const cudaError_t err = cudaStreamQuery(stream_);
      if (err == cudaSuccess) return absl::OkStatus();
      if (err != cudaErrorNotReady) return Fail(CudaStatus(err, Where(what)));
    }
    if (abort_requested_.load()) {
      return Fail(absl::AbortedError(absl::StrCat(Where(what), ": aborted")));
    }
    if (!poller.Next()) {
      return Fail(absl::DeadlineExceededError(absl::StrCat(Where(what), ": timed out",
                                                           enqueued ? "" : " while enqueueing",
                                                           " (a peer missing, slow or gone?)")));
    }
  }
}

absl::Status NcclCommunicator::WaitCopies(absl::Time deadline, absl::string_view what) {
  absl::Status st = comm_internal::WaitForStream(stream_, deadline, &abort_requested_, Where(what));
  return st.ok() ? st : Fail(std::move(st));
}

absl::Status NcclCommunicator::Reserve(DeviceBuffer* buffer, size_t bytes) {
  if (bytes <= buffer->bytes) return absl::OkStatus();
  const size_t want = std::max(bytes, 2 * buffer->bytes);
  if (buffer->ptr != nullptr) {
    (void)cudaFreeAsync(buffer->ptr, stream_);
    buffer->ptr = nullptr;
    buffer->bytes = 0;
  }
  if (absl::Status st =
          CudaStatus(cudaMallocAsync(&buffer->ptr, want, stream_), Where("staging buffer"));
      !st.ok()) {
    buffer->ptr = nullptr;
    return Fail(std::move(st));
  }
  buffer->bytes = want;
  return absl::OkStatus();
}

absl::Status NcclCommunicator::CopyAsync(void* dst, const void* src, size_t bytes,
                                         absl::string_view what) {
  if (bytes == 0) return absl::OkStatus();
  absl::Status st =
      CudaStatus(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream_), Where(what));
  return st.ok() ? st : Fail(std::move(st));
}

absl::Status NcclCommunicator::DoAllToAllV(const char* send, const std::vector<int64_t>& send_bytes,
                                           char* recv, const std::vector<int64_t>& recv_bytes,
                                           absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  if (send_bytes[rank_] != recv_bytes[rank_]) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllToAllV: rank ", rank_, " sends ", send_bytes[rank_],
                     " bytes to itself but expects ", recv_bytes[rank_]));
  }
  std::vector<int64_t> send_off(size_ + 1, 0), recv_off(size_ + 1, 0);
  for (int p = 0; p < size_; ++p) {
    send_off[p + 1] = send_off[p] + send_bytes[p];
    recv_off[p + 1] = recv_off[p] + recv_bytes[p];
  }
  const int64_t send_total = send_off[size_];
  const int64_t recv_total = recv_off[size_];
  absl::StatusOr<BufferKind> send_kind =
      ClassifyBuffer(send, send_total, device_, "AllToAllV send");
  if (!send_kind.ok()) return send_kind.status();
  absl::StatusOr<BufferKind> recv_kind =
      ClassifyBuffer(recv, recv_total, device_, "AllToAllV recv");
  if (!recv_kind.ok()) return recv_kind.status();

  return Run([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_) -> absl::Status {
    const char* dsend = send;
    char* drecv = recv;
    if (*send_kind == BufferKind::kHost && send_total > 0) {
      if (absl::Status st = Reserve(&send_stage_, send_total); !st.ok()) return st;
      if (absl::Status st = CopyAsync(send_stage_.ptr, send, send_total, "alltoallv stage-in");
          !st.ok()) {
        return st;
      }
      dsend = static_cast<const char*>(send_stage_.ptr);
    }
    if (*recv_kind == BufferKind::kHost && recv_total > 0) {
      if (absl::Status st = Reserve(&recv_stage_, recv_total); !st.ok()) return st;
      drecv = static_cast<char*>(recv_stage_.ptr);
    }
    // The block for this rank itself: a device copy, ordered before the exchange on stream_.
    if (absl::Status st = CopyAsync(drecv + recv_off[rank_], dsend + send_off[rank_],
                                    send_bytes[rank_], "alltoallv self copy");
        !st.ok()) {
      return st;
    }
    bool any = false;
    for (int p = 0; p < size_; ++p) {
      if (p != rank_ && (send_bytes[p] > 0 || recv_bytes[p] > 0)) any = true;
    }
    if (any) {
      if (absl::Status st = EnqueueAllToAllV(dsend, send_off, send_bytes, drecv, recv_off,
                                             recv_bytes, stream_, deadline);
          !st.ok()) {
        return st;
      }
      if (absl::Status st = WaitDone(deadline, "alltoallv"); !st.ok()) return st;
    } else if (send_bytes[rank_] > 0) {
      if (absl::Status st = WaitCopies(deadline, "alltoallv self copy"); !st.ok()) return st;
    }
    if (*recv_kind == BufferKind::kHost && recv_total > 0) {
      if (absl::Status st = CopyAsync(recv, drecv, recv_total, "alltoallv stage-out"); !st.ok()) {
        return st;
      }
      return WaitCopies(deadline, "alltoallv stage-out");
    }
    return absl::OkStatus();
  });
}

absl::Status NcclCommunicator::EnqueueAllToAllV(const char* send,
                                                const std::vector<int64_t>& send_off,
                                                const std::vector<int64_t>& send_bytes, char* recv,
                                                const std::vector<int64_t>& recv_off,
                                                const std::vector<int64_t>& recv_bytes,
                                                CUstream_st* stream, absl::Time deadline) {
  bool any = false;
  for (int p = 0; p < size_; ++p) {
    if (p != rank_ && (send_bytes[p] > 0 || recv_bytes[p] > 0)) any = true;
  }
  if (!any) return absl::OkStatus();
  // Zero-byte peers are skipped; both sides agree on them since the counts match pairwise.
  if (ncclResult_t r = ncclGroupStart(); r != ncclSuccess) {
    return CheckNccl(r, "alltoallv ncclGroupStart");
  }
  ncclResult_t first = ncclSuccess;
  for (int p = 0; p < size_ && first == ncclSuccess; ++p) {
    if (p == rank_) continue;
    if (send_bytes[p] > 0) {
      first = ncclSend(send + send_off[p], static_cast<size_t>(send_bytes[p]), ncclUint8, p, comm_,
                       stream);
      if (first == ncclInProgress) first = ncclSuccess;
    }
    if (recv_bytes[p] > 0 && first == ncclSuccess) {
      first = ncclRecv(recv + recv_off[p], static_cast<size_t>(recv_bytes[p]), ncclUint8, p, comm_,
                       stream);
      if (first == ncclInProgress) first = ncclSuccess;
    }
  }
  // Always close the group (its depth is per thread), even after a failed send or recv.
  const ncclResult_t end = ncclGroupEnd();
  if (absl::Status st = CheckNccl(first, "alltoallv ncclSend/ncclRecv"); !st.ok()) return st;
  if (absl::Status st = CheckNccl(end, "alltoallv ncclGroupEnd"); !st.ok()) return st;
  return WaitEnqueued(deadline, "alltoallv");
}

absl::Status NcclCommunicator::WaitEnqueued(absl::Time deadline, absl::string_view what) {
  Poller poller(deadline);
  while (true) {
    ncclResult_t state = ncclInProgress;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
    if (r != ncclSuccess) return Fail(NcclStatus(r, comm_, Where(what)));
    if (state == ncclSuccess) return absl::OkStatus();
    if (state != ncclInProgress) return Fail(NcclStatus(state, comm_, Where(what)));
    if (abort_requested_.load()) {
      return Fail(absl::AbortedError(absl::StrCat(Where(what), ": aborted")));
    }
    if (!poller.Next()) {
      return Fail(absl::DeadlineExceededError(absl::StrCat(
          Where(what), ": timed out while enqueueing (a peer missing, slow or gone?)")));
    }
  }
}

absl::Status NcclCommunicator::DoAllToAllVOnStream(const char* send,
                                                   const std::vector<int64_t>& send_bytes,
                                                   char* recv,
                                                   const std::vector<int64_t>& recv_bytes,
                                                   void* stream_ptr, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  auto* stream = static_cast<CUstream_st*>(stream_ptr);
  if (send_bytes[rank_] != recv_bytes[rank_]) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllToAllVOnStream: rank ", rank_, " sends ", send_bytes[rank_],
                     " bytes to itself but expects ", recv_bytes[rank_]));
  }
  std::vector<int64_t> send_off(size_ + 1, 0), recv_off(size_ + 1, 0);
  for (int p = 0; p < size_; ++p) {
    send_off[p + 1] = send_off[p] + send_bytes[p];
    recv_off[p + 1] = recv_off[p] + recv_bytes[p];
  }
  // Host buffers would need staging, which cannot be ordered on the caller's stream without
  // tying the host to it: device (or managed) memory of this device only.
  for (auto [ptr, bytes, what] :
       {std::tuple<const void*, int64_t, const char*>{send, send_off[size_], "send"},
        std::tuple<const void*, int64_t, const char*>{recv, recv_off[size_], "recv"}}) {
    absl::StatusOr<BufferKind> kind = ClassifyBuffer(ptr, bytes, device_, "AllToAllVOnStream");
    if (!kind.ok()) return kind.status();
    if (*kind == BufferKind::kHost && bytes > 0) {
      return absl::InvalidArgumentError(absl::StrCat("AllToAllVOnStream: the ", what,
                                                     " buffer is host memory; it takes device "
                                                     "buffers (use AllToAllV for host memory)"));
    }
  }
  return Run([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_) -> absl::Status {
    if (send_bytes[rank_] > 0) {
      absl::Status st = CudaStatus(
          cudaMemcpyAsync(recv + recv_off[rank_], send + send_off[rank_],
                          static_cast<size_t>(send_bytes[rank_]), cudaMemcpyDefault, stream),
          Where("alltoallv self copy"));
      if (!st.ok()) return Fail(std::move(st));
    }
    return EnqueueAllToAllV(send, send_off, send_bytes, recv, recv_off, recv_bytes, stream,
                            deadline);
  });
}

absl::Status NcclCommunicator::DoAllGather(const char* send, int64_t bytes, char* recv,
                                           absl::Duration timeout) {
  if (bytes == 0) return DoBarrier(timeout);  // still a collective: peers must be alive
  const absl::Time deadline = absl::Now() + timeout;
  const int64_t recv_total = bytes * size_;
  absl::StatusOr<BufferKind> send_kind = ClassifyBuffer(send, bytes, device_, "AllGather send");
  if (!send_kind.ok()) return send_kind.status();
  absl::StatusOr<BufferKind> recv_kind =
      ClassifyBuffer(recv, recv_total, device_, "AllGather recv");
  if (!recv_kind.ok()) return recv_kind.status();

  return Run([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_) -> absl::Status {
    const char* dsend = send;
    char* drecv = recv;
    if (*send_kind == BufferKind::kHost) {
      if (absl::Status st = Reserve(&send_stage_, bytes); !st.ok()) return st;
      if (absl::Status st = CopyAsync(send_stage_.ptr, send, bytes, "allgather stage-in");
          !st.ok()) {
        return st;
      }
      dsend = static_cast<const char*>(send_stage_.ptr);
    }
    if (*recv_kind == BufferKind::kHost) {
      if (absl::Status st = Reserve(&recv_stage_, recv_total); !st.ok()) return st;
      drecv = static_cast<char*>(recv_stage_.ptr);
    }
    if (absl::Status st = CheckNccl(
            ncclAllGather(dsend, drecv, static_cast<size_t>(bytes), ncclUint8, comm_, stream_),
            "ncclAllGather");
        !st.ok()) {
      return st;
    }
    if (absl::Status st = WaitDone(deadline, "allgather"); !st.ok()) return st;
    if (*recv_kind == BufferKind::kHost) {
      if (absl::Status st = CopyAsync(recv, drecv, recv_total, "allgather stage-out"); !st.ok()) {
        return st;
      }
      return WaitCopies(deadline, "allgather stage-out");
    }
    return absl::OkStatus();
  });
}

absl::Status NcclCommunicator::NcclAllReduce(void* data, int64_t n, int nccl_type, int nccl_op,
                                             absl::Time deadline, absl::string_view what) {
  if (absl::Status st = CheckNccl(
          ncclAllReduce(data, data, static_cast<size_t>(n), static_cast<ncclDataType_t>(nccl_type),
                        static_cast<ncclRedOp_t>(nccl_op), comm_, stream_),
          absl::StrCat("ncclAllReduce (", what, ")"));
      !st.ok()) {
    return st;
  }
  return WaitDone(deadline, what);
}

absl::Status NcclCommunicator::DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                                           absl::Duration timeout) {
  if (n == 0) return DoBarrier(timeout);
  const absl::Time deadline = absl::Now() + timeout;
  const size_t bytes =
      static_cast<size_t>(n) * (type == DataType::kInt64 ? sizeof(int64_t) : sizeof(float));
  const ncclDataType_t nccl_type = type == DataType::kInt64 ? ncclInt64 : ncclFloat32;
  const ncclRedOp_t nccl_op = op == ReduceOp::kSum ? ncclSum : ncclMax;
  absl::StatusOr<BufferKind> kind = ClassifyBuffer(data, bytes, device_, "AllReduce data");
  if (!kind.ok()) return kind.status();

  return Run([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_) -> absl::Status {
    if (*kind == BufferKind::kDevice) {
      return NcclAllReduce(data, n, nccl_type, nccl_op, deadline, "allreduce");
    }
    if (absl::Status st = Reserve(&send_stage_, bytes); !st.ok()) return st;
    if (absl::Status st = CopyAsync(send_stage_.ptr, data, bytes, "allreduce stage-in"); !st.ok()) {
      return st;
    }
    if (absl::Status st =
            NcclAllReduce(send_stage_.ptr, n, nccl_type, nccl_op, deadline, "allreduce");
        !st.ok()) {
      return st;
    }
    if (absl::Status st = CopyAsync(data, send_stage_.ptr, bytes, "allreduce stage-out");
        !st.ok()) {
      return st;
    }
    return WaitCopies(deadline, "allreduce stage-out");
  });
}

absl::Status NcclCommunicator::DoBarrier(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  return Run([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_) -> absl::Status {
    return NcclAllReduce(scratch_, 1, ncclInt32, ncclSum, deadline, "barrier");
  });
}

}  // namespace r1
