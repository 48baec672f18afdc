// r1ctl: command-line tool for operators.
//   r1ctl check-config FILE         parse and validate a config.json, print its dimensions
//   r1ctl inspect DIR               open a checkpoint (index + shards), list tensors and bytes
//   r1ctl gen-checkpoint --config FILE --out DIR [--seed N] [--shards N] [--layers N]
//                        [--max-gib G] [--threads T]
//                                   write a synthetic HF-format checkpoint for a config (the
//                                   first N layers of its real shapes with --layers)
//   r1ctl weights FILE              per-group weight bytes of a config (FP8 and INT4 experts)
//   r1ctl plan FILE [--group-size N] [--experts fp8|int4] [--kv bf16|fp8] [--context N]
//             [--gpu-gib G] [--mtp] [--layout cuda|checkpoint]
//                                         per-GPU memory plan and KV capacity (weights as the
//                                         CUDA backend holds them unless --layout checkpoint);
//                                         for a dense R1-Distill config (Qwen2 / Llama): BF16
//                                         weights, GQA KV bytes per token, what fits one H100
//                                         80GB / H200 141GB (--kv, --context, --gpu-gib)
//   r1ctl status [--experts] [ADMIN OPTIONS]
//                                   workers, groups, placement, load progress (and the routed
//                                   load per expert of each group)
//   r1ctl drain (--group N | --worker ID) [--timeout S] [ADMIN OPTIONS]
//                                   stop routing to a group, let it finish, release it (a
//                                   worker target then shuts down: rolling restarts)
// ADMIN OPTIONS: --coordinator HOST:PORT, --cluster-secret-file FILE (the coordinator's
// --cluster_secret_file), --ca-file FILE (TLS), --cert-file FILE --key-file FILE (mTLS).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/dense_model_config.h"
#include "common/file_util.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "proto/grpc_security.h"
#include "r1/v1/admin.grpc.pb.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/dense_memory_plan.h"
#include "worker/model/memory_plan.h"
#include "worker/model/weight_plan.h"
#include "worker/model/weight_source.h"

namespace {

constexpr char kUsage[] =
    "usage: r1ctl COMMAND ...\n"
    "  check-config FILE   parse and validate a Hugging Face config.json\n"
    "  inspect DIR         open a safetensors checkpoint and list its tensors\n"
    "  gen-checkpoint --config FILE --out DIR [--seed N] [--shards N] [--layers N]\n"
    "                 [--max-gib G] [--threads T]\n"
    "                      write a synthetic Hugging Face checkpoint (FP8 block-quantised),\n"
    "                      streamed shard by shard; --layers N keeps the first N layers of the\n"
    "                      config's real shapes; refuses more than G GiB (default 4); T shards\n"
    "                      at once (default: the cores)\n"
    "  weights FILE        weight bytes of a config by group, FP8 and INT4 routed experts\n"
    "  plan FILE [--group-size N] [--experts fp8|int4] [--kv bf16|fp8] [--context N]\n"
    "            [--gpu-gib G] [--mtp] [--layout cuda|checkpoint]\n"
    "                      per-GPU memory: weights, KV capacity in tokens, what fits\n"
    "                      (also dense R1-Distill Qwen2 / Llama configs: one GPU each)\n"
    "  status [--experts] [ADMIN OPTIONS]\n"
    "                      workers, groups, placement and load progress of a running cluster;\n"
    "                      --experts: routed assignments per expert of each group\n"
    "  drain (--group N | --worker ID) [--timeout S] [ADMIN OPTIONS]\n"
    "                      stop routing to the group (or the worker's), wait for its requests\n"
    "                      (default 60 s), release it; a drained worker shuts down\n"
    "ADMIN OPTIONS: --coordinator HOST:PORT (127.0.0.1:50051), --cluster-secret-file FILE,\n"
    "  --ca-file FILE (the coordinator's CA: TLS), --cert-file FILE --key-file FILE (mTLS)\n";

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
  return 1;
}

