// CudaBackend: the Backend of `r1-worker --device=cuda` (one GPU, the current CUDA device) —
// CudaModel with CudaEpMoe as its expert executor, the latent KV cache (bf16) in device memory,
// and the group's communicator over one of two transports:
//   * kNccl: NcclCommunicator (NCCL's host API; one GPU per rank, or several ranks per GPU with
//     NCCL ≥ 2.30 and NCCL_MULTI_RANK_GPU_ENABLE=1);
//   * kHostStaged: Gloo over TCP with device buffers staged through host memory
//     (HostStagedCommunicator) — any number of worker processes on one GPU, and a fallback
//     where NCCL cannot connect.
// KV cache: Assign.kv_cache_fraction of the device memory free after the weights, at most
// `kv_cache_bytes`. Routed experts FP8 (as stored) or INT4 (WEIGHT_DTYPE_INT4, converted at
// load); KV dtypes other than bf16 are refused. With --speculative_tokens (groups of one only,
// ValidateSpeculation) the MTP module is loaded and the cache sized for its layer.
//
// Thread-compatible (one Connect or Build at a time, with the worker's device current).
#ifndef R1_WORKER_BACKEND_CUDA_BACKEND_H_
#define R1_WORKER_BACKEND_CUDA_BACKEND_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "worker/service/backend.h"

namespace r1 {

enum class EpTransport { kNccl, kHostStaged };
// "nccl" or "staged".
absl::StatusOr<EpTransport> ParseEpTransport(const std::string& name);

struct CudaBackendOptions {
  EpTransport transport = EpTransport::kNccl;
  int64_t kv_cache_bytes = int64_t{1} << 40;  // upper bound on the KV cache
  // Host-staged transport only: address bound and advertised for Gloo.
  std::string host = "127.0.0.1";
  std::string iface;
  bool dispatch_bf16 = false;  // dispatch activations in BF16 rather than FP8
  bool cuda_graphs = true;     // CudaModelOptions::decode_graphs
  // CudaEpMoeOptions::fixed_capacity_max_tokens for NCCL groups (0: counted exchanges only; the
  // host-staged transport always counts).
  int64_t fixed_capacity_max_tokens = 0;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(CudaBackendOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "cuda"; }
  r1::v1::DeviceKind kind() const override { return r1::v1::DEVICE_KIND_CUDA; }
  absl::StatusOr<std::unique_ptr<Communicator>> Connect(const GroupSpec& group,
                                                        KeyValueStore* store) override;
  absl::StatusOr<ShardModel> Build(const ShardSpec& spec, Communicator* comm,
                                   absl::Duration collective_timeout) override;
  // cudaMemGetInfo on the current device: total - free (every process's use of the GPU).
  std::optional<int64_t> DeviceMemoryUsedBytes() const override;

 private:
  CudaBackendOptions options_;
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_CUDA_BACKEND_H_
