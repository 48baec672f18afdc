// The CUDA backend's build of a dense (Qwen2 / Llama) assignment: DenseCudaModel on the current
// device with its weights from spec.checkpoint_dir and a bf16 K/V cache sized like the latent
// cache of CudaBackend (kv_cache_fraction of the memory free after the weights, at most
// `kv_cache_bytes`). A group of one rank only (ValidateShardSpec); kv_dtype unspecified or bf16.
#ifndef R1_WORKER_BACKEND_DENSE_CUDA_BACKEND_H_
#define R1_WORKER_BACKEND_DENSE_CUDA_BACKEND_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "worker/service/backend.h"

namespace r1 {

// `spec.dense` must be set. `comm` must be null (a group of one). `decode_graphs`: as
// DenseCudaModel::Create's.
absl::StatusOr<ShardModel> BuildDenseCudaShard(const ShardSpec& spec, Communicator* comm,
                                               int64_t kv_cache_bytes, bool decode_graphs = true);

}  // namespace r1

#endif  // R1_WORKER_BACKEND_DENSE_CUDA_BACKEND_H_
