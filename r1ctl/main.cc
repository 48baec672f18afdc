// r1ctl: command-line tool for operators.
//   r1ctl check-config FILE         parse and validate a config.json, print its dimensions
//   r1ctl inspect DIR               open a checkpoint (index + shards), list tensors and bytes
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/model_config.h"
#include "common/safetensors.h"

namespace {

constexpr char kUsage[] =
    "usage: r1ctl COMMAND ...\n"
    "  check-config FILE   parse and validate a Hugging Face config.json\n"
    "  inspect DIR         open a safetensors checkpoint and list its tensors\n";

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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "check-config" && args.size() == 2) return CheckConfig(args[1]);
  if (args[0] == "inspect" && args.size() == 2) return Inspect(args[1]);
  std::fprintf(stderr, "r1ctl: unknown command or wrong arguments\n%s", kUsage);
  return 2;
}
