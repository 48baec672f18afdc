// r1-worker: one process per GPU (or per CPU host with --device=cpu). It dials the coordinator,
// receives its share of the model, and runs the forward pass for its engine group.
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/logging.h"
#include "worker/service/worker_runtime.h"
#ifdef R1_WORKER_CUDA
#include "worker/backend/cuda_model.h"
#endif

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "Coordinator gRPC address (host:port).");
ABSL_FLAG(std::string, device, "cpu",
          "Backend: cpu, or cuda (one GPU, the current CUDA device; builds with CUDA; groups of "
          "one worker).");
ABSL_FLAG(std::string, worker_id, "", "Stable worker id; default host:pid:device.");
ABSL_FLAG(int64_t, kv_cache_mb, 256,
          "Memory for the KV cache in MiB (host memory on cpu, device memory on cuda).");
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
      "r1-worker --coordinator=HOST:PORT --device=cpu|cuda\n"
      "Holds one shard of a DeepSeek-V3/R1 engine group and runs its forward pass.");
  absl::ParseCommandLine(argc, argv);
  r1::log::Init("worker", absl::GetFlag(FLAGS_log_level));
  r1::WorkerOptions o;
  const std::string device = absl::GetFlag(FLAGS_device);
  if (device == "cuda") {
#ifdef R1_WORKER_CUDA
    o.device_name = "cuda";
    o.device_model = [](const r1::ModelConfig& config, const r1::WeightSource& source,
                        int kv_blocks) -> absl::StatusOr<std::unique_ptr<r1::ForwardModel>> {
      auto weights = r1::LoadCudaWeights(config, source);
      if (!weights.ok()) return weights.status();
      auto model = r1::CudaModel::Create(
          std::shared_ptr<const r1::CudaWeights>(std::move(*weights)), kv_blocks);
      if (!model.ok()) return model.status();
      return std::unique_ptr<r1::ForwardModel>(std::move(*model));
    };
#else
    r1::log::Error({}, "--device=cuda: this build has no CUDA backend (built without nvcc)");
    return 2;
#endif
  } else if (device != "cpu") {
    r1::log::Error({}, "--device={}: use cpu or cuda", device);
    return 2;
  }
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
