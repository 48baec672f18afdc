// Multi-rank NCCL tests (label gpu-multi): the Communicator conformance suite over
// NcclCommunicator with 2 and 4 ranks as threads of this process (device and host buffers), a
// larger exchange, and a collective that times out because one rank never calls it. Every test
// needs one GPU per rank, or NCCL >= 2.30 with NCCL_MULTI_RANK_GPU_ENABLE=1 to put several ranks
// on one GPU; otherwise it is skipped, saying why on stderr.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "worker/comm/nccl_communicator.h"
#include "worker/comm/testing/communicator_conformance.h"
#include "worker/comm/testing/cuda_test_envs.h"

namespace r1 {
namespace {

using ::r1::testing::CommunicatorConformanceTest;
using ::r1::testing::DeviceMemory;
using ::r1::testing::HostMemory;
using ::r1::testing::NcclCase;
using ::r1::testing::TestBuffer;

constexpr absl::Duration kTimeout = absl::Seconds(20);

INSTANTIATE_TEST_SUITE_P(NcclMultiRank, CommunicatorConformanceTest,
                         ::testing::Values(NcclCase(2, DeviceMemory(), "Device"),
                                           NcclCase(2, std::make_shared<HostMemory>(), "Host"),
                                           NcclCase(4, DeviceMemory(), "Device"),
                                           NcclCase(4, std::make_shared<HostMemory>(), "Host")),
                         ::r1::testing::ConformanceCaseName);

// Ranks as threads, rank r on GPU r % count.
class NcclGroupTest : public ::testing::Test {
 protected:
  void Require(int world) {
    const std::string why = ::r1::testing::NcclMultiRankSkipReason(world);
    if (!why.empty()) {
      std::cerr << "[  SKIPPED ] " << why << std::endl;
      GTEST_SKIP() << why;
    }
  }
  static void OnRanks(int world, const std::function<void(int)>& fn) {
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        ASSERT_EQ(cudaSetDevice(r % ::r1::testing::CudaDeviceCount()), cudaSuccess);
        fn(r);
      });
    }
    for (auto& t : threads) t.join();
  }
  std::vector<std::unique_ptr<NcclCommunicator>> MakeGroup(int world, const std::string& prefix) {
    std::vector<std::unique_ptr<NcclCommunicator>> g(world);
    OnRanks(world, [&](int r) {
      NcclCommunicatorOptions o;
      o.connect_timeout = kTimeout;
      auto c = NcclCommunicator::Create(&store_, prefix, r, world, o);
      ASSERT_TRUE(c.ok()) << c.status();
      std::cerr << (*c)->Describe() << std::endl;
      g[r] = std::move(*c);
    });
    return g;
  }
  void Destroy(std::vector<std::unique_ptr<NcclCommunicator>>& g) {
    OnRanks(static_cast<int>(g.size()), [&](int r) { g[r].reset(); });
  }

  InMemoryKeyValueStore store_;
};

// Dispatch-sized blocks (7456 bytes per record, a few hundred records per peer) in device memory.
TEST_F(NcclGroupTest, LargeAllToAllV) {
  const int W = 2;
  Require(W);
  auto g = MakeGroup(W, "large/");
  for (const auto& c : g) ASSERT_NE(c, nullptr);
  auto device = DeviceMemory();
  OnRanks(W, [&](int r) {
    std::vector<int64_t> sc(W), rc(W);
    for (int p = 0; p < W; ++p) {
      sc[p] = 7456 * (100 + 37 * r + 11 * p);
      rc[p] = 7456 * (100 + 37 * p + 11 * r);
    }
    std::vector<uint8_t> send;
    for (int p = 0; p < W; ++p) {
      for (int64_t i = 0; i < sc[p]; ++i) send.push_back(static_cast<uint8_t>(r * 31 + p * 7 + i));
    }
    int64_t rtotal = 0;
    for (int64_t n : rc) rtotal += n;
    TestBuffer<uint8_t> dsend(device.get(), send);
    TestBuffer<uint8_t> drecv(device.get(), rtotal);
    for (int round = 0; round < 3; ++round) {
      ASSERT_TRUE(g[r]->AllToAllV<uint8_t>(dsend.cspan(), sc, drecv.span(), rc, kTimeout).ok());
    }
    const std::vector<uint8_t> got = drecv.Get();
    size_t k = 0;
    for (int p = 0; p < W; ++p) {
      for (int64_t i = 0; i < rc[p]; ++i, ++k) {
        ASSERT_EQ(got[k], static_cast<uint8_t>(p * 31 + r * 7 + i)) << "from " << p << " at " << i;
      }
    }
  });
  Destroy(g);
}

// One rank never calls: the waiting rank gets DeadlineExceeded once its timeout has passed (not
// much later), the error is sticky, and the silent rank's later call does not hang either.
TEST_F(NcclGroupTest, TimedOutCollectiveIsDeadlineExceededAndSticky) {
  const int W = 2;
  Require(W);
  auto g = MakeGroup(W, "timeout/");
  for (const auto& c : g) ASSERT_NE(c, nullptr);
  const absl::Duration timeout = absl::Milliseconds(700);
  auto device = DeviceMemory();
  OnRanks(W, [&](int r) {
    if (r != 0) return;
    TestBuffer<float> v(device.get(), std::vector<float>{1.0f});
    const absl::Time start = absl::Now();
    const absl::Status st = g[0]->AllReduce(v.span(), ReduceOp::kSum, timeout);
    const absl::Duration took = absl::Now() - start;
    EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
    EXPECT_GE(took, timeout - absl::Milliseconds(50));
    EXPECT_LT(took, timeout + absl::Seconds(2)) << st;
    EXPECT_EQ(g[0]->health().code(), absl::StatusCode::kDeadlineExceeded);
    const absl::Time start2 = absl::Now();
    EXPECT_EQ(g[0]->Barrier(kTimeout).code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_LT(absl::Now() - start2, absl::Milliseconds(100));
    g[0]->Abort();  // the first error stays
    EXPECT_EQ(g[0]->health().code(), absl::StatusCode::kDeadlineExceeded);
  });
  OnRanks(W, [&](int r) {
    if (r != 1) return;
    const absl::Time start = absl::Now();
    EXPECT_FALSE(g[1]->Barrier(absl::Milliseconds(500)).ok());
    EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  });
  Destroy(g);
}

}  // namespace
}  // namespace r1
