// GPU tests (label gpu; one GPU is enough): the Communicator conformance suite over
// NcclCommunicator with one rank (device, pageable and pinned host buffers) and over
// HostStagedCommunicator(Gloo) with 1, 2 and 4 ranks sharing the GPU; then NCCL specifics:
// version and Describe, bootstrap arguments and timeouts, mixed device/host buffers, staging
// buffers growing, Abort while idle. Multi-rank NCCL runs in nccl_communicator_multi_gpu_test.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/comm/host_staged_communicator.h"
#include "worker/comm/nccl_communicator.h"
#include "worker/comm/testing/communicator_conformance.h"
#include "worker/comm/testing/cuda_test_envs.h"

namespace r1 {
namespace {

using ::r1::testing::CommunicatorConformanceTest;
using ::r1::testing::DeviceMemory;
using ::r1::testing::HostMemory;
using ::r1::testing::HostStagedCase;
using ::r1::testing::NcclCase;
using ::r1::testing::PinnedMemory;
using ::r1::testing::TestBuffer;

constexpr absl::Duration kTimeout = absl::Seconds(20);

INSTANTIATE_TEST_SUITE_P(NcclOneRank, CommunicatorConformanceTest,
                         ::testing::Values(NcclCase(1, DeviceMemory(), "Device"),
                                           NcclCase(1, std::make_shared<HostMemory>(), "Host"),
                                           NcclCase(1, PinnedMemory(), "Pinned")),
                         ::r1::testing::ConformanceCaseName);

INSTANTIATE_TEST_SUITE_P(HostStaged, CommunicatorConformanceTest,
                         ::testing::Values(HostStagedCase(1, DeviceMemory(), "Device"),
                                           HostStagedCase(2, DeviceMemory(), "Device"),
                                           HostStagedCase(4, DeviceMemory(), "Device"),
                                           HostStagedCase(2, std::make_shared<HostMemory>(),
                                                          "Host"),
                                           HostStagedCase(2, PinnedMemory(), "Pinned")),
                         ::r1::testing::ConformanceCaseName);

class NcclSingleRankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::r1::testing::CudaDeviceCount() == 0) {
      std::cerr << "[  SKIPPED ] no CUDA device visible" << std::endl;
      GTEST_SKIP() << "no CUDA device visible";
    }
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  }

  std::unique_ptr<NcclCommunicator> MakeOne(const std::string& prefix) {
    NcclCommunicatorOptions o;
    o.connect_timeout = kTimeout;
    auto c = NcclCommunicator::Create(&store_, prefix, 0, 1, o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  InMemoryKeyValueStore store_;
};

TEST_F(NcclSingleRankTest, VersionAndDescribe) {
  const int version = NcclCommunicator::LoadedNcclVersion();
  std::cerr << "loaded NCCL " << NcclCommunicator::VersionString(version) << std::endl;
  EXPECT_GE(version, 22800);  // built against the 2.28 headers; older libraries are not supported
  EXPECT_EQ(NcclCommunicator::VersionString(22809), "2.28.9");
  EXPECT_EQ(NcclCommunicator::VersionString(23007), "2.30.7");
  auto c = MakeOne("describe/");
  ASSERT_NE(c, nullptr);
  const std::string d = c->Describe();
  std::cerr << d << std::endl;
  EXPECT_TRUE(absl::StartsWith(d, "NCCL " + NcclCommunicator::VersionString(version))) << d;
  EXPECT_TRUE(absl::StrContains(d, "rank 0 of 1, device 0")) << d;
  EXPECT_EQ(c->device(), 0);
  EXPECT_TRUE(store_.Get("describe/nccl/uid").ok());
}

TEST_F(NcclSingleRankTest, CreateRejectsBadArguments) {
  NcclCommunicatorOptions o;
  EXPECT_EQ(NcclCommunicator::Create(&store_, "x/", 1, 1, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NcclCommunicator::Create(&store_, "x/", -1, 2, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NcclCommunicator::Create(nullptr, "x/", 0, 1, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.connect_timeout = absl::ZeroDuration();
  EXPECT_EQ(NcclCommunicator::Create(&store_, "x/", 0, 1, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(NcclSingleRankTest, WaitingForTheUniqueIdTimesOut) {
  NcclCommunicatorOptions o;
  o.connect_timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  const absl::Status st = NcclCommunicator::Create(&store_, "no-rank-0/", 1, 2, o).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(NcclSingleRankTest, MixedDeviceAndHostBuffers) {
  auto c = MakeOne("mixed/");
  ASSERT_NE(c, nullptr);
  auto device = DeviceMemory();
  auto pinned = PinnedMemory();
  HostMemory pageable;
  const std::vector<int64_t> n = {5};
  const std::vector<float> values = {1, 2, 3, 4, 5};
  // device → pageable host, pageable host → device, pinned → device.
  TestBuffer<float> dsend(device.get(), values);
  std::vector<float> hrecv(5, 0.0f);
  ASSERT_TRUE(c->AllToAllV<float>(dsend.cspan(), n, absl::MakeSpan(hrecv), n, kTimeout).ok());
  EXPECT_EQ(hrecv, values);
  TestBuffer<float> drecv(device.get(), 5);
  ASSERT_TRUE(c->AllToAllV<float>(values, n, drecv.span(), n, kTimeout).ok());
  EXPECT_EQ(drecv.Get(), values);
  TestBuffer<float> psend(pinned.get(), values);
  TestBuffer<float> drecv2(device.get(), 5);
  ASSERT_TRUE(c->AllGather<float>(psend.cspan(), drecv2.span(), kTimeout).ok());
  EXPECT_EQ(drecv2.Get(), values);
  TestBuffer<int64_t> pdata(pinned.get(), std::vector<int64_t>{7, -7});
  ASSERT_TRUE(c->AllReduce(pdata.span(), ReduceOp::kMax, kTimeout).ok());
  EXPECT_EQ(pdata.Get(), (std::vector<int64_t>{7, -7}));
  EXPECT_TRUE(c->health().ok());
}

TEST_F(NcclSingleRankTest, StagingBuffersGrow) {
  auto c = MakeOne("grow/");
  ASSERT_NE(c, nullptr);
  auto device = DeviceMemory();
  for (size_t bytes : {size_t{1}, size_t{1000}, size_t{1} << 20, size_t{24} << 20, size_t{3}}) {
    std::vector<char> send(bytes);
    for (size_t i = 0; i < bytes; ++i) send[i] = static_cast<char>(i * 7 + bytes);
    const std::vector<int64_t> n = {static_cast<int64_t>(bytes)};
    std::vector<char> recv(bytes, 0);
    ASSERT_TRUE(c->AllToAllV<char>(send, n, absl::MakeSpan(recv), n, kTimeout).ok()) << bytes;
    ASSERT_EQ(recv, send) << bytes;
    TestBuffer<char> dsend(device.get(), send);
    TestBuffer<char> drecv(device.get(), bytes);
    ASSERT_TRUE(c->AllToAllV<char>(dsend.cspan(), n, drecv.span(), n, kTimeout).ok()) << bytes;
    ASSERT_EQ(drecv.Get(), send) << bytes;
  }
}

TEST_F(NcclSingleRankTest, AbortWhileIdleFreesTheCommunicator) {
  auto c = MakeOne("idle-abort/");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Barrier(kTimeout).ok());
  std::thread other([&] { c->Abort(); });
  other.join();
  EXPECT_EQ(c->health().code(), absl::StatusCode::kAborted);
  std::vector<float> v = {1.0f};
  EXPECT_EQ(c->AllReduce(absl::MakeSpan(v), ReduceOp::kSum, kTimeout).code(),
            absl::StatusCode::kAborted);
  c.reset();  // the destructor must not touch the freed NCCL communicator
}

TEST_F(NcclSingleRankTest, DeviceMemoryOfAnotherDeviceIsInvalidArgument) {
  if (::r1::testing::CudaDeviceCount() < 2) {
    std::cerr << "[  SKIPPED ] needs 2 GPUs, " << ::r1::testing::CudaDeviceCount() << " visible"
              << std::endl;
    GTEST_SKIP() << "needs 2 GPUs";
  }
  auto c = MakeOne("foreign/");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
  auto device = DeviceMemory();
  TestBuffer<float> other(device.get(), std::vector<float>{1.0f});
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  EXPECT_EQ(c->AllReduce(other.span(), ReduceOp::kSum, kTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(c->health().ok());
  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);  // free it on its own device
}

TEST(HostStagedCommunicatorTest, RejectsNullInner) {
  EXPECT_EQ(HostStagedCommunicator::Create(nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace r1
