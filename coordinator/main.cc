// r1-coordinator: the cluster's front door (OpenAI-compatible HTTP + gRPC), worker registry, group
// formation, expert placement and routing. CPU only; never links CUDA.
#include <atomic>
#include <csignal>
#include <optional>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/api_keys.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/model_config.h"
#include "common/served_model_config.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/cluster/cluster_metrics.h"
#include "coordinator/cluster/cluster_service.h"
#include "coordinator/cluster/rendezvous_service.h"
#include "coordinator/grpc_api/grpc_auth.h"
#include "coordinator/grpc_api/inference_service.h"
#include "coordinator/http/openai_http_server.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "proto/grpc_security.h"

ABSL_FLAG(std::string, grpc_address, "127.0.0.1:50051",
          "gRPC listen address (Inference API, worker Attach, Rendezvous, Admin, health).");
ABSL_FLAG(std::string, http_address, "127.0.0.1:8000",
          "OpenAI-compatible HTTP listen address (HOST:PORT; port 0 picks a free one).");
ABSL_FLAG(std::string, api_key_file, "",
          "File of API keys, one per line ('#' comments); empty = no authentication.");
ABSL_FLAG(std::string, cluster_secret_file, "",
          "Secrets (one per line; several for rotation) that workers and r1ctl must send on the "
          "cluster plane (Attach, Rendezvous, Admin). Empty: that plane is open: bind "
          "--grpc_address to a private address.");
ABSL_FLAG(std::string, grpc_tls_cert_file, "",
          "PEM certificate chain of the gRPC server (TLS), with --grpc_tls_key_file.");
ABSL_FLAG(std::string, grpc_tls_key_file, "", "PEM private key of --grpc_tls_cert_file.");
ABSL_FLAG(std::string, grpc_tls_client_ca_file, "",
          "PEM CA that signs client certificates: gRPC clients (workers, r1ctl, API users) must "
          "present one (mTLS).");
ABSL_FLAG(std::string, tokenizer, "",
          "tokenizer.json; default <model>/tokenizer.json. The tokenizer_config.json and "
          "chat_template.jinja beside it give the BOS/EOS tokens and the chat template.");
ABSL_FLAG(std::string, chat_template, "",
          "A Jinja chat template file to render instead of the tokenizer's (e.g. one that renders "
          "the request's tools); empty = the tokenizer's.");
ABSL_FLAG(int, http_threads, 4, "HTTP I/O threads (every socket operation of the OpenAI API).");
ABSL_FLAG(int, http_request_threads, 2,
          "Threads that parse OpenAI API requests, build their prompts and submit them; "
          "generations in flight hold no thread.");
ABSL_FLAG(int, max_connections, 1024, "Open HTTP connections (more get 503 at once).");
ABSL_FLAG(int, max_connections_per_client, 256,
          "Open HTTP connections from one client address (more get 429 at once); 0 = no limit "
          "(behind a proxy every client shares its address).");
ABSL_FLAG(int, read_timeout_s, 30,
          "Seconds to receive one whole HTTP request (header and body); a silent or slow "
          "connection is closed after this.");
ABSL_FLAG(int, idle_timeout_s, 60, "Seconds a kept-alive HTTP connection waits for a request.");
ABSL_FLAG(int, request_timeout_s, 600,
          "Deadline of a generation request, in seconds (504 after it; sent to the workers).");
ABSL_FLAG(int, drain_timeout_s, 30,
          "On SIGTERM, seconds in-flight HTTP responses may take to finish before they are ended "
          "with an error.");
ABSL_FLAG(int, max_inflight, 1024,
          "Sequences in flight in the whole cluster; more requests get 429 at once.");
ABSL_FLAG(int, max_waiting_per_worker, 256,
          "Sequences routed to one worker that have not produced their first token; when every "
          "worker has this many, requests get 429 at once. 0 = no limit.");
ABSL_FLAG(double, max_queue_wait_s, 30,
          "Requests whose estimated wait for their first token (queued prompt tokens over the "
          "measured drain rate, or the age of the oldest waiting request) exceeds this many "
          "seconds on every worker get 429 with Retry-After at once. 0 = off.");
ABSL_FLAG(int64_t, prefix_affinity_blocks, 1 << 20,
          "Prefix-aware routing: 64-token block hashes of routed prompts remembered (LRU, about "
          "40 bytes each) to send a request to the worker that holds its longest prefix. 0 = off "
          "(least loaded worker only).");
ABSL_FLAG(int64_t, prefix_affinity_load_threshold, 4096,
          "Prefix-aware routing: the worker holding a request's prefix gets it unless its load "
          "(queued prompt tokens, plus 64 per sequence in flight) exceeds the least loaded "
          "worker's by more than this many tokens.");
