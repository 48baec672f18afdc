// load_bench: loads one expert-parallel rank's share of a DeepSeek-V3 checkpoint onto the GPU the
// way a CUDA worker does (CheckpointWeightSource → ProgressWeightSource → LoadCudaWeights,
// reading only the rank's routed experts) and reports the load: bytes, seconds, GB/s, and the
// progress lines the worker logs. With a checkpoint of R1's real shapes a few layers deep
// (`r1ctl gen-checkpoint --layers N`) it measures what loading a full-size rank costs per byte;
// run_device_load.sh does both on a GPU machine.
//
//   load_bench --checkpoint DIR [--ranks 8] [--rank 0] [--int4] [--json FILE]
#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/expert_placement.h"
#include "common/model_config.h"
#include "worker/backend/cuda_weights.h"
#include "worker/model/progress_weight_source.h"
#include "worker/model/weight_plan.h"
#include "worker/model/weight_source.h"

ABSL_FLAG(std::string, checkpoint, "", "Hugging Face checkpoint directory (config.json, shards)");
ABSL_FLAG(int, ranks, 8, "expert-parallel group size W");
ABSL_FLAG(int, rank, 0, "the rank whose share is loaded (contiguous placement)");
ABSL_FLAG(bool, int4, false, "routed experts converted to INT4 W4A16 on the device");
ABSL_FLAG(double, report_s, 2.0, "seconds between progress lines");
ABSL_FLAG(std::string, json, "", "also write one JSON line with the result here");

namespace r1 {
namespace {

double GiB(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_checkpoint);
  const int W = absl::GetFlag(FLAGS_ranks), rank = absl::GetFlag(FLAGS_rank);
  auto fail = [](const std::string& what, const absl::Status& st) {
    std::fprintf(stderr, "load_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
    return 1;
  };
  if (dir.empty()) return fail("--checkpoint", absl::InvalidArgumentError("required"));
  if (W < 1 || rank < 0 || rank >= W) {
    return fail("--ranks/--rank", absl::InvalidArgumentError("need 0 <= rank < ranks"));
  }
  auto config = LoadModelConfig(dir + "/config.json");
  if (!config.ok()) return fail("config", config.status());
  const int experts = static_cast<int>(config->n_routed_experts);
  if (absl::Status st = EpPlacement::Contiguous(experts, W).Validate(experts, W); !st.ok()) {
    return fail("placement", st);
  }
  const EpPlacement placement = EpPlacement::Contiguous(experts, W);
  const auto want = placement.WantExpert(rank);
  auto source = CheckpointWeightSource::Open(dir);
  if (!source.ok()) return fail("checkpoint", source.status());
  const WeightPlan plan = PlanWeights(*config);
  const uint64_t share = FetchedBytes(plan, want);
  const uint64_t all = FetchedBytes(plan, nullptr);

  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  size_t free0 = 0, total = 0;
  cudaMemGetInfo(&free0, &total);
  std::printf("load_bench: %s; %s: %lld layers, rank %d of %d reads %.2f of %.2f GiB\n", prop.name,
              dir.c_str(), static_cast<long long>(config->num_hidden_layers), rank, W,
              GiB(static_cast<double>(share)), GiB(static_cast<double>(all)));
  std::fflush(stdout);

  ProgressWeightSource progress(source->get(), share, plan.mtp_first_layer,
                                absl::Seconds(absl::GetFlag(FLAGS_report_s)),
                                [](const LoadProgressReport& r) {
                                  std::printf("  %s\n", DescribeLoadProgress(r).c_str());
                                  std::fflush(stdout);
                                });
  CudaLoadOptions lo;
  lo.int4_experts = absl::GetFlag(FLAGS_int4);
  lo.want_expert = want;
  const absl::Time t0 = absl::Now();
  auto weights = LoadCudaWeights(*config, progress, lo);
  cudaDeviceSynchronize();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  if (!weights.ok()) return fail("load", weights.status());
  size_t free1 = 0;
  cudaMemGetInfo(&free1, &total);
  const LoadProgressReport last = progress.Current();
  std::printf(
      "loaded %.2f GiB read (%.2f GiB on the device, device memory used %.2f GiB) in %.2f s: "
      "%.2f GB/s of checkpoint bytes\n",
      GiB(static_cast<double>(last.bytes_loaded)),
      GiB(static_cast<double>((*weights)->arena.bytes())), GiB(static_cast<double>(free0 - free1)),
      seconds, static_cast<double>(last.bytes_loaded) / seconds / 1e9);
  if (!absl::GetFlag(FLAGS_json).empty()) {
    if (std::FILE* f = std::fopen(absl::GetFlag(FLAGS_json).c_str(), "w")) {
      std::fprintf(f,
                   "{\"gpu\":\"%s\",\"layers\":%lld,\"ranks\":%d,\"rank\":%d,\"int4\":%s,"
                   "\"bytes_read\":%llu,\"device_bytes\":%llu,\"seconds\":%.3f,\"gb_s\":%.3f}\n",
                   prop.name, static_cast<long long>(config->num_hidden_layers), W, rank,
                   lo.int4_experts ? "true" : "false",
                   static_cast<unsigned long long>(last.bytes_loaded),
                   static_cast<unsigned long long>((*weights)->arena.bytes()), seconds,
                   static_cast<double>(last.bytes_loaded) / seconds / 1e9);
      std::fclose(f);
    }
  }
  return 0;
}

}  // namespace
}  // namespace r1

int main(int argc, char** argv) { return r1::Main(argc, argv); }
