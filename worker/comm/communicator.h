// Communicator: the collectives that the ranks of one engine group use for expert-parallel MoE
// (DESIGN.md §3, §6): AllToAllV with per-peer counts, AllGather, AllReduce (sum, max over int64 and
// float32), Barrier and Abort.
//
// Every collective is called by every rank of the group in the same order with matching
// arguments (lockstep); every call carries a timeout and returns instead of hanging when a peer is
// slow or gone: DeadlineExceeded when the timeout passed, Unavailable when a peer's connection
// broke, Aborted after Abort(). The first such error is sticky: the communicator is unusable
// afterwards (health() returns it and every later call fails at once) and the group has to be
// rebuilt. Argument errors (InvalidArgument) are found before anything is sent and are not sticky.
//
// Thread-safety: collectives on one communicator are serialised by the implementation (a caller
// runs one at a time); Abort() and health() may be called from any thread at any time. The
// communicator must outlive every call into it.
#ifndef R1_WORKER_COMM_COMMUNICATOR_H_
#define R1_WORKER_COMM_COMMUNICATOR_H_

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace r1 {

enum class ReduceOp { kSum, kMax };

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // OK while usable; afterwards the first communication error, or Aborted after Abort().
  virtual absl::Status health() const = 0;

  // Marks the communicator aborted (every later call fails with Aborted) and drops its
  // connections, so that peers blocked in a collective with this rank fail promptly instead of
  // waiting for their timeouts. A call in flight on this rank returns by its own timeout at the
  // latest (implementations may wake it sooner). Idempotent; callable from any thread.
  virtual void Abort() = 0;

  // All-to-all with per-peer counts (in elements of T). `send` holds size() consecutive blocks in
  // rank order; block p (send_counts[p] elements) goes to rank p. `recv` receives rank p's block
  // for this rank (recv_counts[p] elements) at offset Σ_{q<p} recv_counts[q]. Both count vectors
  // have size() entries ≥ 0 summing to the span's length; recv_counts[p] must equal rank p's
  // send_counts[rank()] (a mismatch fails or times out). Zero counts and empty spans are fine.
  template <typename T>
  absl::Status AllToAllV(absl::Span<const T> send, absl::Span<const int64_t> send_counts,
                         absl::Span<T> recv, absl::Span<const int64_t> recv_counts,
                         absl::Duration timeout);

  // Whether AllToAllVOnStream is available: the transport orders its transfers on a CUDA stream
  // (NCCL). False for host transports (Gloo, host-staged, local); callers then synchronise their
  // stream and call AllToAllV.
  virtual bool stream_ordered() const { return false; }

  // The stream-ordered AllToAllV of device buffers, where stream_ordered(): the transfer is
  // enqueued on `stream` (a cudaStream_t of the communicator's device, as void*) after the work
  // already there, and the call returns once it is enqueued — the data moves when the stream gets
  // there, so work enqueued afterwards on `stream` sees it. The caller keeps both buffers alive
  // and unchanged (send) or unread (recv) except through `stream` until then. Counts as in
  // AllToAllV. `timeout` bounds only the enqueueing; a peer that never joins shows as a stream
  // that does not drain, so the caller bounds its own waits on `stream` and calls Abort() when
  // one expires. Unimplemented where !stream_ordered().
  template <typename T>
  absl::Status AllToAllVOnStream(absl::Span<const T> send, absl::Span<const int64_t> send_counts,
                                 absl::Span<T> recv, absl::Span<const int64_t> recv_counts,
                                 void* stream, absl::Duration timeout);

  // Every rank contributes `send`; recv (size() * send.size() elements) gets rank p's at
  // p * send.size(). Every rank passes the same send.size().
  template <typename T>
  absl::Status AllGather(absl::Span<const T> send, absl::Span<T> recv, absl::Duration timeout);

  // In place, element-wise over every rank's `data` (same length on every rank).
  absl::Status AllReduce(absl::Span<int64_t> data, ReduceOp op, absl::Duration timeout);
  absl::Status AllReduce(absl::Span<float> data, ReduceOp op, absl::Duration timeout);

  // Returns once every rank has entered the barrier.
  absl::Status Barrier(absl::Duration timeout);

 protected:
  enum class DataType { kInt64, kFloat32 };

  // The implementations; arguments are already checked (counts have size() entries ≥ 0 and
  // describe the buffers exactly; timeout > 0). Byte pointers may be null when their total is 0.
  virtual absl::Status DoAllToAllV(const char* send, const std::vector<int64_t>& send_bytes,
                                   char* recv, const std::vector<int64_t>& recv_bytes,
                                   absl::Duration timeout) = 0;
  virtual absl::Status DoAllToAllVOnStream(const char* send, const std::vector<int64_t>& send_bytes,
                                           char* recv, const std::vector<int64_t>& recv_bytes,
                                           void* stream, absl::Duration timeout);
  virtual absl::Status DoAllGather(const char* send, int64_t bytes, char* recv,
                                   absl::Duration timeout) = 0;
  virtual absl::Status DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                                   absl::Duration timeout) = 0;
  virtual absl::Status DoBarrier(absl::Duration timeout) = 0;

 private:
  // Checks `counts` against size() and a span of `length` elements; fills `bytes`.
  absl::Status CountsToBytes(absl::Span<const int64_t> counts, size_t length, size_t element_size,
                             const char* what, std::vector<int64_t>* bytes) const;
  static absl::Status CheckTimeout(absl::Duration timeout);
  // The checks both AllToAllV forms share: the timeout, and each side's counts against its span
  // (`send_length` / `recv_length` elements of `element_size` bytes), converted to bytes.
  absl::Status AllToAllVBytes(absl::Span<const int64_t> send_counts, size_t send_length,
                              absl::Span<const int64_t> recv_counts, size_t recv_length,
                              size_t element_size, absl::Duration timeout,
                              std::vector<int64_t>* send_bytes,
                              std::vector<int64_t>* recv_bytes) const;
};

