// NcclCommunicator: a Communicator over NCCL for the CUDA backend (DESIGN.md §3, §6).
//
// Bootstrap: Create() runs on each rank with the CUDA device that rank uses made current. Rank 0
// calls ncclGetUniqueId and publishes the id in a KeyValueStore under `<prefix>nccl/uid`; the
// other ranks wait for it. Every rank then initialises a non-blocking NCCL communicator
// (ncclCommInitRankConfig with config.blocking = 0) and polls it until it is ready; the whole
// bootstrap is bounded by `connect_timeout` (DeadlineExceeded, after ncclCommAbort).
//
// Buffers: every buffer passed to a collective may be device memory of the communicator's device
// (or managed memory), used in place, or host memory (pageable or pinned), which is staged
// through device buffers owned by the communicator (grow-only; stream-ordered allocations, so
// growing never synchronises the device). Device memory of another device is InvalidArgument.
//
// Completion: calls are synchronous with respect to the host. A call enqueues its NCCL work on the
// communicator's own non-blocking stream, then polls the stream (cudaStreamQuery) and the
// communicator (ncclCommGetAsyncError) — yielding for a short while, then sleeping briefly —
// until the work is done, the timeout passes (ncclCommAbort, DeadlineExceeded) or Abort() is
// called (ncclCommAbort, Aborted). The call returns only once the received data is in place. The
// caller must make sure the kernels that produce the send data have finished before the call
// (e.g. by synchronising its own stream), since the communicator's stream is not ordered after
// the caller's. The exception is AllToAllVOnStream (communicator.h; device buffers only): it
// enqueues on the caller's stream and returns once NCCL has enqueued the transfer, so the caller
// needs no synchronisation before or after it; the caller bounds its own waits on that stream.
//
// Errors: NCCL's system and remote errors become Unavailable, other NCCL errors Internal, CUDA
// errors Internal; the text carries ncclGetErrorString and ncclGetLastError. Every such error,
// timeouts and Abort() are sticky (see communicator.h) and abort the NCCL communicator, which
// frees it; the group has to be rebuilt under a new prefix. Peers blocked in a collective with an
// aborted rank are not woken by NCCL over every transport (NVLink/P2P and shared memory have no
// notion of a dead peer): they fail at their own timeouts.
//
// Ownership and thread-safety: owns the NCCL communicator, its stream and its staging buffers.
// Collectives are serialised by an internal mutex that is held for the whole call (the NCCL
// communicator is never used from two threads at once). Abort() and health() may be called from
// any thread: Abort() aborts the NCCL communicator at once when no call is in flight, otherwise
// the call in flight sees the request in its poll loop, aborts and returns Aborted. The
// destructor must not run concurrently with a call; it aborts the communicator when it is in
// error or aborted (never ncclCommDestroy with a possibly dead peer), otherwise finalises it
// (bounded by `finalize_timeout`, falling back to abort) and destroys it.
//
// NCCL versions: built against the 2.28 headers and only their API; links libnccl.so.2
// dynamically, so the NCCL found at run time (LD_LIBRARY_PATH) is used; LoadedNcclVersion() and
// Describe() report it.
#ifndef R1_WORKER_COMM_NCCL_COMMUNICATOR_H_
#define R1_WORKER_COMM_NCCL_COMMUNICATOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/comm/communicator.h"
#include "worker/comm/key_value_store.h"

// Opaque handles of nccl.h and cuda_runtime_api.h, so that this header needs neither.
struct ncclComm;
struct CUstream_st;

namespace r1 {

struct NcclCommunicatorOptions {
  // Bounds the whole bootstrap: waiting for rank 0's unique id and initialising NCCL.
  absl::Duration connect_timeout = absl::Seconds(60);
  // Bounds ncclCommFinalize in the destructor of a healthy communicator; past it, abort.
  absl::Duration finalize_timeout = absl::Seconds(10);
};

class NcclCommunicator final : public Communicator {
 public:
  // Rank `rank` of a group of `size`, on the CUDA device current on the calling thread. `store`
  // (borrowed) is only used during Create. `prefix` is the group's rendezvous key prefix, unique
  // per group formation.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(KeyValueStore* store,
                                                                  const std::string& prefix,
                                                                  int rank, int size,
                                                                  NcclCommunicatorOptions options);
  ~NcclCommunicator() override;

  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const { return device_; }
  absl::Status health() const override;
  void Abort() override;