int CheckConfig(const std::string& path) {
  auto c = r1::LoadModelConfig(path);
  if (!c.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(c.status().message()).c_str());
    return 1;
  }
  std::printf("%s: OK\n", path.c_str());
  std::printf("  layers %lld (dense %lld, MoE %lld), hidden %lld, heads %lld\n",
              static_cast<long long>(c->num_hidden_layers),
              static_cast<long long>(c->first_k_dense_replace),
              static_cast<long long>(c->num_hidden_layers - c->first_k_dense_replace),
              static_cast<long long>(c->hidden_size),
              static_cast<long long>(c->num_attention_heads));
  std::printf("  experts %lld routed (top-%lld, %lld groups keep %lld) + %lld shared\n",
              static_cast<long long>(c->n_routed_experts),
              static_cast<long long>(c->num_experts_per_tok), static_cast<long long>(c->n_group),
              static_cast<long long>(c->topk_group), static_cast<long long>(c->n_shared_experts));
  std::printf("  q_b_proj out %lld, kv_a out %lld, kv_b out %lld, o_proj in %lld\n",
              static_cast<long long>(c->q_b_out()), static_cast<long long>(c->kv_a_out()),
              static_cast<long long>(c->kv_b_out()), static_cast<long long>(c->o_proj_in()));
  return 0;
}

int Inspect(const std::string& dir) {
  auto ck = r1::Checkpoint::Open(dir);
  if (!ck.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(ck.status().message()).c_str());
    return 1;
  }
  for (const std::string& name : (*ck)->TensorNames()) {
    auto v = (*ck)->Get(name);
    std::printf("%s %s [%s] %llu\n", name.c_str(), std::string(r1::DTypeName(v->dtype())).c_str(),
                absl::StrJoin(v->shape(), ", ").c_str(),
                static_cast<unsigned long long>(v->nbytes()));
  }
  std::printf("total %llu bytes\n", static_cast<unsigned long long>((*ck)->total_bytes()));
  return 0;
}

int GenCheckpoint(const std::vector<std::string>& args) {
  std::string config_path, out;
  uint64_t seed = 0;
  int shards = 2, layers = 0;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double max_gib = 4;
  for (size_t i = 1; i + 1 < args.size(); i += 2) {
    const std::string& k = args[i];
    const std::string& v = args[i + 1];
    bool ok = true;
    if (k == "--config")
      config_path = v;
    else if (k == "--out")
      out = v;
    else if (k == "--seed")
      ok = absl::SimpleAtoi(v, &seed);
    else if (k == "--shards")
      ok = absl::SimpleAtoi(v, &shards);
    else if (k == "--threads")
      ok = absl::SimpleAtoi(v, &threads) && threads > 0;
    else if (k == "--layers")
      ok = absl::SimpleAtoi(v, &layers) && layers > 0;
    else if (k == "--max-gib")
      ok = absl::SimpleAtod(v, &max_gib) && max_gib > 0;
    else
      ok = false;
    if (!ok) {
      std::fprintf(stderr, "r1ctl gen-checkpoint: bad option %s %s\n", k.c_str(), v.c_str());
      return 2;
    }
  }
  if (config_path.empty() || out.empty() || args.size() % 2 == 0) {
    std::fprintf(stderr, "r1ctl gen-checkpoint: --config FILE and --out DIR are required\n");
    return 2;
  }
  auto text = r1::ReadFileBounded(config_path, 1 << 20);
  if (!text.ok()) return Fail(text.status());
  if (layers > 0) {
    text = r1::ConfigWithLayers(*text, layers);
    if (!text.ok()) return Fail(text.status());
  }
  auto config = r1::ParseModelConfig(*text, config_path);
  if (!config.ok()) return Fail(config.status());
  const uint64_t bytes =
      r1::PlanWeights(*config).ComputeTotals(r1::ExpertFormat::kCheckpoint).main_model();
  if (static_cast<double>(bytes) > max_gib * (1ull << 30)) {
    std::fprintf(stderr,
                 "r1ctl gen-checkpoint: %llu bytes of weights; refusing above %.1f GiB "
                 "(--max-gib)\n",
                 static_cast<unsigned long long>(bytes), max_gib);
    return 1;
  }
  r1::SyntheticWeightSource source(seed);
  const absl::Time start = absl::Now();
  auto progress = [&](int done, int total, uint64_t written) {
    const double s = absl::ToDoubleSeconds(absl::Now() - start);
    std::printf("shard %d of %d: %.2f of %.2f GiB, %.2f GB/s\n", done, total,
                static_cast<double>(written) / (1ull << 30),
                static_cast<double>(bytes) / (1ull << 30), s > 0 ? written / s / 1e9 : 0.0);
    std::fflush(stdout);
  };
  if (auto st = r1::WriteCheckpoint(*text, *config, source, out, shards, progress, threads);
      !st.ok()) {
    return Fail(st);
  }
  std::printf("wrote %s (seed %llu, %d shards, %lld layers)\n", out.c_str(),
              static_cast<unsigned long long>(seed), shards,
              static_cast<long long>(config->num_hidden_layers));
  return 0;
}

