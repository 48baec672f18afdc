// Dense decode step of DenseCudaModel at R1-Distill shapes (default: R1-Distill-Qwen-7B,
// tests/fixtures/r1-distill-qwen-7b-config.json) on synthetic weights made on the device, at
// batch 1, 8, 32 and 64 with every sequence at `--context` cached positions (2048): one
// ForwardAndChoose (greedy, on the device) per step, timed on the host from launch to chosen
// ids (what the Engine sees). Prints ms/step, tok/s, the weight bytes read per second, and the
// step's HBM floor — (weights + the batch's K/V rows) / HBM bandwidth of this GPU
// (bench/serving/r1_rank/phase_floors.h: H200 measured 4.21 TB/s, H100 datasheet 3.35 TB/s) —
// as a fraction of the measured time.
//
//   dense_decode_bench [--config=PATH] [--context=N] [--steps=N] [--graphs=0|1]
//
// Decode steps run as CUDA graphs (after 3 untimed steps: warm-up, capture, replay) unless
// --graphs=0, which launches every kernel of every step.
//
// The cache holds zeros (allocation zeroes it): attention reads the same bytes as with real
// keys. The weights' values mean nothing; only their shapes and bytes do.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "bench/kernels/bench_util.h"
#include "bench/serving/r1_rank/phase_floors.h"
#include "common/dense_model_config.h"
#include "kernels/gqa_attend/gqa_attend.h"
#include "kernels/internal/cuda_status.h"
#include "worker/backend/dense_cuda_model.h"

namespace r1 {
namespace {

int Run(int argc, char** argv) {
  std::string config_path = "tests/fixtures/r1-distill-qwen-7b-config.json";
  int64_t context = 2048;
  int steps = 20;
  bool graphs = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a.rfind("--context=", 0) == 0) {
      context = std::stoll(a.substr(10));
    } else if (a.rfind("--steps=", 0) == 0) {
      steps = std::stoi(a.substr(8));
    } else if (a == "--graphs=0" || a == "--graphs=1") {
      graphs = a.back() == '1';
    } else {
      std::fprintf(stderr, "usage: %s [--config=PATH] [--context=N] [--steps=N] [--graphs=0|1]\n",
                   argv[0]);
      return 2;
    }
  }
  auto c = LoadDenseModelConfig(config_path);
  bench::Check(c.status(), "config");
  bench::PrintDevice();
  cudaDeviceProp prop{};
  bench::Check(cudaGetDeviceProperties(&prop, 0), "props");
  const DeviceCeilings ceil = CeilingsForDevice(prop.name);
  const std::vector<int> batches = {1, 8, 32, 64};
  const int max_batch = *std::max_element(batches.begin(), batches.end());
  const int64_t pages = (context + kernels::kGqaPageTokens - 1) / kernels::kGqaPageTokens;
  const int kv_blocks = static_cast<int>(pages * max_batch);

  const auto t0 = std::chrono::steady_clock::now();
  auto w = SynthesizeDenseCudaWeights(*c, 1);
  bench::Check(w.status(), "synthetic weights");
  const int64_t weight_bytes = (*w)->StepWeightBytes();
  auto m = DenseCudaModel::Create(std::shared_ptr<const DenseCudaWeights>(std::move(*w)), kv_blocks,
                                  graphs);
  bench::Check(m.status(), "model");
  DenseCudaModel& model = **m;
  const double setup_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t kv_row_bytes = c->kv_row() * 2 * c->num_hidden_layers;  // one position, all layers
  std::printf("# %s: %s, %lld layers, hidden %lld, heads %lld/%lld × %lld, vocab %lld\n",
              config_path.c_str(), ArchitectureName(c->architecture),
              static_cast<long long>(c->num_hidden_layers), static_cast<long long>(c->hidden_size),
              static_cast<long long>(c->num_attention_heads),
              static_cast<long long>(c->num_key_value_heads), static_cast<long long>(c->head_dim),
              static_cast<long long>(c->vocab_size));
  std::printf(
      "# weights %.2f GB read per step (bf16), KV %.1f KB per cached position; "
      "setup %.1f s; HBM ceiling %.2f TB/s (%s); %s\n",
      weight_bytes / 1e9, kv_row_bytes / 1e3, setup_s, ceil.hbm_bytes_per_s / 1e12, ceil.source,
      graphs ? "CUDA graphs" : "launched");
  std::printf("%6s %8s %10s %10s %12s %12s %10s %9s\n", "batch", "context", "ms/step", "tok/s",
              "weights TB/s", "total TB/s", "floor ms", "of floor");

  PagedKvCache cache(static_cast<int>(c->num_hidden_layers), kv_blocks, model.row_size(),
                     /*bf16_values=*/true, /*hold_rows=*/false);
  const TokenChoiceSpec greedy;
  for (int B : batches) {
    std::vector<KvSequence> kv(B);
    for (KvSequence& s : kv) bench::Check(cache.Reserve(&s, context), "reserve");
    std::vector<ForwardItem> items(B);
    std::vector<TokenChoice> chosen;
    auto step = [&] {
      for (int i = 0; i < B; ++i) {
        kv[i].length = context - 1;
        items[i] = ForwardItem{
            &kv[i], {(i * 7919 + 11) % static_cast<int>(c->vocab_size)}, context - 1, false};
        items[i].choose = &greedy;
      }
      bench::Check(model.ForwardAndChoose(items, cache, c->vocab_size, &chosen), "step");
    };
    for (int i = 0; i < 3; ++i) step();
    std::vector<double> ms;
    for (int i = 0; i < steps; ++i) {
      const auto a = std::chrono::steady_clock::now();
      step();
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(ms.begin(), ms.end());
    const double t = ms[ms.size() / 2] / 1e3;
    const double kv_bytes = static_cast<double>(B) * context * kv_row_bytes;
    const double floor_s = (weight_bytes + kv_bytes) / ceil.hbm_bytes_per_s;
    std::printf("%6d %8lld %10.3f %10.1f %12.3f %12.3f %10.3f %9.3f\n", B,
                static_cast<long long>(context), t * 1e3, B / t, weight_bytes / t / 1e12,
                (weight_bytes + kv_bytes) / t / 1e12, floor_s * 1e3, floor_s / t);
    for (KvSequence& s : kv) cache.Release(&s);
  }
  return 0;
}

}  // namespace
}  // namespace r1

int main(int argc, char** argv) { return r1::Run(argc, argv); }
