// GlooCommunicator: a Communicator over Gloo's TCP transport (the CPU backend, DESIGN.md §6).
//
// Create() binds a TCP device to `hostname` (loopback by default) or to the interface `iface`,
// publishes this rank's pair addresses in a KeyValueStore under `<prefix>gloo/` and connects a
// full mesh to the other ranks; it fails with DeadlineExceeded when a peer does not show up within
// `connect_timeout`. The first Create() sets SIGPIPE to ignored for the whole process (a closed
// peer must fail a collective with EPIPE, not kill the process). Collectives map onto
// gloo::alltoallv / allgather / allreduce / barrier with a fresh tag per call; Gloo's exceptions
// (gloo::IoException and friends) are caught here and become Status (see communicator.h for the
// codes and the sticky-error rule). On the first error, and on Abort(), every connection is closed
// hard so that peers fail at once instead of at their own timeouts. Limitation of Debian's Gloo
// (2022): a collective already blocked on this rank when Abort() is called from another thread
// cannot be woken; it returns Aborted at its timeout.
//
// Owns its Gloo context and device (one event-loop thread). Collectives are serialised by an
// internal mutex; Abort() and health() are callable from any thread.
#ifndef R1_WORKER_COMM_GLOO_COMMUNICATOR_H_
#define R1_WORKER_COMM_GLOO_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "worker/comm/communicator.h"
#include "worker/comm/key_value_store.h"

namespace gloo {
class Context;
}  // namespace gloo

namespace r1 {

struct GlooOptions {
  int rank = 0;
  int size = 1;
  // Rendezvous key prefix of this group (Assign.rendezvous_prefix); unique per group formation.
  std::string prefix;
  // Address to bind and advertise; ignored when `iface` (a network interface name) is set.
  std::string hostname = "127.0.0.1";
  std::string iface;
  // Bounds the whole bootstrap (waiting for peers' addresses and connecting).
  absl::Duration connect_timeout = absl::Seconds(60);
};

class GlooCommunicator final : public Communicator {
 public:
  // `store` is only used during Create.
  static absl::StatusOr<std::unique_ptr<GlooCommunicator>> Create(const GlooOptions& options,
                                                                  KeyValueStore* store);
  ~GlooCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  absl::Status health() const override;
  void Abort() override;

 protected:
  absl::Status DoAllToAllV(const char* send, const std::vector<int64_t>& send_bytes, char* recv,
                           const std::vector<int64_t>& recv_bytes, absl::Duration timeout) override;
  absl::Status DoAllGather(const char* send, int64_t bytes, char* recv,
                           absl::Duration timeout) override;
  absl::Status DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                           absl::Duration timeout) override;
  absl::Status DoBarrier(absl::Duration timeout) override;

 private:
  GlooCommunicator(int rank, int size, std::shared_ptr<gloo::Context> context);

  // Runs `body(tag)` under call_mu_, converting Gloo's exceptions; records the first error.
  template <typename Body>
  absl::Status Run(absl::string_view what, Body&& body);
  // Records the first error (Aborted once aborted) and closes every connection.
  absl::Status Fail(absl::Status st);
  void CloseConnections();

  const int rank_;
  const int size_;
  const std::shared_ptr<gloo::Context> context_;

  absl::Mutex call_mu_;  // one collective at a time
  uint32_t next_tag_ ABSL_GUARDED_BY(call_mu_) = 1;

  mutable absl::Mutex state_mu_;
  absl::Status health_ ABSL_GUARDED_BY(state_mu_);
  bool aborted_ ABSL_GUARDED_BY(state_mu_) = false;
};

}  // namespace r1

#endif  // R1_WORKER_COMM_GLOO_COMMUNICATOR_H_
