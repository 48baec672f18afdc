// r1-worker: one process per GPU (or per CPU host with --device=cpu). It dials the coordinator,
// receives its share of the model, and runs the forward pass for its engine group.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "common/logging.h"
#include "prometheus/registry.h"
#include "proto/grpc_security.h"
#include "worker/service/cpu_backend.h"
#include "worker/service/metrics_endpoint.h"
#include "worker/service/worker_metrics.h"
#include "worker/service/worker_runtime.h"
#ifdef R1_WORKER_CUDA
#include "worker/backend/cuda_backend.h"
#endif

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "Coordinator gRPC address (host:port).");
ABSL_FLAG(std::string, device, "cpu",
          "Backend: cpu, or cuda (one GPU: the current CUDA device, CUDA_VISIBLE_DEVICES picks it; "
          "builds with CUDA).");
ABSL_FLAG(std::string, ep_transport, "nccl",
          "cuda: the expert-parallel transport of groups of several workers: nccl, or staged "
          "(device -> host -> Gloo over TCP; several workers may share one GPU).");
ABSL_FLAG(bool, dispatch_bf16, false,
          "cuda: dispatch MoE activations in BF16 instead of FP8 (INT4 experts always use BF16).");
ABSL_FLAG(bool, cuda_graphs, true,
          "cuda: run decode steps, draft verifications and MTP draft passes of up to 512 tokens "
          "as CUDA graphs (one per batch bucket); false launches every kernel of every step.");
ABSL_FLAG(int64_t, ep_fixed_capacity_tokens, 0,
          "cuda, NCCL groups: steps in which no rank has more tokens than this exchange a fixed "
          "number of MoE records per peer with no host wait (the exchange CUDA graphs need); "
          "0: every step counts its rows on the host first. The same on every worker.");
ABSL_FLAG(std::string, worker_id, "", "Stable worker id; default host:pid:device.");
ABSL_FLAG(int64_t, kv_cache_mb, 0,
          "Upper bound on the KV cache in MiB; the coordinator's kv_cache_fraction applies within "
          "it (cpu: of this host budget, default 256; cuda: of the device memory free after the "
          "weights, default no bound).");
ABSL_FLAG(int, max_step_tokens, 256, "Token budget per engine step.");
ABSL_FLAG(int, max_running, 64, "Sequences running at once.");
ABSL_FLAG(bool, prefix_caching, true,
          "Reuse the KV blocks of prompt prefixes already computed (full 64-token blocks).");
ABSL_FLAG(int, speculative_tokens, 0,
          "MTP speculative decoding: draft tokens per sequence and step, 0 (off) to 3. Loads the "
          "checkpoint's MTP layer; CPU workers, and CUDA workers in groups of one. Every rank "
          "of an expert-parallel group must use the same value (checked when the group forms).");
ABSL_FLAG(int, connect_timeout_s, 60, "Seconds to wait for the coordinator at start.");
ABSL_FLAG(int, reconnect_timeout_s, 300,
          "After losing the coordinator's stream, keep attaching again for this long (0: exit).");
ABSL_FLAG(int, watchdog_s, 30,
          "A step that makes no progress for this long aborts the group, and no collective of "
          "the group waits longer than this for a peer (0: no watchdog; collectives wait 60 s).");
ABSL_FLAG(std::string, comm_host, "127.0.0.1",
          "Address this worker binds and advertises for its group's expert-parallel traffic.");
ABSL_FLAG(std::string, comm_iface, "",
          "Network interface for the group's traffic (overrides --comm_host), e.g. eth0.");
ABSL_FLAG(int, group_connect_timeout_s, 300,
          "Seconds for every rank of a new group to load and connect.");
ABSL_FLAG(std::string, cluster_secret_file, "",
          "File with the coordinator's cluster secret (its first key), sent on Attach and "
          "Rendezvous calls; needed when the coordinator has --cluster_secret_file.");
