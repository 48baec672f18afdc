// r1-worker: one process per GPU (or per CPU host with --device=cpu). It dials the coordinator,
// receives its share of the model, and runs the forward pass for its engine group.
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/logging.h"
#include "worker/service/worker_runtime.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "Coordinator gRPC address (host:port).");
ABSL_FLAG(std::string, device, "cpu", "Backend: cpu (cuda is not wired into the worker yet).");
ABSL_FLAG(std::string, worker_id, "", "Stable worker id; default host:pid:device.");
ABSL_FLAG(int64_t, kv_cache_mb, 256, "Host memory for the KV cache in MiB (cpu backend).");
ABSL_FLAG(int, max_step_tokens, 256, "Token budget per engine step.");
ABSL_FLAG(int, max_running, 64, "Sequences running at once.");
ABSL_FLAG(int, connect_timeout_s, 60, "Seconds to wait for the coordinator at start.");
ABSL_FLAG(std::string, comm_host, "127.0.0.1",
          "Address this worker binds and advertises for its group's expert-parallel traffic.");
ABSL_FLAG(std::string, comm_iface, "",
          "Network interface for the group's traffic (overrides --comm_host), e.g. eth0.");
ABSL_FLAG(int, group_connect_timeout_s, 300,
          "Seconds for every rank of a new group to load and connect.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "r1-worker --coordinator=HOST:PORT --device=cpu\n"
      "Holds one shard of a DeepSeek-V3/R1 engine group and runs its forward pass.");
  absl::ParseCommandLine(argc, argv);
  r1::log::Init("worker", absl::GetFlag(FLAGS_log_level));
  if (absl::GetFlag(FLAGS_device) != "cpu") {
    r1::log::Error({}, "--device={} is not supported by this build; use --device=cpu",
                   absl::GetFlag(FLAGS_device));
    return 2;
  }
  r1::WorkerOptions o;
  o.coordinator = absl::GetFlag(FLAGS_coordinator);
  o.worker_id = absl::GetFlag(FLAGS_worker_id);
  o.kv_cache_bytes = absl::GetFlag(FLAGS_kv_cache_mb) << 20;
  o.max_step_tokens = absl::GetFlag(FLAGS_max_step_tokens);
  o.max_running = absl::GetFlag(FLAGS_max_running);
  o.connect_timeout = absl::Seconds(absl::GetFlag(FLAGS_connect_timeout_s));
  o.group.host = absl::GetFlag(FLAGS_comm_host);
  o.group.iface = absl::GetFlag(FLAGS_comm_iface);
  o.group.connect_timeout = absl::Seconds(absl::GetFlag(FLAGS_group_connect_timeout_s));
  r1::WorkerRuntime runtime(o);
  absl::Status st = runtime.Run();
  if (!st.ok()) {
    r1::log::Error({}, "worker exiting: {}", st.message());
    return 1;
  }
  return 0;
}
