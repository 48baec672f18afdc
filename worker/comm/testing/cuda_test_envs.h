// Conformance cases (communicator_conformance.h) for the device-buffer communicators: device
// memory for test buffers, NcclCommunicator groups (ranks as threads, rank r on GPU r % count) and
// HostStagedCommunicator over Gloo (every rank on the current GPU), plus the check that says why
// a multi-rank NCCL case cannot run on this machine.
#ifndef R1_WORKER_COMM_TESTING_CUDA_TEST_ENVS_H_
#define R1_WORKER_COMM_TESTING_CUDA_TEST_ENVS_H_

#include <memory>
#include <string>

#include "worker/comm/testing/conformance_case.h"

namespace r1::testing {

// Device memory of the calling thread's current device (stream-ordered allocation on a private
// stream, so that no call synchronises the whole device while other ranks' NCCL kernels wait).
std::shared_ptr<TestMemory> DeviceMemory();
// Pinned host memory (cudaMallocHost).
std::shared_ptr<TestMemory> PinnedMemory();

// Number of visible CUDA devices; 0 when there is none or the driver fails.
int CudaDeviceCount();

// Empty when `world` NCCL ranks can run in this process: at least `world` GPUs, or NCCL ≥ 2.30
// loaded with NCCL_MULTI_RANK_GPU_ENABLE=1 (several ranks on one GPU). Otherwise why not.
std::string NcclMultiRankSkipReason(int world);

// NcclCommunicator, rank r on device r % CudaDeviceCount().
ConformanceCase NcclCase(int world, std::shared_ptr<TestMemory> memory,
                         const std::string& memory_name);
// HostStagedCommunicator over GlooCommunicator (loopback), every rank on device 0.
ConformanceCase HostStagedCase(int world, std::shared_ptr<TestMemory> memory,
                               const std::string& memory_name);

}  // namespace r1::testing

#endif  // R1_WORKER_COMM_TESTING_CUDA_TEST_ENVS_H_
