#include "worker/comm/testing/cuda_test_envs.h"

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/comm/host_staged_communicator.h"
#include "worker/comm/nccl_communicator.h"

namespace r1::testing {
namespace {

// Aborts the test binary on a CUDA error in the test harness itself.
void Check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    std::cerr << "CUDA error in test harness (" << what << "): " << cudaGetErrorString(err)
              << std::endl;
    std::abort();
  }
}

// Runs `fn(stream)` on a fresh non-blocking stream of the current device and waits for it.
template <typename Fn>
void OnPrivateStream(Fn&& fn, const char* what) {
  cudaStream_t s = nullptr;
  Check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), what);
  fn(s);
  Check(cudaStreamSynchronize(s), what);
  Check(cudaStreamDestroy(s), what);
}

class DeviceTestMemory final : public TestMemory {
 public:
  std::string name() const override { return "device"; }
  void* Alloc(size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    OnPrivateStream([&](cudaStream_t s) { Check(cudaMallocAsync(&p, bytes, s), "alloc"); },
                    "alloc");
    return p;
  }
  void Free(void* p) override {
    if (p == nullptr) return;
    OnPrivateStream([&](cudaStream_t s) { Check(cudaFreeAsync(p, s), "free"); }, "free");
  }
  void Upload(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    OnPrivateStream(
        [&](cudaStream_t s) {
          Check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "upload");
        },
        "upload");
  }
  void Download(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    OnPrivateStream(
        [&](cudaStream_t s) {
          Check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "download");
        },
        "download");
  }
};

class PinnedTestMemory final : public TestMemory {
 public:
  std::string name() const override { return "pinned"; }
  void* Alloc(size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    Check(cudaMallocHost(&p, bytes), "cudaMallocHost");
    return p;
  }
  void Free(void* p) override {
    if (p != nullptr) Check(cudaFreeHost(p), "cudaFreeHost");
  }
  void Upload(void* dst, const void* src, size_t bytes) override {
    if (bytes > 0) std::memcpy(dst, src, bytes);
  }
  void Download(void* dst, const void* src, size_t bytes) override {
    if (bytes > 0) std::memcpy(dst, src, bytes);
  }
};

}  // namespace

std::shared_ptr<TestMemory> DeviceMemory() { return std::make_shared<DeviceTestMemory>(); }
std::shared_ptr<TestMemory> PinnedMemory() { return std::make_shared<PinnedTestMemory>(); }

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

std::string NcclMultiRankSkipReason(int world) {
  const int gpus = CudaDeviceCount();
  if (gpus >= world) return "";
  const int version = NcclCommunicator::LoadedNcclVersion();
  const char* env = std::getenv("NCCL_MULTI_RANK_GPU_ENABLE");
  const bool env_on = env != nullptr && std::string(env) == "1";
  if (gpus >= 1 && version >= 23000 && env_on) return "";
  return absl::StrCat(world, " NCCL ranks need ", world, " GPUs but ", gpus,
                      " are visible, and several ranks on one GPU need NCCL >= 2.30 (loaded: ",
                      version > 0 ? NcclCommunicator::VersionString(version) : "none",
                      ") with NCCL_MULTI_RANK_GPU_ENABLE=1 (",
                      env == nullptr ? "unset" : absl::StrCat("set to '", env, "'"), ")");
}

namespace {

class CudaStreams final : public TestStreams {
 public:
  void* Create() override {
    cudaStream_t s = nullptr;
    Check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream create");
    return s;
  }
  void Synchronize(void* s) override {
    Check(cudaStreamSynchronize(static_cast<cudaStream_t>(s)), "stream synchronize");
  }
  void Destroy(void* s) override {
    Check(cudaStreamDestroy(static_cast<cudaStream_t>(s)), "stream destroy");
  }
};

}  // namespace

ConformanceCase NcclCase(int world, std::shared_ptr<TestMemory> memory,
                         const std::string& memory_name) {
  ConformanceCase c;
  c.name = absl::StrCat("NcclW", world, memory_name);
  c.world = world;
  c.memory = std::move(memory);
  c.enter_rank = [](int rank) {
    const int gpus = CudaDeviceCount();
    Check(cudaSetDevice(gpus > 0 ? rank % gpus : 0), "cudaSetDevice");
  };
  c.create = [](KeyValueStore* store, const std::string& prefix, int rank, int size,
                absl::Duration connect_timeout) -> absl::StatusOr<std::unique_ptr<Communicator>> {
    NcclCommunicatorOptions o;
    o.connect_timeout = connect_timeout;
    auto comm = NcclCommunicator::Create(store, prefix, rank, size, o);
    if (!comm.ok()) return comm.status();
    return std::unique_ptr<Communicator>(std::move(*comm));
  };
  c.streams = std::make_shared<CudaStreams>();
  c.abort_wakes_peers = false;  // P2P / shared memory: peers fail by their own timeouts
  c.abort_wakes_own_call = true;
  c.skip_reason = [world] {
    if (CudaDeviceCount() == 0) return std::string("no CUDA device visible");
    return world > 1 ? NcclMultiRankSkipReason(world) : std::string();
  };
  return c;
}

ConformanceCase HostStagedCase(int world, std::shared_ptr<TestMemory> memory,
                               const std::string& memory_name) {
  ConformanceCase c;
  c.name = absl::StrCat("HostStagedGlooW", world, memory_name);
  c.world = world;
  c.memory = std::move(memory);
  c.enter_rank = [](int) { Check(cudaSetDevice(0), "cudaSetDevice"); };
  c.create = [](KeyValueStore* store, const std::string& prefix, int rank, int size,
                absl::Duration connect_timeout) -> absl::StatusOr<std::unique_ptr<Communicator>> {
    GlooOptions o;
    o.rank = rank;
    o.size = size;
    o.prefix = prefix;
    o.connect_timeout = connect_timeout;
    auto gloo = GlooCommunicator::Create(o, store);
    if (!gloo.ok()) return gloo.status();
    auto staged = HostStagedCommunicator::Create(std::move(*gloo));
    if (!staged.ok()) return staged.status();
    return std::unique_ptr<Communicator>(std::move(*staged));
  };
  c.abort_wakes_peers = true;  // Gloo's
  c.abort_wakes_own_call = false;
  c.skip_reason = [] {
    return CudaDeviceCount() > 0 ? std::string() : std::string("no CUDA device visible");
  };
  return c;
}

}  // namespace r1::testing
