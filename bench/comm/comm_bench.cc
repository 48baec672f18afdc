// comm_bench: raw expert-parallel exchanges over a device-buffer communicator, ranks as threads
// of this process (rank r on GPU r % count).
//
//   comm_bench --transport=nccl|staged --world=W [--tokens=1,8,32,128,512] [--iters=50]
//
// Per step and rank, as R1's MoE layer would send them: a counts AllToAllV (W int64, host
// buffers: the receiver needs them on the host), a dispatch AllToAllV of 7456 bytes per (token,
// destination rank) record (FP8 row 7168 B + 56 f32 scales + 8 ids + 8 weights) and a combine
// AllToAllV of 7168 × 2 bytes per record back, payloads in device memory. Destinations follow R1's
// routing: each token picks 4 distinct groups of the 8 expert groups (32 experts each) and its
// top-8 experts inside them; experts are placed contiguously, 256 / W per rank; a token goes to
// each destination rank once. Each timed call is host-synchronous; a step's time is the slowest
// rank's. Prints p50/p99 in µs. `staged` is HostStagedCommunicator over Gloo on loopback (every
// rank on GPU 0); `nccl` needs a GPU per rank (NCCL <= 2.29).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/comm/bench_util.h"

ABSL_FLAG(std::string, transport, "nccl", "nccl or staged (HostStagedCommunicator over Gloo)");
ABSL_FLAG(int, world, 2, "ranks (threads of this process)");
ABSL_FLAG(std::string, tokens, "1,8,32,128,512", "tokens per rank, comma-separated");
ABSL_FLAG(int, iters, 50, "timed steps per token count");
ABSL_FLAG(int, warmup, 5, "untimed steps per token count");