int Weights(const std::string& path) {
  auto c = r1::LoadModelConfig(path);
  if (!c.ok()) return Fail(c.status());
  const r1::WeightPlan plan = r1::PlanWeights(*c);
  for (auto fmt : {r1::ExpertFormat::kCheckpoint, r1::ExpertFormat::kInt4}) {
    const auto t = plan.ComputeTotals(fmt);
    std::printf("%s routed experts:\n", fmt == r1::ExpertFormat::kInt4 ? "INT4" : "checkpoint");
    const std::pair<const char*, uint64_t> rows[] = {{"routed_experts", t.routed_experts},
                                                     {"shared_experts", t.shared_experts},
                                                     {"attention", t.attention},
                                                     {"dense_ffn", t.dense_ffn},
                                                     {"routers", t.routers},
                                                     {"norms", t.norms},
                                                     {"embedding", t.embedding},
                                                     {"lm_head", t.lm_head},
                                                     {"main_model", t.main_model()},
                                                     {"mtp_layers", t.mtp}};
    for (const auto& [name, b] : rows) {
      std::printf("  %-15s %18llu B %10.2f GiB\n", name, static_cast<unsigned long long>(b),
                  static_cast<double>(b) / (1ull << 30));
    }
  }
  return 0;
}

// `plan` for a dense R1-Distill config (Qwen2 / Llama): the whole model on one GPU in BF16, the
// GQA KV cache in what is left; a line per GPU kind says what fits.
int DensePlan(const std::vector<std::string>& args) {
  auto c = r1::LoadDenseModelConfig(args[1]);
  if (!c.ok()) return Fail(c.status());
  r1::DenseMemoryPlanInput in;
  in.context_tokens = 32768;
  double gib = 139;
  for (size_t i = 2; i < args.size(); i += 2) {
    const std::string& k = args[i];
    const std::string v = i + 1 < args.size() ? args[i + 1] : "";
    bool ok = i + 1 < args.size();
    if (k == "--kv" && (v == "bf16" || v == "fp8")) {
      in.kv = v == "fp8" ? r1::KvFormat::kFp8 : r1::KvFormat::kBf16;
    } else if (k == "--context" && ok) {
      ok = absl::SimpleAtoi(v, &in.context_tokens) && in.context_tokens >= 0;
    } else if (k == "--gpu-gib" && ok) {
      ok = absl::SimpleAtod(v, &gib) && gib > 0 && gib < 1e6;
    } else if (k == "--group-size" && v == "1") {
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr,
                   "r1ctl plan: bad option %s %s (a dense model takes --kv, --context, "
                   "--gpu-gib)\n",
                   k.c_str(), v.c_str());
      return 2;
    }
  }
  in.device_bytes = static_cast<uint64_t>(gib * 1024 * 1024 * 1024);
  const r1::DenseMemoryPlan p = r1::PlanDenseMemory(*c, in);
  std::printf(
      "%s: dense %s, %lld layers, %lld heads / %lld KV heads of %lld, %s KV, context %lld, "
      "%.0f GiB per GPU\n%s",
      args[1].c_str(), r1::ArchitectureName(c->architecture),
      static_cast<long long>(c->num_hidden_layers), static_cast<long long>(c->num_attention_heads),
      static_cast<long long>(c->num_key_value_heads), static_cast<long long>(c->head_dim),
      in.kv == r1::KvFormat::kFp8 ? "FP8" : "BF16", static_cast<long long>(in.context_tokens), gib,
      p.Report().c_str());
  const std::pair<const char*, uint64_t> gpus[] = {{"H100 80GB", r1::kH100DeviceBytes},
                                                   {"H200 141GB", r1::kH200DeviceBytes}};
  for (const auto& [name, bytes] : gpus) {
    r1::DenseMemoryPlanInput g = in;
    g.device_bytes = bytes;
    const r1::DenseMemoryPlan q = r1::PlanDenseMemory(*c, g);
    std::printf("one %s (%.2f GiB): KV capacity %llu tokens, context %lld %s\n", name,
                static_cast<double>(bytes) / (1ull << 30),
                static_cast<unsigned long long>(q.kv_capacity_tokens),
                static_cast<long long>(in.context_tokens), q.fits ? "fits" : "does not fit");
  }
  return p.fits ? 0 : 3;
}