ABSL_FLAG(std::string, coordinator_ca_file, "",
          "PEM CA of the coordinator's gRPC certificate: dial it over TLS (default: insecure).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain this worker presents (mTLS), with --tls_key_file.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:0",
          "HOST:PORT serving this worker's Prometheus metrics at /metrics (port 0: any free port, "
          "printed as metrics_port=N on stdout); empty: none.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "r1-worker --coordinator=HOST:PORT --device=cpu|cuda\n"
      "Holds one shard of a DeepSeek-V3/R1 engine group and runs its forward pass.");
  // --help lists this binary's own flags (abseil matches flag files by program name by default).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "worker/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  r1::log::Init("worker", absl::GetFlag(FLAGS_log_level));
  // A peer or coordinator that hangs up is an EPIPE on its socket, not this worker's exit.
  std::signal(SIGPIPE, SIG_IGN);
  r1::WorkerOptions o;
  const std::string device = absl::GetFlag(FLAGS_device);
  const int64_t kv_mb = absl::GetFlag(FLAGS_kv_cache_mb);
  if (kv_mb < 0) {
    r1::log::Error({}, "--kv_cache_mb={}: must be >= 0", kv_mb);
    return 2;
  }
  if (device == "cuda") {
#ifdef R1_WORKER_CUDA
    r1::CudaBackendOptions co;
    auto transport = r1::ParseEpTransport(absl::GetFlag(FLAGS_ep_transport));
    if (!transport.ok()) {
      r1::log::Error({}, "--ep_transport: {}", transport.status().message());
      return 2;
    }
    co.transport = *transport;
    if (kv_mb > 0) co.kv_cache_bytes = kv_mb << 20;
    co.host = absl::GetFlag(FLAGS_comm_host);
    co.iface = absl::GetFlag(FLAGS_comm_iface);
    co.dispatch_bf16 = absl::GetFlag(FLAGS_dispatch_bf16);
    co.cuda_graphs = absl::GetFlag(FLAGS_cuda_graphs);
    co.fixed_capacity_max_tokens = absl::GetFlag(FLAGS_ep_fixed_capacity_tokens);
    if (co.fixed_capacity_max_tokens < 0) {
      r1::log::Error({}, "--ep_fixed_capacity_tokens: must be >= 0");
      return 2;
    }
    o.backend = std::make_shared<r1::CudaBackend>(co);
    o.device_name = "cuda";
#else
    r1::log::Error({}, "--device=cuda: this build has no CUDA backend (built without nvcc)");
    return 2;
#endif
  } else if (device == "cpu") {
    r1::CpuBackendOptions co;
    if (kv_mb > 0) co.kv_cache_bytes = kv_mb << 20;
    co.host = absl::GetFlag(FLAGS_comm_host);
    co.iface = absl::GetFlag(FLAGS_comm_iface);
    o.backend = std::make_shared<r1::CpuBackend>(co);
  } else {
    r1::log::Error({}, "--device={}: use cpu or cuda", device);
    return 2;
  }
  o.coordinator = absl::GetFlag(FLAGS_coordinator);
  auto credentials = r1::MakeChannelCredentials({absl::GetFlag(FLAGS_coordinator_ca_file),
                                                 absl::GetFlag(FLAGS_tls_cert_file),
                                                 absl::GetFlag(FLAGS_tls_key_file)});
  if (!credentials.ok()) {
    r1::log::Error({}, "TLS: {}", credentials.status().message());
    return 2;
  }
  o.credentials = *credentials;
  if (const std::string f = absl::GetFlag(FLAGS_cluster_secret_file); !f.empty()) {
    auto secret = r1::LoadSecretFile(f);
    if (!secret.ok()) {
      r1::log::Error({}, "--cluster_secret_file: {}", secret.status().message());
      return 2;
    }
    o.group.cluster_secret = *secret;
  }
  o.worker_id = absl::GetFlag(FLAGS_worker_id);
  o.max_step_tokens = absl::GetFlag(FLAGS_max_step_tokens);
  o.max_running = absl::GetFlag(FLAGS_max_running);
  o.prefix_caching = absl::GetFlag(FLAGS_prefix_caching);
  o.speculative_tokens = absl::GetFlag(FLAGS_speculative_tokens);
  if (auto st = r1::ValidateSpeculativeTokens(o.speculative_tokens, o.backend->kind()); !st.ok()) {
    r1::log::Error({}, "{}", st.message());
    return 2;
  }
  o.connect_timeout = absl::Seconds(absl::GetFlag(FLAGS_connect_timeout_s));
  o.reconnect_timeout = absl::Seconds(absl::GetFlag(FLAGS_reconnect_timeout_s));
  o.watchdog = absl::Seconds(absl::GetFlag(FLAGS_watchdog_s));
  // A collective blocked on a stalled peer ends by its own timeout (Gloo cannot wake a call in
  // flight when the group is aborted): bound it by the watchdog.
  if (o.watchdog > absl::ZeroDuration()) o.group.collective_timeout = o.watchdog;
  if (absl::GetFlag(FLAGS_reconnect_timeout_s) < 0 || absl::GetFlag(FLAGS_watchdog_s) < 0) {
    r1::log::Error({}, "--reconnect_timeout_s and --watchdog_s must be >= 0");
    return 2;
  }
  o.group.connect_timeout = absl::Seconds(absl::GetFlag(FLAGS_group_connect_timeout_s));
  if (o.worker_id.empty()) o.worker_id = r1::DefaultWorkerId(o.backend->name());

  // Metrics: the registry, its endpoint and the recorder outlive the runtime that records.
  auto registry = std::make_shared<prometheus::Registry>();
  auto metrics = r1::WorkerMetrics::Create(registry.get(), o.worker_id);
  if (!metrics.ok()) {
    r1::log::Error({}, "metrics: {}", metrics.status().message());
    return 1;
  }
  o.metrics = metrics->get();
  std::unique_ptr<r1::MetricsEndpoint> endpoint;
  if (const std::string address = absl::GetFlag(FLAGS_metrics_address); !address.empty()) {
    auto started = r1::MetricsEndpoint::Start(address, registry);
    if (!started.ok()) {
      r1::log::Error({}, "--metrics_address: {}", started.status().message());
      return 2;
    }
    endpoint = std::move(*started);
    r1::log::Info({}, "metrics at {} (port {})", address, endpoint->port());
    std::printf("metrics_port=%d\n", endpoint->port());
    std::fflush(stdout);
  }
  r1::WorkerRuntime runtime(o);
  absl::Status st = runtime.Run();
  if (!st.ok()) {
    r1::log::Error({}, "worker exiting: {}", st.message());
    return 1;
  }
  return 0;
}
