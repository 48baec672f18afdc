#include "worker/service/worker_runtime.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/outbox.h"
#include "common/version.h"
#include "proto/grpc_security.h"
#include "r1/v1/cluster.grpc.pb.h"
#include "worker/service/cpu_backend.h"
#include "worker/service/step_liveness.h"
#include "worker/service/worker_session.h"

namespace r1 {
namespace {

using Stream = grpc::ClientReaderWriter<r1::v1::WorkerMessage, r1::v1::CoordinatorMessage>;

// A command from the reader thread; `closed` marks the end of the stream.
struct Command {
  r1::v1::CoordinatorMessage msg;
  bool closed = false;
};

// Why the coordinator ended the control stream (a refused Attach: UNAUTHENTICATED, a duplicate
// worker id; or the coordinator going away).
absl::Status StreamEnded(const grpc::Status& st) {
  if (st.ok()) return absl::UnavailableError("the coordinator closed the control stream");
  return absl::Status(
      static_cast<absl::StatusCode>(st.error_code()),
      absl::StrCat("the coordinator ended the control stream: ", st.error_message()));
}

// Whether a connection that ended with `st` is worth another: the coordinator went away or
// declared this worker dead (it forgets it), not a refusal that would repeat. A duplicate id on a
// reconnection is the coordinator not having noticed the old stream's end yet.
bool Reconnectable(const absl::Status& st, bool first) {
  switch (st.code()) {
    case absl::StatusCode::kAlreadyExists:
      return !first;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
      return true;
    default:
      return false;
  }
}

// Sleeps until `stop` or `d` passed; true when stopped.
bool WaitFor(std::mutex& mu, std::condition_variable& cv, const bool& stop, absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu);
  return cv.wait_for(lock, absl::ToChronoNanoseconds(d), [&] { return stop; });
}

}  // namespace

std::string DefaultWorkerId(const std::string& backend_name) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return absl::StrCat(host, ":", getpid(), ":", backend_name);
}

absl::Status WorkerRuntime::Run() {
  std::shared_ptr<Backend> backend = options_.backend;
  if (backend == nullptr) backend = std::make_shared<CpuBackend>(CpuBackendOptions{});
  const std::string id =
      options_.worker_id.empty() ? DefaultWorkerId(backend->name()) : options_.worker_id;
  absl::Duration backoff = absl::Milliseconds(200);
  absl::Time last_attached = absl::Now();
  for (int connection = 0;; ++connection) {
    bool attached = false;
    const absl::Time began = absl::Now();
    absl::Status st = RunConnection(*backend, id, connection == 0, &attached);
    if (st.ok()) return st;  // Shutdown
    if (attached) {
      last_attached = absl::Now();
      // Only a connection that lasted starts the backoff over: one that fails right after
      // attaching (a group that cannot form, e.g. its communicator refuses this GPU) must not
      // make the worker and the coordinator retry every 200 ms for ever.
      if (last_attached - began > absl::Seconds(10)) backoff = absl::Milliseconds(200);
    }
    // The first connection must get as far as Attach (a wrong address or certificate is a
    // configuration error); later ones retry for up to reconnect_timeout.
    if ((connection == 0 && !attached) || !Reconnectable(st, connection == 0 && attached) ||
        absl::Now() - last_attached > options_.reconnect_timeout) {
      return st;
    }
    log::Warn({}, "{}; reconnecting in {}", st.message(), absl::FormatDuration(backoff));
    absl::SleepFor(backoff);
    backoff = std::min(2 * backoff, absl::Seconds(5));
  }
}