int Plan(const std::vector<std::string>& args) {
  if (auto text = r1::ReadFileBounded(args[1], 1 << 20); text.ok()) {
    auto arch = r1::DetectArchitecture(*text, args[1]);
    if (arch.ok() && *arch != r1::Architecture::kDeepseekV3) return DensePlan(args);
  }
  auto c = r1::LoadModelConfig(args[1]);
  if (!c.ok()) return Fail(c.status());
  r1::MemoryPlanInput in;
  in.context_tokens = 32768;
  in.layout = r1::WeightLayout::kCuda;
  double gib = 139;
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& k = args[i];
    const bool has_value = i + 1 < args.size();
    const std::string v = has_value ? args[i + 1] : "";
    bool ok = true;
    if (k == "--mtp") {
      in.include_mtp = true;
      continue;
    } else if (k == "--group-size" && has_value) {
      ok = absl::SimpleAtoi(v, &in.group_size) && in.group_size >= 1 && in.group_size <= 4096;
    } else if (k == "--experts" && (v == "fp8" || v == "int4")) {
      in.experts = v == "int4" ? r1::ExpertFormat::kInt4 : r1::ExpertFormat::kCheckpoint;
    } else if (k == "--kv" && (v == "bf16" || v == "fp8")) {
      in.kv = v == "fp8" ? r1::KvFormat::kFp8 : r1::KvFormat::kBf16;
    } else if (k == "--context" && has_value) {
      ok = absl::SimpleAtoi(v, &in.context_tokens) && in.context_tokens >= 0;
    } else if (k == "--layout" && (v == "cuda" || v == "checkpoint")) {
      in.layout = v == "cuda" ? r1::WeightLayout::kCuda : r1::WeightLayout::kCheckpoint;
    } else if (k == "--gpu-gib" && has_value) {
      ok = absl::SimpleAtod(v, &gib) && gib > 0 && gib < 1e6;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "r1ctl plan: bad option %s %s\n", k.c_str(), v.c_str());
      return 2;
    }
    ++i;
  }
  in.device_bytes = static_cast<uint64_t>(gib * 1024 * 1024 * 1024);
  const r1::MemoryPlan p = r1::PlanMemory(*c, in);
  std::printf("%s: group size %d, %s experts, %s KV, context %lld, %.0f GiB per GPU\n%s",
              args[1].c_str(), in.group_size,
              in.experts == r1::ExpertFormat::kInt4 ? "INT4" : "FP8",
              in.kv == r1::KvFormat::kFp8 ? "FP8" : "BF16",
              static_cast<long long>(in.context_tokens), gib, p.Report().c_str());
  return p.fits ? 0 : 3;
}

// How an admin command reaches the coordinator (ADMIN OPTIONS).
struct AdminTarget {
  std::string address = "127.0.0.1:50051";
  std::string secret;
  std::unique_ptr<r1::v1::Admin::Stub> stub;
  // A context for one call: deadline and cluster secret.
  std::unique_ptr<grpc::ClientContext> Context(int seconds) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    r1::AddBearer(ctx.get(), secret);
    return ctx;
  }
};

