// HostStagedCommunicator: device buffers over a host Communicator (e.g. GlooCommunicator).
//
// Each collective copies device buffers to pinned host buffers (cudaMemcpyAsync on the
// communicator's own stream, then a bounded wait), runs the inner communicator's collective on the
// host copies and copies the results back to the device. Host buffers pass straight through.
//
// Why it exists: it runs every line of the device-side expert-parallel exchange (planning on the
// device, device buffers in and out, counts, dispatch, combine) with several CUDA worker processes
// or threads sharing one GPU — device → host → Gloo → host → device — so all of it but NCCL's
// transport is tested on a single-GPU machine, where NCCL cannot put two ranks on one device. It
// is also a fallback transport where NCCL is unavailable.
//
// Contract (communicator.h): timeouts bound the whole call (staging copies included; the inner
// collective gets what is left), health() and Abort() are the inner communicator's, plus a sticky
// error of its own when a staging copy fails or times out (it then aborts the inner communicator,
// so peers fail fast). Buffers may be device memory of the device current at Create (or managed
// memory) or host memory; device memory of another device is InvalidArgument. Like
// NcclCommunicator, calls are synchronous with respect to the host and not ordered after the
// caller's streams: the caller's kernels producing the send data must have finished before the
// call.
//
// Ownership and thread-safety: owns the inner communicator, one CUDA stream and grow-only pinned
// staging buffers. Collectives are serialised by an internal mutex; Abort() and health() may be
// called from any thread.
#ifndef R1_WORKER_COMM_HOST_STAGED_COMMUNICATOR_H_
#define R1_WORKER_COMM_HOST_STAGED_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/comm/communicator.h"

struct CUstream_st;

namespace r1 {

class HostStagedCommunicator final : public Communicator {
 public:
  // Wraps `inner` (owned; must be non-null), staging through the CUDA device current on the
  // calling thread.
  static absl::StatusOr<std::unique_ptr<HostStagedCommunicator>> Create(
      std::unique_ptr<Communicator> inner);
  ~HostStagedCommunicator() override;

  HostStagedCommunicator(const HostStagedCommunicator&) = delete;
  HostStagedCommunicator& operator=(const HostStagedCommunicator&) = delete;

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  int device() const { return device_; }
  absl::Status health() const override;
  void Abort() override { inner_->Abort(); }

 protected:
  absl::Status DoAllToAllV(const char* send, const std::vector<int64_t>& send_bytes, char* recv,
                           const std::vector<int64_t>& recv_bytes, absl::Duration timeout) override;
  absl::Status DoAllGather(const char* send, int64_t bytes, char* recv,
                           absl::Duration timeout) override;
  absl::Status DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                           absl::Duration timeout) override;
  absl::Status DoBarrier(absl::Duration timeout) override;

 private:
  // Pinned host memory that only grows.
  struct PinnedBuffer {
    char* ptr = nullptr;
    size_t bytes = 0;
  };

  HostStagedCommunicator(std::unique_ptr<Communicator> inner, int device, CUstream_st* stream);

  // One staged buffer of a call: where the inner collective reads or writes it.
  struct Staged {
    char* host = nullptr;  // host memory the inner communicator uses
    bool device = false;   // whether the caller's buffer is device memory
  };
  absl::StatusOr<Staged> Prepare(const void* buffer, int64_t bytes, PinnedBuffer* stage,
                                 absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Device → host (in) or host → device (out) on stream_, then waits until `deadline`.
  absl::Status Copy(void* dst, const void* src, int64_t bytes, absl::Time deadline,
                    absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The inner collective's timeout: what is left of the call's; DeadlineExceeded (sticky) if none.
  absl::StatusOr<absl::Duration> Remaining(absl::Time deadline, absl::string_view what);
  // Records the first staging error and aborts the inner communicator.
  absl::Status Fail(absl::Status st);
  absl::Status Reserve(PinnedBuffer* buffer, size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<Communicator> inner_;
  const int device_;
  CUstream_st* const stream_;

  absl::Mutex mu_;  // one collective at a time (the staging buffers)
  PinnedBuffer send_stage_ ABSL_GUARDED_BY(mu_);
  PinnedBuffer recv_stage_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex state_mu_;
  absl::Status error_ ABSL_GUARDED_BY(state_mu_);  // first staging error
};

}  // namespace r1

#endif  // R1_WORKER_COMM_HOST_STAGED_COMMUNICATOR_H_