template <typename T>
absl::Status Communicator::AllToAllV(absl::Span<const T> send,
                                     absl::Span<const int64_t> send_counts, absl::Span<T> recv,
                                     absl::Span<const int64_t> recv_counts,
                                     absl::Duration timeout) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::vector<int64_t> send_bytes, recv_bytes;
  if (absl::Status st = AllToAllVBytes(send_counts, send.size(), recv_counts, recv.size(),
                                       sizeof(T), timeout, &send_bytes, &recv_bytes);
      !st.ok()) {
    return st;
  }
  return DoAllToAllV(reinterpret_cast<const char*>(send.data()), send_bytes,
                     reinterpret_cast<char*>(recv.data()), recv_bytes, timeout);
}

template <typename T>
absl::Status Communicator::AllToAllVOnStream(absl::Span<const T> send,
                                             absl::Span<const int64_t> send_counts,
                                             absl::Span<T> recv,
                                             absl::Span<const int64_t> recv_counts, void* stream,
                                             absl::Duration timeout) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::vector<int64_t> send_bytes, recv_bytes;
  if (absl::Status st = AllToAllVBytes(send_counts, send.size(), recv_counts, recv.size(),
                                       sizeof(T), timeout, &send_bytes, &recv_bytes);
      !st.ok()) {
    return st;
  }
  return DoAllToAllVOnStream(reinterpret_cast<const char*>(send.data()), send_bytes,
                             reinterpret_cast<char*>(recv.data()), recv_bytes, stream, timeout);
}

template <typename T>
absl::Status Communicator::AllGather(absl::Span<const T> send, absl::Span<T> recv,
                                     absl::Duration timeout) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (absl::Status st = CheckTimeout(timeout); !st.ok()) return st;
  if (recv.size() != send.size() * static_cast<size_t>(size())) {
    return absl::InvalidArgumentError("AllGather: recv must hold size() * send.size() elements");
  }
  return DoAllGather(reinterpret_cast<const char*>(send.data()),
                     static_cast<int64_t>(send.size() * sizeof(T)),
                     reinterpret_cast<char*>(recv.data()), timeout);
}

// The communicator of a group of one (a single worker holding every expert): collectives are
// local copies. Thread-safe.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  absl::Status health() const override;
  void Abort() override { aborted_.store(true); }

 protected:
  absl::Status DoAllToAllV(const char* send, const std::vector<int64_t>& send_bytes, char* recv,
                           const std::vector<int64_t>& recv_bytes, absl::Duration timeout) override;
  absl::Status DoAllGather(const char* send, int64_t bytes, char* recv,
                           absl::Duration timeout) override;
  absl::Status DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                           absl::Duration timeout) override;
  absl::Status DoBarrier(absl::Duration timeout) override { return health(); }

 private:
  std::atomic<bool> aborted_{false};
};

}  // namespace r1

#endif  // R1_WORKER_COMM_COMMUNICATOR_H_