// Parses ADMIN OPTIONS from args[first..]; other "--name value" pairs go to `rest`.
absl::StatusOr<AdminTarget> ParseAdminTarget(
    const std::vector<std::string>& args, size_t first,
    std::vector<std::pair<std::string, std::string>>* rest) {
  AdminTarget t;
  r1::ClientTlsFiles tls;
  std::string secret_file;
  for (size_t i = first; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return absl::InvalidArgumentError(args[i] + " needs a value");
    const std::string& k = args[i];
    const std::string& v = args[i + 1];
    if (k == "--coordinator") {
      t.address = v;
    } else if (k == "--cluster-secret-file") {
      secret_file = v;
    } else if (k == "--ca-file") {
      tls.server_ca = v;
    } else if (k == "--cert-file") {
      tls.cert_chain = v;
    } else if (k == "--key-file") {
      tls.private_key = v;
    } else if (rest != nullptr) {
      rest->push_back({k, v});
    } else {
      return absl::InvalidArgumentError("unknown option " + k);
    }
  }
  if (!secret_file.empty()) {
    auto secret = r1::LoadSecretFile(secret_file);
    if (!secret.ok()) return secret.status();
    t.secret = *secret;
  }
  auto credentials = r1::MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  t.stub = r1::v1::Admin::NewStub(grpc::CreateChannel(t.address, *credentials));
  return t;
}

// Per group: routed assignments per expert (summed over layers, from the workers' Stats), the
// hottest experts and the imbalance (max / mean over the experts).
void PrintExpertLoad(const r1::v1::ClusterStatusResponse& st) {
  for (const auto& g : st.groups()) {
    std::vector<uint64_t> load;
    for (const auto& w : st.workers()) {
      if (w.group_id() != g.group_id()) continue;
      const auto& e = w.stats().expert_tokens();
      if (load.size() < static_cast<size_t>(e.size())) load.resize(e.size(), 0);
      for (int i = 0; i < e.size(); ++i) load[i] += e[i];
    }
    uint64_t total = 0, max = 0;
    for (uint64_t v : load) {
      total += v;
      max = std::max(max, v);
    }
    if (load.empty() || total == 0) {
      std::printf("group %llu experts: no expert load reported (a group of one or CUDA workers)\n",
                  static_cast<unsigned long long>(g.group_id()));
      continue;
    }
    const double mean = static_cast<double>(total) / load.size();
    std::vector<int> order(load.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return load[a] > load[b]; });
    std::printf("group %llu experts: %llu assignments over %zu experts, max/mean %.2f; hottest:",
                static_cast<unsigned long long>(g.group_id()),
                static_cast<unsigned long long>(total), load.size(), max / mean);
    for (size_t i = 0; i < std::min<size_t>(8, order.size()); ++i) {
      std::printf(" %d:%llu", order[i], static_cast<unsigned long long>(load[order[i]]));
    }
    std::printf("\n");
    for (size_t i = 0; i < load.size(); i += 16) {
      std::printf("  experts %3zu-%3zu:", i, std::min(load.size(), i + 16) - 1);
      for (size_t j = i; j < std::min(load.size(), i + 16); ++j) {
        std::printf(" %6llu", static_cast<unsigned long long>(load[j]));
      }
      std::printf("\n");
    }
  }
}

