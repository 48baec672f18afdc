// WorkerRuntime: the r1-worker process around the engine. It dials the coordinator, keeps the
// Cluster/Attach stream for its life, and turns the coordinator's commands into engine calls:
//   Assign → load its share of the model (replicated parts + its experts) and build the engine,
//            reporting LoadProgress and Ready;
//   Submit / Cancel → the engine; Drain → stop taking work; Shutdown → exit.
// Its step loop runs engine steps while there is work (idle: it waits on its command queue, no
// spinning), sends one TokenEvents message per step and a Stats message (the heartbeat) every
// `stats_interval`. Sequences past their deadline are cancelled. In a group of several workers
// (expert parallelism) every tick starts with the group agreeing whether anyone has work, and
// then all ranks step together (GroupLink); a broken data plane drops the assignment and is
// reported to the coordinator as a fatal error.
//
// Threads: the caller's thread runs Run() (step loop and all stream writes); one reader thread
// reads the stream into a bounded command queue. Nothing else is shared.
#ifndef R1_WORKER_SERVICE_WORKER_RUNTIME_H_
#define R1_WORKER_SERVICE_WORKER_RUNTIME_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "worker/engine/engine.h"
#include "worker/model/weight_source.h"
#include "worker/service/backend.h"
#include "worker/service/group_link.h"
#include "worker/service/worker_metrics.h"

namespace r1 {

struct WorkerOptions {
  std::string coordinator = "127.0.0.1:50051";
  // How to reach it: TLS credentials (null: insecure) and the cluster secret sent on every call
  // (Attach here, Rendezvous through `group.cluster_secret`; empty: none).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // The device: builds every assignment's communicator and model. Null: a CpuBackend with
  // default options.
  std::shared_ptr<Backend> backend;
  std::string device_name = "cpu";  // reported in Hello
  std::string worker_id;            // empty: host:pid:backend
  int max_step_tokens = 256;
  int max_running = 64;
  absl::Duration stats_interval = absl::Seconds(1);
  absl::Duration connect_timeout = absl::Seconds(60);
  // The expert-parallel data plane (groups of more than one worker).
  GroupLinkOptions group;
  // Records steps, engine state, weight loading and expert-parallel exchanges. Nullable;
  // borrowed, must outlive Run().
  WorkerMetrics* metrics = nullptr;
};

// host:pid:backend, the worker id when none is given.
std::string DefaultWorkerId(const std::string& backend_name);

class WorkerRuntime {
 public:
  explicit WorkerRuntime(WorkerOptions options) : options_(std::move(options)) {}
  // Runs until Shutdown, a lost stream (Unavailable) or a fatal error.
  absl::Status Run();

 private:
  WorkerOptions options_;
};

}  // namespace r1

#endif  // R1_WORKER_SERVICE_WORKER_RUNTIME_H_
