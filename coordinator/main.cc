// r1-coordinator: the cluster's front door (OpenAI-compatible HTTP + gRPC), worker registry, group
// formation, expert placement and routing. CPU only; never links CUDA.
#include <atomic>
#include <csignal>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/model_config.h"
#include "coordinator/cluster/cluster_service.h"
#include "coordinator/cluster/rendezvous_service.h"

ABSL_FLAG(std::string, grpc_address, "127.0.0.1:50051",
          "gRPC listen address (worker Attach, Rendezvous, Admin, health).");
ABSL_FLAG(std::string, model, "", "Model directory (config.json, tokenizer.json, safetensors).");
ABSL_FLAG(std::string, served_model_name, "deepseek-r1", "Model id shown to clients.");
ABSL_FLAG(int, group_size, 1, "Workers per engine group (expert-parallel degree).");
ABSL_FLAG(int, heartbeat_timeout_s, 10, "A worker silent this long is declared dead.");
ABSL_FLAG(int, max_model_len, 0, "Context length; 0 = the config's max_position_embeddings.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off.");

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "r1-coordinator --model=DIR --group_size=N [--grpc_address=HOST:PORT]\n"
      "Serves DeepSeek-R1 from a cluster of r1-worker processes.");
  absl::ParseCommandLine(argc, argv);
  r1::log::Init("coordinator", absl::GetFlag(FLAGS_log_level));
  const std::string dir = absl::GetFlag(FLAGS_model);
  if (dir.empty()) {
    r1::log::Error({}, "--model=DIR is required");
    return 2;
  }
  auto config = r1::LoadModelConfig(dir + "/config.json");
  if (!config.ok()) {
    r1::log::Error({}, "{}", config.status().message());
    return 2;
  }
  if (absl::GetFlag(FLAGS_group_size) < 1 || absl::GetFlag(FLAGS_group_size) > 1024) {
    r1::log::Error({}, "--group_size must be in [1, 1024]");
    return 2;
  }
  r1::ClusterOptions co;
  co.group_size = absl::GetFlag(FLAGS_group_size);
  co.num_experts = static_cast<int>(config->n_routed_experts);
  co.model_source = absl::StrCat("checkpoint:", dir);
  co.max_model_len = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_model_len) > 0
                                               ? absl::GetFlag(FLAGS_max_model_len)
                                               : config->max_position_embeddings);
  co.heartbeat_timeout = absl::Seconds(absl::GetFlag(FLAGS_heartbeat_timeout_s));
  co.model = {absl::GetFlag(FLAGS_served_model_name), co.max_model_len, config->vocab_size,
              absl::ToUnixSeconds(absl::Now())};
  r1::ClusterState state(co);
  r1::ClusterService cluster(&state);
  r1::RendezvousService rendezvous;
  r1::AdminService admin(&state);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_grpc_address), grpc::InsecureServerCredentials(),
                           &grpc_port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&cluster);
  builder.RegisterService(&rendezvous);
  builder.RegisterService(&admin);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || grpc_port == 0) {
    r1::log::Error({}, "cannot listen on {}", absl::GetFlag(FLAGS_grpc_address));
    return 1;
  }
  server->GetHealthCheckService()->SetServingStatus("", false);
  r1::log::Info({}, "gRPC listening on port {}; model {} ({} layers); group size {}", grpc_port,
                dir, config->num_hidden_layers, co.group_size);
  std::printf("grpc_port=%d\n", grpc_port);
  std::fflush(stdout);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  bool ready = false;
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    state.CheckHeartbeats(absl::Now());
    if (state.Ready() != ready) {
      ready = state.Ready();
      server->GetHealthCheckService()->SetServingStatus("", ready);
      r1::log::Info({}, "ready: {}", ready);
    }
  }
  r1::log::Info({}, "shutting down");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}