int Status(std::vector<std::string> args) {
  const auto experts_flag = std::find(args.begin(), args.end(), "--experts");
  const bool experts = experts_flag != args.end();
  if (experts) args.erase(experts_flag);
  auto target = ParseAdminTarget(args, 1, nullptr);
  if (!target.ok()) {
    std::fprintf(stderr, "r1ctl status: %s\n", std::string(target.status().message()).c_str());
    return 2;
  }
  const std::string& address = target->address;
  r1::v1::ClusterStatusResponse st;
  grpc::Status s = target->stub->ClusterStatus(target->Context(5).get(), {}, &st);
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", address.c_str(), s.error_message().c_str());
    return 1;
  }
  std::printf("model %s, group size %u, %d workers, %d groups\n", st.model().c_str(),
              st.group_size(), st.workers_size(), st.groups_size());
  for (const auto& w : st.workers()) {
    std::printf(
        "worker %s %s group %llu rank %u device %s loaded %llu/%llu B running %u "
        "waiting %u kv free %llu/%llu seen %.1fs ago, in a step for %.1fs\n",
        w.worker_id().c_str(), r1::v1::WorkerState_Name(w.state()).c_str(),
        static_cast<unsigned long long>(w.group_id()), w.rank(), w.device_name().c_str(),
        static_cast<unsigned long long>(w.load_progress().bytes_loaded()),
        static_cast<unsigned long long>(w.load_progress().bytes_total()),
        w.stats().running_sequences(), w.stats().waiting_sequences(),
        static_cast<unsigned long long>(w.stats().kv_blocks_free()),
        static_cast<unsigned long long>(w.stats().kv_blocks_total()), w.last_seen_seconds_ago(),
        w.stats().step_busy_ms() / 1000.0);
  }
  for (const auto& g : st.groups()) {
    std::printf("group %llu %s workers [%s] in flight %u served %llu\n",
                static_cast<unsigned long long>(g.group_id()),
                r1::v1::GroupState_Name(g.state()).c_str(),
                absl::StrJoin(g.worker_ids(), ", ").c_str(), g.requests_in_flight(),
                static_cast<unsigned long long>(g.requests_served()));
    for (int r = 0; r < g.placement().ranks_size(); ++r) {
      std::printf("  rank %d experts [%s]\n", r,
                  absl::StrJoin(g.placement().ranks(r).experts(), ",").c_str());
    }
  }
  if (experts) PrintExpertLoad(st);
  return 0;
}

int Drain(const std::vector<std::string>& args) {
  std::vector<std::pair<std::string, std::string>> rest;
  auto target = ParseAdminTarget(args, 1, &rest);
  if (!target.ok()) {
    std::fprintf(stderr, "r1ctl drain: %s\n", std::string(target.status().message()).c_str());
    return 2;
  }
  r1::v1::DrainRequest req;
  for (const auto& [k, v] : rest) {
    uint64_t n = 0;
    if (k == "--group" && absl::SimpleAtoi(v, &n) && n > 0) {
      req.set_group_id(n);
    } else if (k == "--worker" && !v.empty()) {
      req.set_worker_id(v);
    } else if (k == "--timeout" && absl::SimpleAtoi(v, &n) && n > 0 && n <= 3600) {
      req.set_timeout_s(static_cast<uint32_t>(n));
    } else {
      std::fprintf(stderr, "r1ctl drain: bad option %s %s\n", k.c_str(), v.c_str());
      return 2;
    }
  }
  if ((req.group_id() != 0) == !req.worker_id().empty()) {
    std::fprintf(stderr, "r1ctl drain: give exactly one of --group and --worker\n");
    return 2;
  }
  const int wait_s = static_cast<int>(req.timeout_s() == 0 ? 60 : req.timeout_s()) + 30;
  r1::v1::DrainResponse resp;
  grpc::Status s = target->stub->Drain(target->Context(wait_s).get(), req, &resp);
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", target->address.c_str(), s.error_message().c_str());
    return 1;
  }
  if (resp.group_id() != 0) {
    std::printf("group %llu drained and released (%u requests cut at the timeout)\n",
                static_cast<unsigned long long>(resp.group_id()), resp.requests_cut());
  }
  for (const std::string& w : resp.shut_down()) std::printf("worker %s shut down\n", w.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  // `r1ctl SUBCOMMAND --help`: the usage (every subcommand's line), exit 0.
  if (std::find(args.begin() + 1, args.end(), "--help") != args.end() ||
      std::find(args.begin() + 1, args.end(), "-h") != args.end()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args[0] == "check-config" && args.size() == 2) return CheckConfig(args[1]);
  if (args[0] == "inspect" && args.size() == 2) return Inspect(args[1]);
  if (args[0] == "gen-checkpoint") return GenCheckpoint(args);
  if (args[0] == "weights" && args.size() == 2) return Weights(args[1]);
  if (args[0] == "plan" && args.size() >= 2) return Plan(args);
  if (args[0] == "status") return Status(args);
  if (args[0] == "drain") return Drain(args);
  std::fprintf(stderr, "r1ctl: unknown command or wrong arguments\n%s", kUsage);
  return 2;
}
