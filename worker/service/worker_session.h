// WorkerSession: a worker's serving state for one connection to the coordinator (one Attach
// stream): its current assignment (engine group rank, engine, group link) and what it does with
// each coordinator command and each tick of the step loop:
//   Assign → load its share of the model and build the engine (LoadProgress, Ready);
//   Submit / Cancel → the engine; Drain → stop taking work; AbortGroup → drop the assignment;
//   Tick → agree with the group whether anyone has work, then run one engine step and send its
//          TokenEvents; deadlines cancel sequences.
// A broken data plane drops the assignment and is reported (WorkerError with the group id); the
// worker stays attached and idle, and the coordinator re-forms groups.
//
// Messages go out through `send` (thread-safe; shared with the heartbeat thread). The session
// publishes its Stats and group link to `liveness` for the heartbeat and reader threads.
// Thread-compatible: the worker's step thread makes every call.
#ifndef R1_WORKER_SERVICE_WORKER_SESSION_H_
#define R1_WORKER_SERVICE_WORKER_SESSION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/status.h"
#include "r1/v1/cluster.pb.h"
#include "worker/engine/engine.h"
#include "worker/model/progress_weight_source.h"
#include "worker/service/backend.h"
#include "worker/service/group_link.h"
#include "worker/service/step_liveness.h"
#include "worker/service/worker_runtime.h"

namespace r1 {

class WorkerSession {
 public:
  // Sends one message on the control stream; false once the stream broke. Thread-safe.
  using SendFn = std::function<bool(const r1::v1::WorkerMessage&)>;

  // Borrows everything; all must outlive the session.
  WorkerSession(const WorkerOptions& options, Backend* backend, SendFn send,
                std::shared_ptr<grpc::Channel> channel, StepLiveness* liveness);
  ~WorkerSession();

  enum class Next { kContinue, kShutdown };
  // Applies one coordinator command. An error is fatal for the worker (a load that failed).
  absl::StatusOr<Next> Handle(const r1::v1::CoordinatorMessage& message);
  // One tick of the step loop. False when the control stream broke.
  bool Tick();
  // Publishes the engine's stats for the heartbeat (and records the engine gauges).
  void PublishStats();
  // Whether the loop should tick again without waiting for commands.
  bool busy() const;

 private:
  struct Assignment;

  absl::Status HandleAssign(const r1::v1::Assign& assign);
  void HandleSubmit(const r1::v1::Submit& submit);
  bool Step();
  bool FailGroup(const absl::Status& st);
  void DropAssignment();
  bool SendError(const absl::Status& st, bool fatal, uint64_t group_id);
  void EndSequence(uint64_t id, FinishReason reason, const std::string& error);
  // Sends a LoadProgress message and updates the weight-bytes metrics.
  void SendLoadProgress(const LoadProgressReport& r);

  const WorkerOptions& o_;
  Backend* backend_;
  SendFn send_;
  std::shared_ptr<grpc::Channel> channel_;
  StepLiveness* liveness_;
  std::unique_ptr<Assignment> current_;
  bool busy_ = false;  // the group's answer at the last tick
  uint64_t steps_ = 0;
};

}  // namespace r1

#endif  // R1_WORKER_SERVICE_WORKER_SESSION_H_
