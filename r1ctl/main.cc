// r1ctl: command-line tool for operators.
//   r1ctl check-config FILE         parse and validate a config.json, print its dimensions
//   r1ctl inspect DIR               open a checkpoint (index + shards), list tensors and bytes
//   r1ctl gen-checkpoint --config FILE --out DIR [--seed N] [--shards N]
//                                   write a synthetic HF-format checkpoint for a config
//   r1ctl weights FILE              per-group weight bytes of a config (FP8 and INT4 experts)
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/weight_plan.h"
#include "worker/model/weight_source.h"

namespace {

constexpr char kUsage[] =
    "usage: r1ctl COMMAND ...\n"
    "  check-config FILE   parse and validate a Hugging Face config.json\n"
    "  inspect DIR         open a safetensors checkpoint and list its tensors\n"
    "  gen-checkpoint --config FILE --out DIR [--seed N] [--shards N]\n"
    "                      write a synthetic Hugging Face checkpoint (FP8 block-quantised)\n"
    "  weights FILE        weight bytes of a config by group, FP8 and INT4 routed experts\n";

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
  int shards = 2;
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
  auto config = r1::ParseModelConfig(*text, config_path);
  if (!config.ok()) return Fail(config.status());
  const uint64_t bytes =
      r1::PlanWeights(*config).ComputeTotals(r1::ExpertFormat::kCheckpoint).main_model();
  if (bytes > (4ull << 30)) {
    std::fprintf(stderr, "r1ctl gen-checkpoint: %llu bytes of weights; refusing above 4 GiB\n",
                 static_cast<unsigned long long>(bytes));
    return 1;
  }
  r1::SyntheticWeightSource source(seed);
  if (auto st = r1::WriteCheckpoint(*text, *config, source, out, shards); !st.ok()) return Fail(st);
  std::printf("wrote %s (seed %llu, %d shards)\n", out.c_str(),
              static_cast<unsigned long long>(seed), shards);
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "check-config" && args.size() == 2) return CheckConfig(args[1]);
  if (args[0] == "inspect" && args.size() == 2) return Inspect(args[1]);
  if (args[0] == "gen-checkpoint") return GenCheckpoint(args);
  if (args[0] == "weights" && args.size() == 2) return Weights(args[1]);
  std::fprintf(stderr, "r1ctl: unknown command or wrong arguments\n%s", kUsage);
  return 2;
}
