// WorkerRuntime: the r1-worker process around the engine. It dials the coordinator and keeps a
// Cluster/Attach stream; WorkerSession (worker_session.h) turns the coordinator's commands into
// engine calls. The step loop runs engine steps while there is work (idle: it waits on its command
// queue, no spinning) and sends one TokenEvents message per step. Liveness is apart from
// progress: a heartbeat thread sends Stats every `stats_interval` whatever the step loop is doing
// (with how long the current step has run), and its watchdog aborts the group's communicator when
// a step makes no progress for `watchdog`; the reader thread aborts it at once on the
// coordinator's AbortGroup. A failed group leaves the worker attached and idle.
//
// When the stream is lost (the coordinator restarted, or declared this worker dead after a stall)
// the worker drops its assignment and attaches again, with backoff, for up to
// `reconnect_timeout`. Refusals (a missing or wrong cluster secret, a duplicate id on the first
// attach), a failed load and Shutdown end Run().
//
// Threads: the caller's thread runs Run() (step loop); a reader thread per connection feeds a
// bounded command queue; a heartbeat thread per connection. Writes share one mutex; the step
// thread shares its stats and group link with the others through StepLiveness.
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
  bool prefix_caching = true;  // EngineOptions::prefix_caching
  // MTP speculative decoding: draft tokens per sequence and step (EngineOptions::
  // speculative_tokens; 0: off). Assignments that cannot speculate are refused
  // (ValidateSpeculation).
  int speculative_tokens = 0;
  absl::Duration stats_interval = absl::Seconds(1);
  absl::Duration connect_timeout = absl::Seconds(60);
  // After a lost stream: keep attaching again for this long (0: exit at once).
  absl::Duration reconnect_timeout = absl::Seconds(300);
  // A step (tick) running longer than this aborts the group (0: never).
  absl::Duration watchdog = absl::Seconds(30);
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
  // One Attach stream until it ends. `attached`: the stream was opened and Hello sent.
  absl::Status RunConnection(Backend& backend, const std::string& id, bool first, bool* attached);

  WorkerOptions options_;
};

}  // namespace r1

#endif  // R1_WORKER_SERVICE_WORKER_RUNTIME_H_
