// Helpers shared by the bench/comm programs: fatal checks, percentiles, R1-like routing and the
// communicator of one rank (ranks are threads of the bench process).
#ifndef R1_BENCH_COMM_BENCH_UTIL_H_
#define R1_BENCH_COMM_BENCH_UTIL_H_

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/comm/host_staged_communicator.h"
#include "worker/comm/key_value_store.h"
#include "worker/comm/nccl_communicator.h"

namespace r1::bench {

inline constexpr int kR1Experts = 256, kR1Groups = 8, kR1TopGroups = 4, kR1TopK = 8;

// Exits the process with a message on error (benches have no caller to return to). Ranks are
// threads: std::exit from one would run static destructors under the others (a crash instead of
// the message), so this flushes and leaves with _Exit.
[[noreturn]] inline void Fail(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(nullptr);
  std::_Exit(1);
}
inline void Check(const absl::Status& st, const char* what) {
  if (!st.ok()) Fail(std::string(what) + ": " + st.ToString());
}
inline void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) Fail(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}

inline double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

// R1-like routing of `tokens` tokens: each picks 4 distinct of the 8 expert groups (32 experts
// each) and its top-8 experts inside them. [tokens][8] expert ids.
inline std::vector<int32_t> R1TopKIds(std::mt19937& rng, int tokens) {
  constexpr int per_group = kR1Experts / kR1Groups;
  std::vector<int32_t> ids;
  std::vector<int> groups(kR1Groups), candidates;
  for (int t = 0; t < tokens; ++t) {
    for (int g = 0; g < kR1Groups; ++g) groups[g] = g;
    std::shuffle(groups.begin(), groups.end(), rng);
    candidates.clear();
    for (int i = 0; i < kR1TopGroups; ++i) {
      for (int e = 0; e < per_group; ++e) candidates.push_back(groups[i] * per_group + e);
    }
    std::shuffle(candidates.begin(), candidates.end(), rng);
    ids.insert(ids.end(), candidates.begin(), candidates.begin() + kR1TopK);
  }
  return ids;
}

// Rank `rank` of `world` over `transport` ("nccl", or "staged": HostStagedCommunicator over
// Gloo), on the CUDA device current on the calling thread.
inline std::unique_ptr<Communicator> MakeRank(const std::string& transport, KeyValueStore* store,
                                              int rank, int world, absl::Duration timeout) {
  if (transport == "nccl") {
    NcclCommunicatorOptions o;
    o.connect_timeout = timeout;
    auto c = NcclCommunicator::Create(store, "bench/", rank, world, o);
    Check(c.status(), "NcclCommunicator::Create");
    if (rank == 0) std::fprintf(stderr, "%s\n", (*c)->Describe().c_str());
    return std::move(*c);
  }
  GlooOptions o;
  o.rank = rank;
  o.size = world;
  o.prefix = "bench/";
  o.connect_timeout = timeout;
  auto gloo = GlooCommunicator::Create(o, store);
  Check(gloo.status(), "GlooCommunicator::Create");
  auto c = HostStagedCommunicator::Create(std::move(*gloo));
  Check(c.status(), "HostStagedCommunicator::Create");
  return std::move(*c);
}

}  // namespace r1::bench

#endif  // R1_BENCH_COMM_BENCH_UTIL_H_