namespace r1 {
namespace {

constexpr int kExperts = bench::kR1Experts;
constexpr int kTopK = bench::kR1TopK;
// FP8 row + 56 f32 scales + 8 int32 expert ids + 8 f32 weights.
constexpr int64_t kDispatchBytes = 7168 + 56 * 4 + 8 * 4 + 8 * 4;
static_assert(kDispatchBytes == 7456);
constexpr int64_t kCombineBytes = 7168 * 2;
constexpr absl::Duration kTimeout = absl::Seconds(60);

using bench::Check;
using bench::Percentile;

// Records per destination rank for `tokens` tokens of rank `rank` (R1-like routing; experts
// placed contiguously, a token counted once per destination).
std::vector<int64_t> RouteRecords(int rank, int world, int tokens) {
  std::mt19937 rng(1234 + 7919 * rank + tokens);
  const std::vector<int32_t> ids = bench::R1TopKIds(rng, tokens);
  std::vector<int64_t> records(world, 0);
  for (int t = 0; t < tokens; ++t) {
    std::vector<bool> dest(world, false);
    for (int k = 0; k < kTopK; ++k) dest[ids[t * kTopK + k] / (kExperts / world)] = true;
    for (int p = 0; p < world; ++p) records[p] += dest[p] ? 1 : 0;
  }
  return records;
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string transport = absl::GetFlag(FLAGS_transport);
  const int world = absl::GetFlag(FLAGS_world);
  const int iters = absl::GetFlag(FLAGS_iters);
  const int warmup = absl::GetFlag(FLAGS_warmup);
  std::vector<int> token_counts;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_tokens), ',')) {
    int t = 0;
    if (!absl::SimpleAtoi(s, &t) || t < 0) {
      std::fprintf(stderr, "bad --tokens entry '%s'\n", std::string(s).c_str());
      return 2;
    }
    token_counts.push_back(t);
  }
  if ((transport != "nccl" && transport != "staged") || world < 1 || kExperts % world != 0) {
    std::fprintf(stderr, "--transport must be nccl or staged; --world must divide 256\n");
    return 2;
  }
  int gpus = 0;
  Check(cudaGetDeviceCount(&gpus), "cudaGetDeviceCount");
  const auto device_of = [&](int r) { return transport == "nccl" ? r % gpus : 0; };

  InMemoryKeyValueStore store;
  std::vector<std::unique_ptr<Communicator>> comms(world);
  const auto on_ranks = [&](const std::function<void(int)>& fn) {
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        Check(cudaSetDevice(device_of(r)), "cudaSetDevice");
        fn(r);
      });
    }
    for (auto& t : threads) t.join();
  };
  on_ranks([&](int r) { comms[r] = bench::MakeRank(transport, &store, r, world, kTimeout); });

  std::printf(
      "| W | transport | tokens/rank | records/rank | counts p50 µs | dispatch p50 µs | "
      "dispatch p99 µs | combine p50 µs | combine p99 µs |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (int tokens : token_counts) {
    // times[phase][rank][step]
    std::vector<std::vector<std::vector<double>>> times(
        3, std::vector<std::vector<double>>(world, std::vector<double>(iters)));
    std::vector<int64_t> sent_records(world);
    on_ranks([&](int r) {
      Communicator& c = *comms[r];
      const std::vector<int64_t> mine = RouteRecords(r, world, tokens);
      int64_t total = 0;
      for (int64_t n : mine) total += n;
      sent_records[r] = total;
      // Everything this rank could receive: every peer's tokens, once each.
      const int64_t max_records = static_cast<int64_t>(tokens) * world;
      void* send = nullptr;
      void* recv = nullptr;
      const size_t cap = static_cast<size_t>(std::max<int64_t>(1, max_records) * kCombineBytes);
      Check(cudaMalloc(&send, cap), "cudaMalloc");
      Check(cudaMalloc(&recv, cap), "cudaMalloc");
      Check(cudaMemset(send, 1, cap), "cudaMemset");
      const std::vector<int64_t> ones(world, 1);
      std::vector<int64_t> counts_in(world);
      std::vector<int64_t> sc(world), rc(world), csc(world), crc(world);
      for (int step = -warmup; step < iters; ++step) {
        Check(c.Barrier(kTimeout), "barrier");
        absl::Time t0 = absl::Now();
        Check(c.AllToAllV<int64_t>(mine, ones, absl::MakeSpan(counts_in), ones, kTimeout),
              "counts");
        const absl::Time t1 = absl::Now();
        int64_t in_total = 0, out_total = 0;
        for (int p = 0; p < world; ++p) {
          sc[p] = mine[p] * kDispatchBytes;
          rc[p] = counts_in[p] * kDispatchBytes;
          csc[p] = counts_in[p] * kCombineBytes;
          crc[p] = mine[p] * kCombineBytes;
          in_total += rc[p];
          out_total += sc[p];
        }
        Check(c.AllToAllV<char>(absl::MakeConstSpan(static_cast<const char*>(send), out_total), sc,
                                absl::MakeSpan(static_cast<char*>(recv), in_total), rc, kTimeout),
              "dispatch");
        const absl::Time t2 = absl::Now();
        int64_t cin = 0, cout = 0;
        for (int p = 0; p < world; ++p) {
          cout += csc[p];
          cin += crc[p];
        }
        Check(c.AllToAllV<char>(absl::MakeConstSpan(static_cast<const char*>(send), cout), csc,
                                absl::MakeSpan(static_cast<char*>(recv), cin), crc, kTimeout),
              "combine");
        const absl::Time t3 = absl::Now();
        if (step >= 0) {
          times[0][r][step] = absl::ToDoubleMicroseconds(t1 - t0);
          times[1][r][step] = absl::ToDoubleMicroseconds(t2 - t1);
          times[2][r][step] = absl::ToDoubleMicroseconds(t3 - t2);
        }
      }
      Check(c.Barrier(kTimeout), "barrier");  // no peer still reads from these buffers
      Check(cudaFree(send), "cudaFree");
      Check(cudaFree(recv), "cudaFree");
    });
    // A step's time is its slowest rank's.
    std::vector<std::vector<double>> step_max(3, std::vector<double>(iters, 0.0));
    for (int ph = 0; ph < 3; ++ph) {
      for (int r = 0; r < world; ++r) {
        for (int i = 0; i < iters; ++i) {
          step_max[ph][i] = std::max(step_max[ph][i], times[ph][r][i]);
        }
      }
    }
    int64_t records = 0;
    for (int64_t n : sent_records) records += n;
    std::printf("| %d | %s | %d | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", world,
                transport.c_str(), tokens, static_cast<double>(records) / world,
                Percentile(step_max[0], 0.5), Percentile(step_max[1], 0.5),
                Percentile(step_max[1], 0.99), Percentile(step_max[2], 0.5),
                Percentile(step_max[2], 0.99));
    std::fflush(stdout);
  }
  on_ranks([&](int r) { comms[r].reset(); });
  return 0;
}

}  // namespace
}  // namespace r1

int main(int argc, char** argv) { return r1::Main(argc, argv); }