ABSL_FLAG(std::string, model, "", "Model directory (config.json, tokenizer.json, safetensors).");
ABSL_FLAG(std::string, served_model_name, "deepseek-r1", "Model id shown to clients.");
ABSL_FLAG(int, group_size, 1, "Workers per engine group (expert-parallel degree).");
ABSL_FLAG(int, heartbeat_timeout_s, 10, "A worker silent this long is declared dead.");
ABSL_FLAG(int, max_model_len, 0, "Context length; 0 = the config's max_position_embeddings.");
ABSL_FLAG(std::string, expert_dtype, "fp8",
          "Routed experts on the workers: fp8 (as in the checkpoint) or int4 (converted at load; "
          "CUDA workers only).");
ABSL_FLAG(
    std::string, kv_dtype, "auto",
    "KV cache dtype: auto (the worker backend's own: f32 on cpu, bf16 on cuda), f32 or bf16.");
ABSL_FLAG(double, kv_cache_fraction, 0.9,
          "Fraction of a worker's KV memory budget (cuda: device memory free after the weights) "
          "for its KV cache, in (0, 1].");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off.");

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// Splits HOST:PORT (IPv6 as [addr]:port).
bool SplitHostPort(const std::string& s, std::string* host, int* port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 >= s.size()) return false;
  std::string h = s.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return false;
  char* end = nullptr;
  const long p = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || p < 0 || p > 65535) return false;
  *host = h;
  *port = static_cast<int>(p);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "r1-coordinator --model=DIR --group_size=N [--grpc_address=HOST:PORT]\n"
      "               [--http_address=HOST:PORT] [--api_key_file=FILE]\n"
      "Serves DeepSeek-R1 from a cluster of r1-worker processes.");
  // --help lists this binary's own flags (abseil matches flag files by program name by default).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "coordinator/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  r1::log::Init("coordinator", absl::GetFlag(FLAGS_log_level));
  const std::string dir = absl::GetFlag(FLAGS_model);
  if (dir.empty()) {
    r1::log::Error({}, "--model=DIR is required");
    return 2;
  }
  // DeepSeek-V3, or a dense R1-Distill model (Qwen2 / Llama) served by groups of one worker.
  auto served = r1::LoadServedModelConfig(dir + "/config.json");
  if (!served.ok()) {
    r1::log::Error({}, "{}", served.status().message());
    return 2;
  }
  const r1::ModelConfig* config = &served->config;
  const std::string tokenizer_path = absl::GetFlag(FLAGS_tokenizer).empty()
                                         ? dir + "/tokenizer.json"
                                         : absl::GetFlag(FLAGS_tokenizer);
  auto tokenizer = r1::tok::Tokenizer::LoadFromFile(tokenizer_path);
  if (!tokenizer.ok()) {
    r1::log::Error({}, "{}", tokenizer.status().message());
    return 2;
  }
  std::string chat_template;
  const std::string chat_template_file = absl::GetFlag(FLAGS_chat_template);
  if (!chat_template_file.empty()) {
    auto text = r1::ReadFileBounded(chat_template_file, 1 << 20);
    if (!text.ok()) {
      r1::log::Error({}, "--chat_template: {}", text.status().message());
      return 2;
    }
    chat_template = *std::move(text);
  }
  r1::log::Info({}, "chat template: {}",
                chat_template_file.empty() ? (*tokenizer)->chat_template_source()
                                           : chat_template_file + " (--chat_template)");
  if ((*tokenizer)->id_limit() > config->vocab_size) {
    r1::log::Error({}, "{}: token ids reach {} but the model's vocab_size is {}", tokenizer_path,
                   (*tokenizer)->id_limit(), config->vocab_size);
    return 2;
  }
  r1::http::OpenAiHttpServerOptions ho;
  if (served->is_dense()) {
    // The tokenizer_config.json's EOS token ends the output, and so does every id of config.json's
    // eos_token_id (one id or a list).
    const int32_t first = static_cast<int32_t>(served->eos_token_ids[0]);
    const std::optional<int32_t> eos =
        (*tokenizer)->eos_id().has_value() ? (*tokenizer)->eos_id() : std::optional<int32_t>(first);
    for (int64_t id : served->eos_token_ids) {
      if (!(*tokenizer)->IsValidId(static_cast<int32_t>(id))) {
        r1::log::Error({}, "{}/config.json: eos_token_id {} is not a token of {}", dir, id,
                       tokenizer_path);
        return 2;
      }
      ho.extra_eos_ids.push_back(static_cast<int32_t>(id));
    }
    if (!(*tokenizer)->IsValidId(*eos)) {
      r1::log::Error({}, "{}: the EOS token id {} is not a token", tokenizer_path, *eos);
      return 2;
    }
    ho.eos_token = (*tokenizer)->IdToToken(*eos);
  }
  if (!SplitHostPort(absl::GetFlag(FLAGS_http_address), &ho.address, &ho.port)) {
    r1::log::Error({}, "--http_address must be HOST:PORT, got '{}'",
                   absl::GetFlag(FLAGS_http_address));
    return 2;
  }
  ho.io_threads = absl::GetFlag(FLAGS_http_threads);
  ho.request_threads = absl::GetFlag(FLAGS_http_request_threads);
  ho.max_connections = absl::GetFlag(FLAGS_max_connections);
  ho.max_connections_per_client = absl::GetFlag(FLAGS_max_connections_per_client);
  ho.read_timeout = absl::Seconds(absl::GetFlag(FLAGS_read_timeout_s));
  ho.idle_timeout = absl::Seconds(absl::GetFlag(FLAGS_idle_timeout_s));
  ho.request_timeout = absl::Seconds(absl::GetFlag(FLAGS_request_timeout_s));
  ho.drain_timeout = absl::Seconds(absl::GetFlag(FLAGS_drain_timeout_s));
  ho.chat_template = chat_template;
  ho.chat_template_origin = chat_template_file;
  if (const absl::Status s = r1::http::ValidateOpenAiHttpServerOptions(ho); !s.ok()) {
    r1::log::Error({}, "{} (see --help for the flags)", s.message());
    return 2;
  }
  if (!absl::GetFlag(FLAGS_api_key_file).empty()) {
    auto keys = r1::LoadApiKeysFile(absl::GetFlag(FLAGS_api_key_file));
    if (!keys.ok()) {
      r1::log::Error({}, "{}", keys.status().message());
      return 2;
    }
    ho.api_keys = std::move(*keys);
  }
  if (absl::GetFlag(FLAGS_group_size) < 1 || absl::GetFlag(FLAGS_group_size) > 1024) {
    r1::log::Error({}, "--group_size must be in [1, 1024]");
    return 2;
  }
  if (served->is_dense() && absl::GetFlag(FLAGS_group_size) != 1) {
    r1::log::Error({},
                   "--group_size={}: {} is a dense {} model, which has no routed experts to "
                   "spread over a group; use --group_size=1 (every worker serves a whole copy)",
                   absl::GetFlag(FLAGS_group_size), dir,
                   r1::ArchitectureName(config->architecture));
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
  if (const std::string e = absl::GetFlag(FLAGS_expert_dtype); e == "fp8") {
    co.expert_dtype = r1::v1::WEIGHT_DTYPE_FP8;
  } else if (e == "int4" && !served->is_dense()) {
    co.expert_dtype = r1::v1::WEIGHT_DTYPE_INT4;
  } else if (e == "int4") {
    r1::log::Error({}, "--expert_dtype=int4: a dense model has no routed experts");
    return 2;
  } else {
    r1::log::Error({}, "--expert_dtype={}: use fp8 or int4", e);
    return 2;
  }
  if (const std::string k = absl::GetFlag(FLAGS_kv_dtype); k == "auto") {
    co.kv_dtype = r1::v1::KV_DTYPE_UNSPECIFIED;
  } else if (k == "f32") {
    co.kv_dtype = r1::v1::KV_DTYPE_F32;
  } else if (k == "bf16") {
    co.kv_dtype = r1::v1::KV_DTYPE_BF16;
  } else {
    r1::log::Error({}, "--kv_dtype={}: use auto, f32 or bf16", k);
    return 2;
  }
  co.kv_cache_fraction = static_cast<float>(absl::GetFlag(FLAGS_kv_cache_fraction));
  if (!(co.kv_cache_fraction > 0.0f && co.kv_cache_fraction <= 1.0f)) {
    r1::log::Error({}, "--kv_cache_fraction={}: must be in (0, 1]", co.kv_cache_fraction);
    return 2;
  }
  // Rows past the tokenizer's last id are untrained padding (spec §8): never sampled.
  co.valid_vocab_size = static_cast<uint32_t>((*tokenizer)->id_limit());
  co.model = {absl::GetFlag(FLAGS_served_model_name), co.max_model_len, config->vocab_size,
              absl::ToUnixSeconds(absl::Now())};
  co.max_inflight = absl::GetFlag(FLAGS_max_inflight);
  co.max_waiting_per_worker = absl::GetFlag(FLAGS_max_waiting_per_worker);
  co.max_queue_wait = absl::Seconds(absl::GetFlag(FLAGS_max_queue_wait_s));  // NaN: infinite
  if (absl::GetFlag(FLAGS_prefix_affinity_blocks) < 0) {
    r1::log::Error({}, "--prefix_affinity_blocks={}: must be >= 0",
                   absl::GetFlag(FLAGS_prefix_affinity_blocks));
    return 2;
  }
  co.prefix_affinity_blocks = static_cast<size_t>(absl::GetFlag(FLAGS_prefix_affinity_blocks));
  co.prefix_affinity_load_threshold = absl::GetFlag(FLAGS_prefix_affinity_load_threshold);
  if (const absl::Status s = r1::ValidateClusterOptions(co); !s.ok()) {
    r1::log::Error({}, "{} (see --help for the flags)", s.message());
    return 2;
  }
  // gRPC: API keys on the public Inference API (the HTTP keys), the cluster secret on the
  // cluster plane, TLS/mTLS when configured.
  const r1::GrpcAuth api_auth(ho.api_keys, "API key");
  r1::GrpcAuth cluster_auth;
  if (const std::string f = absl::GetFlag(FLAGS_cluster_secret_file); !f.empty()) {
    auto secrets = r1::LoadApiKeysFile(f);
    if (!secrets.ok()) {
      r1::log::Error({}, "--cluster_secret_file: {}", secrets.status().message());
      return 2;
    }
    cluster_auth = r1::GrpcAuth(*secrets, "cluster secret");
  } else {
    r1::log::Warn({},
                  "no --cluster_secret_file: any process that reaches {} can attach as a "
                  "worker or use the Admin API",
                  absl::GetFlag(FLAGS_grpc_address));
  }
  auto server_credentials = r1::MakeServerCredentials(
      {absl::GetFlag(FLAGS_grpc_tls_cert_file), absl::GetFlag(FLAGS_grpc_tls_key_file),
       absl::GetFlag(FLAGS_grpc_tls_client_ca_file)});
  if (!server_credentials.ok()) {
    r1::log::Error({}, "gRPC TLS: {}", server_credentials.status().message());
    return 2;
  }
  r1::ClusterState state(co);
  r1::ClusterService cluster(&state, &cluster_auth);
  r1::RendezvousService rendezvous(&cluster_auth);
  r1::AdminService admin(&state, &cluster_auth);
  r1::InferenceServiceOptions io;
  io.auth = &api_auth;
  io.request_timeout = ho.request_timeout;
  io.chat_template = chat_template;
  io.eos_token = ho.eos_token;
  io.extra_eos_ids = ho.extra_eos_ids;
  io.chat_template_origin = chat_template_file;
  auto inference = r1::InferenceService::Create(tokenizer->get(), &state, io);
  if (!inference.ok()) {
    r1::log::Error({}, "{}", inference.status().message());
    return 2;
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_grpc_address), *server_credentials, &grpc_port);
  // One process per port: without this, a second coordinator could bind the same port and
  // clients would alternate between the two.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&cluster);
  builder.RegisterService(&rendezvous);
  builder.RegisterService(&admin);
  builder.RegisterService(inference->get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || grpc_port == 0) {
    r1::log::Error({}, "cannot listen on {}", absl::GetFlag(FLAGS_grpc_address));
    return 1;
  }
  server->GetHealthCheckService()->SetServingStatus("", false);
  r1::log::Info({}, "gRPC listening on port {}; model {} ({}, {} layers); group size {}", grpc_port,
                dir, r1::ArchitectureName(config->architecture), config->num_hidden_layers,
                co.group_size);

  // /metrics: the cluster gauges are refreshed from a status snapshot at every scrape.
  auto registry = std::make_shared<prometheus::Registry>();
  r1::ClusterMetrics cluster_metrics(registry.get());
  auto metrics_text = [&] {
    cluster_metrics.Update(state.Status());
    cluster_metrics.UpdateRouting(state.routing_counts());
    return prometheus::TextSerializer().Serialize(registry->Collect());
  };
  r1::http::OpenAiHttpServer http(ho, tokenizer->get(), &state, registry.get(), metrics_text);
  auto http_port = http.Start();
  if (!http_port.ok()) {
    r1::log::Error({}, "HTTP: {}", http_port.status().message());
    server->Shutdown();
    return 1;
  }
  r1::log::Info({}, "HTTP listening on {}:{}", ho.address, *http_port);
  std::printf("grpc_port=%d\nhttp_port=%d\n", grpc_port, *http_port);
  std::fflush(stdout);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is an EPIPE on its socket, not our exit
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
  http.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}