  // For logs: "NCCL 2.28.9, rank r of n, device d".
  std::string Describe() const;
  // ncclGetVersion of the library loaded at run time (e.g. 22809 for 2.28.9); 0 if unknown.
  static int LoadedNcclVersion();
  // "2.28.9" for 22809.
  static std::string VersionString(int version);

 protected:
  absl::Status DoAllToAllV(const char* send, const std::vector<int64_t>& send_bytes, char* recv,
                           const std::vector<int64_t>& recv_bytes, absl::Duration timeout) override;
  absl::Status DoAllToAllVOnStream(const char* send, const std::vector<int64_t>& send_bytes,
                                   char* recv, const std::vector<int64_t>& recv_bytes, void* stream,
                                   absl::Duration timeout) override;
  absl::Status DoAllGather(const char* send, int64_t bytes, char* recv,
                           absl::Duration timeout) override;
  absl::Status DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                           absl::Duration timeout) override;
  absl::Status DoBarrier(absl::Duration timeout) override;

 public:
  bool stream_ordered() const override { return true; }

 private:
  // A device buffer that only grows (stream-ordered allocation on the communicator's stream).
  struct DeviceBuffer {
    void* ptr = nullptr;
    size_t bytes = 0;
  };

  NcclCommunicator(int rank, int size, int device, ncclComm* comm, CUstream_st* stream,
                   void* scratch, NcclCommunicatorOptions options);

  // Runs one collective: takes call_mu_, checks health, makes the device current, runs `body`
  // and afterwards honours an Abort() that raced with it.
  template <typename Body>
  absl::Status Run(Body&& body);
  // Records the first error (Aborted once Abort() was called) and aborts the NCCL communicator.
  absl::Status Fail(absl::Status st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  // The status of an NCCL call: OK for ncclSuccess and ncclInProgress, else Fail(error).
  absl::Status CheckNccl(int result, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  // Waits until the NCCL work enqueued on stream_ has finished (see the class comment).
  absl::Status WaitDone(absl::Time deadline, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  // Waits until NCCL has enqueued the last group (a non-blocking communicator may still be in
  // ncclInProgress after ncclGroupEnd); does not wait for any stream.
  absl::Status WaitEnqueued(absl::Time deadline, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  // ncclSend/ncclRecv of every non-empty peer block (not this rank's own) as one group on
  // `stream`; returns once enqueued.
  absl::Status EnqueueAllToAllV(const char* send, const std::vector<int64_t>& send_off,
                                const std::vector<int64_t>& send_bytes, char* recv,
                                const std::vector<int64_t>& recv_off,
                                const std::vector<int64_t>& recv_bytes, CUstream_st* stream,
                                absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  // Waits for plain CUDA work (staging copies) on stream_.
  absl::Status WaitCopies(absl::Time deadline, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  absl::Status Reserve(DeviceBuffer* buffer, size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  // Copies `bytes` on stream_ (any direction; enqueued only).
  absl::Status CopyAsync(void* dst, const void* src, size_t bytes, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  // ncclCommAbort (frees the NCCL communicator); idempotent.
  void AbortCommLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  absl::Status NcclAllReduce(void* data, int64_t n, int nccl_type, int nccl_op, absl::Time deadline,
                             absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_mu_);
  std::string Where(absl::string_view what) const;

  const int rank_;
  const int size_;
  const int device_;
  const NcclCommunicatorOptions options_;
  CUstream_st* const stream_;
  std::atomic<bool> abort_requested_{false};

  absl::Mutex call_mu_;  // one collective at a time; also guards the NCCL communicator's lifetime
  ncclComm* comm_ ABSL_GUARDED_BY(call_mu_);  // null once aborted or destroyed
  void* const scratch_;                       // one int on the device, for Barrier
  DeviceBuffer send_stage_ ABSL_GUARDED_BY(call_mu_);
  DeviceBuffer recv_stage_ ABSL_GUARDED_BY(call_mu_);

  mutable absl::Mutex state_mu_;
  absl::Status health_ ABSL_GUARDED_BY(state_mu_);
};

}  // namespace r1

#endif  // R1_WORKER_COMM_NCCL_COMMUNICATOR_H_