absl::Status WorkerRuntime::RunConnection(Backend& backend, const std::string& id, bool first,
                                          bool* attached) {
  auto channel = grpc::CreateChannel(
      options_.coordinator,
      options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials());
  const absl::Duration wait = first ? options_.connect_timeout : options_.reconnect_timeout;
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + wait))) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach the coordinator at ", options_.coordinator));
  }
  auto stub = r1::v1::Cluster::NewStub(channel);
  grpc::ClientContext ctx;
  AddBearer(&ctx, options_.group.cluster_secret);
  std::unique_ptr<Stream> stream = stub->Attach(&ctx);

  r1::v1::WorkerMessage hello;
  hello.mutable_hello()->set_worker_id(id);
  hello.mutable_hello()->set_device(backend.kind());
  hello.mutable_hello()->set_device_name(options_.device_name);
  hello.mutable_hello()->set_version(absl::StrCat("r1serve ", kVersion));
  if (!stream->Write(hello)) return StreamEnded(stream->Finish());
  *attached = true;

  // Every write goes through one mutex: the step thread and the heartbeat thread both send.
  std::mutex write_mu;
  auto send = [&](const r1::v1::WorkerMessage& m) {
    std::lock_guard<std::mutex> lock(write_mu);
    return stream->Write(m);
  };
  StepLiveness liveness;

  // Reader: commands into a bounded queue; AbortGroup also acts at once (the step thread may be
  // blocked in one of the group's collectives).
  Outbox<Command> commands(1 << 16);
  std::thread reader([&] {
    r1::v1::CoordinatorMessage msg;
    while (stream->Read(&msg)) {
      if (msg.has_abort_group() && !msg.abort_group().drained()) {
        liveness.AbortGroup(msg.abort_group().group_id(), msg.abort_group().reason());
      }
      if (!commands.Push(Command{msg, false})) break;
    }
    // The assignment goes with the stream: unblock a step waiting in the group's collectives.
    liveness.AbortGroup(0, "lost the coordinator's control stream");
    commands.Push(Command{{}, true});
  });

  // Heartbeat: Stats every interval whatever the step thread does; the watchdog aborts a group
  // whose step has made no progress for `watchdog` (a stalled peer, or this rank hung).
  std::mutex hb_mu;
  std::condition_variable hb_cv;
  bool hb_stop = false;
  std::atomic<bool> write_failed{false};
  std::thread heartbeat([&] {
    uint64_t watchdog_fired_for = 0;
    while (!WaitFor(hb_mu, hb_cv, hb_stop, options_.stats_interval)) {
      const absl::Time now = absl::Now();
      r1::v1::WorkerMessage m;
      *m.mutable_stats() = liveness.Snapshot(now);
      if (!send(m)) {
        write_failed.store(true);
        liveness.AbortGroup(0, "lost the coordinator's control stream");
        break;
      }
      const absl::Duration busy = liveness.BusyFor(now);
      const uint64_t group = liveness.group_id();
      if (options_.watchdog > absl::ZeroDuration() && busy > options_.watchdog && group != 0 &&
          watchdog_fired_for != group) {
        watchdog_fired_for = group;
        liveness.AbortGroup(
            group, absl::StrCat("watchdog: worker ", id, " made no progress for ",
                                absl::FormatDuration(busy), " (a peer stalled or this rank hung)"));
      }
    }
  });

  auto session = std::make_unique<WorkerSession>(options_, &backend, send, channel, &liveness);
  absl::Status result = absl::OkStatus();
  bool running = true;
  bool stream_ended = false;  // the coordinator ended the call: its status says why
  absl::Time next_stats = absl::Now();
  while (running) {
    // Drain commands; block briefly only when there is nothing to step.
    auto wait_ms = session->busy() ? std::chrono::milliseconds(0) : std::chrono::milliseconds(100);
    while (auto cmd = commands.Pop(wait_ms)) {
      wait_ms = std::chrono::milliseconds(0);
      if (cmd->closed) {
        stream_ended = true;
        running = false;
        break;
      }
      auto next = session->Handle(cmd->msg);
      if (!next.ok()) {
        result = next.status();
        running = false;
        break;
      }
      if (*next == WorkerSession::Next::kShutdown) {
        running = false;
        break;
      }
    }
    if (!running) break;
    if (!session->Tick() || write_failed.load()) {
      result = absl::UnavailableError("lost the coordinator's control stream");
      break;
    }
    if (absl::Now() >= next_stats) {
      session->PublishStats();
      next_stats = absl::Now() + options_.stats_interval / 2;
    }
  }
  {
    std::lock_guard<std::mutex> lock(hb_mu);
    hb_stop = true;
  }
  hb_cv.notify_all();
  heartbeat.join();
  session.reset();  // the assignment (engine, group link) goes with the connection
  if (stream_ended) {
    reader.join();
    return StreamEnded(stream->Finish());
  }
  {
    std::lock_guard<std::mutex> lock(write_mu);
    stream->WritesDone();
  }
  ctx.TryCancel();
  reader.join();
  return result;
}

}  // namespace r1
