// ep_moe_bench: the whole expert-parallel MoE exchange of one R1 layer as the CUDA worker runs it
// (CudaEpMoe: plan → counts → FP8 dispatch → local experts → BF16 combine), ranks as threads of
// this process over a device-buffer communicator, with the experts themselves replaced by a
// zero fill so that only the exchange is timed.
//
//   ep_moe_bench --transport=nccl|staged --world=W [--tokens=1,8,32,128,512] [--iters=50]
//
// R1's shapes: hidden 7168, 256 experts in 8 groups, top-8 inside 4 groups per token (random),
// experts placed contiguously (EpPlacement::Contiguous). Prints, per token count, p50/p99 of the
// whole exchange (slowest rank) and the p50 of its phases on rank 0 (counts, dispatch, combine;
// host wall time, each phase ending in a synchronisation). `nccl` needs a GPU per rank, or NCCL
// ≥ 2.30 with NCCL_MULTI_RANK_GPU_ENABLE=1 for ranks sharing a GPU.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/comm/bench_util.h"
#include "worker/backend/cuda_ep_moe.h"

ABSL_FLAG(std::string, transport, "nccl", "nccl or staged (HostStagedCommunicator over Gloo)");
ABSL_FLAG(int, world, 2, "ranks (threads of this process; rank r on GPU r % count)");
ABSL_FLAG(std::string, tokens, "1,8,32,128,512", "tokens per rank, comma-separated");
ABSL_FLAG(int, iters, 50, "timed layers per token count");
ABSL_FLAG(int, warmup, 5, "untimed layers per token count");

namespace r1 {
namespace {

constexpr int kHidden = 7168, kExperts = bench::kR1Experts, kTopK = bench::kR1TopK;
using bench::Check;
using bench::Percentile;

template <typename T>
T* Upload(const std::vector<T>& v) {
  T* d = nullptr;
  Check(cudaMalloc(reinterpret_cast<void**>(&d), std::max<size_t>(v.size(), 1) * sizeof(T)),
        "malloc");
  Check(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
  return d;
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string transport = absl::GetFlag(FLAGS_transport);
  const int world = absl::GetFlag(FLAGS_world), iters = absl::GetFlag(FLAGS_iters),
            warmup = absl::GetFlag(FLAGS_warmup);
  std::vector<int> token_counts;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_tokens), ',')) {
    int t = 0;
    if (!absl::SimpleAtoi(s, &t) || t < 0) {
      std::fprintf(stderr, "bad --tokens entry '%s'\n", std::string(s).c_str());
      return 2;
    }
    token_counts.push_back(t);
  }
  if ((transport != "nccl" && transport != "staged") || world < 1 || world > 64) {
    std::fprintf(stderr, "--transport must be nccl or staged; --world in [1, 64]\n");
    return 2;
  }
  int gpus = 0;
  Check(cudaGetDeviceCount(&gpus), "cudaGetDeviceCount");
  ModelConfig config;
  config.hidden_size = kHidden;
  config.n_routed_experts = kExperts;
  config.num_hidden_layers = 1;
  config.num_experts_per_tok = kTopK;
  const EpPlacement placement = EpPlacement::Contiguous(kExperts, world);
  InMemoryKeyValueStore store;
  // [token count][iteration] per rank: whole exchange; rank 0's phases.
  std::vector<std::vector<std::vector<double>>> total(world);
  std::vector<std::vector<EpExchangeStats>> phases(token_counts.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      Check(cudaSetDevice(r % gpus), "cudaSetDevice");
      std::unique_ptr<Communicator> comm =
          bench::MakeRank(transport, &store, r, world, absl::Seconds(60));
      auto ep = CudaEpMoe::Create(comm.get(), config, placement, false, {});
      Check(ep.status(), "CudaEpMoe::Create");
      cudaStream_t stream;
      Check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
      std::mt19937 rng(17 + r);
      for (size_t ti = 0; ti < token_counts.size(); ++ti) {
        const int n = token_counts[ti];
        const std::vector<int32_t> ids = bench::R1TopKIds(rng, n);
        std::vector<float> weights(static_cast<size_t>(n) * kTopK, 0.125f);
        std::vector<uint16_t> hidden(static_cast<size_t>(n) * kHidden, 0x3f80);
        std::vector<uint8_t> fp8(static_cast<size_t>(n) * kHidden, 0x38);
        std::vector<float> scale(static_cast<size_t>(std::max(n, 1)) * (kHidden / 128), 1.0f);
        DeviceMoeTokens tok;
        tok.tokens = n;
        tok.hidden = Upload(hidden);
        tok.hidden_fp8 = Upload(fp8);
        tok.hidden_scale = Upload(scale);
        tok.hidden_scale_ld = std::max(n, 1);
        tok.topk_ids = Upload(ids);
        tok.topk_weights = Upload(weights);
        tok.top_k = kTopK;
        tok.out = Upload(hidden);
        const LocalExpertsFn zero = [stream](int, const DeviceExpertRows& rows) {
          return cudaMemsetAsync(rows.out, 0, rows.rows * kHidden * 2, stream) == cudaSuccess
                     ? absl::OkStatus()
                     : absl::InternalError("memset");
        };
        std::vector<double> times;
        for (int it = 0; it < warmup + iters; ++it) {
          Check(comm->Barrier(absl::Seconds(60)), "barrier");
          const absl::Time t0 = absl::Now();
          Check((*ep)->Run(0, tok, zero, stream), "CudaEpMoe::Run");
          Check(cudaStreamSynchronize(stream), "sync");
          if (it >= warmup) {
            times.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
            if (r == 0) phases[ti].push_back((*ep)->last_stats());
          }
        }
        total[r].push_back(times);
        for (const void* p :
             {static_cast<const void*>(tok.hidden), static_cast<const void*>(tok.hidden_fp8),
              static_cast<const void*>(tok.hidden_scale), static_cast<const void*>(tok.topk_ids),
              static_cast<const void*>(tok.topk_weights), static_cast<const void*>(tok.out)}) {
          cudaFree(const_cast<void*>(p));
        }
      }
      cudaStreamDestroy(stream);
    });
  }
  for (auto& t : threads) t.join();
  std::printf(
      "ep_moe_bench: CudaEpMoe exchange of one R1 MoE layer (hidden 7168, top-8, FP8 dispatch,"
      " BF16 combine, experts skipped), %s, group of %d on %d GPU(s)\n",
      transport.c_str(), world, std::min(gpus, world));
  std::printf("%8s %12s %12s %12s %12s %12s\n", "tok/rank", "total p50us", "total p99us",
              "counts p50", "dispatch p50", "combine p50");
  for (size_t ti = 0; ti < token_counts.size(); ++ti) {
    std::vector<double> slowest(iters, 0.0);
    for (int r = 0; r < world; ++r) {
      for (int i = 0; i < iters; ++i) slowest[i] = std::max(slowest[i], total[r][ti][i]);
    }
    std::vector<double> c, d, m;
    for (const EpExchangeStats& s : phases[ti]) {
      c.push_back(s.counts_seconds * 1e6);
      d.push_back(s.dispatch_seconds * 1e6);
      m.push_back(s.combine_seconds * 1e6);
    }
    std::printf("%8d %12.1f %12.1f %12.1f %12.1f %12.1f\n", token_counts[ti],
                Percentile(slowest, 0.5), Percentile(slowest, 0.99), Percentile(c, 0.5),
                Percentile(d, 0.5), Percentile(m, 0.5));
  }
  return 0;
}

}  // namespace
}  // namespace r1

int main(int argc, char** argv) { return r1::Main(argc, argv); }
