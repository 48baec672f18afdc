#include "worker/backend/dense_cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "kernels/internal/cuda_status.h"
#include "worker/backend/dense_cuda_model.h"
#include "worker/backend/dense_cuda_weights.h"

namespace r1 {

absl::StatusOr<ShardModel> BuildDenseCudaShard(const ShardSpec& spec, Communicator* comm,
                                               int64_t kv_cache_bytes, bool decode_graphs) {
  if (!spec.dense.has_value()) {
    return absl::InvalidArgumentError("BuildDenseCudaShard: not a dense assignment");
  }
  if (spec.kv_dtype != r1::v1::KV_DTYPE_UNSPECIFIED && spec.kv_dtype != r1::v1::KV_DTYPE_BF16) {
    return absl::UnimplementedError(absl::StrCat("assign: kv_dtype ",
                                                 r1::v1::KvDtype_Name(spec.kv_dtype),
                                                 ": the CUDA backend's dense K/V cache is bf16"));
  }
  RETURN_IF_ERROR(CheckGroupCommunicator(spec, comm));
  const DenseModelConfig& c = *spec.dense;
  RETURN_IF_ERROR(CheckDenseCudaShapes(c));
  ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> checkpoint, Checkpoint::Open(spec.checkpoint_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<DenseCudaWeights> loaded, LoadDenseCudaWeights(c, *checkpoint));
  checkpoint.reset();  // unmapped: the weights are on the device

  size_t free_bytes = 0, total_bytes = 0;
  RETURN_IF_ERROR(
      kernels::internal::CudaStatus(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo"));
  const int64_t block_bytes = KvBlockBytesOfRows(c.kv_row(), c.num_hidden_layers, 2);
  const int64_t budget = std::min<int64_t>(
      kv_cache_bytes,
      static_cast<int64_t>(spec.kv_cache_fraction * static_cast<double>(free_bytes)));
  if (budget < block_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("CUDA backend: ", free_bytes >> 20,
                     " MiB free after the weights leave no room for one KV "
                     "block (",
                     block_bytes, " bytes) at kv_cache_fraction ", spec.kv_cache_fraction));
  }
  ShardModel shard;
  shard.kv_blocks = static_cast<int>(std::min<int64_t>(budget / block_bytes, 1 << 30));
  ASSIGN_OR_RETURN(
      std::unique_ptr<DenseCudaModel> model,
      DenseCudaModel::Create(std::shared_ptr<const DenseCudaWeights>(std::move(loaded)),
                             shard.kv_blocks, decode_graphs));
  shard.model = std::move(model);
  shard.description = absl::StrCat("cuda, dense ", ArchitectureName(c.architecture),
                                   ", bf16 weights, bf16 KV (", shard.kv_blocks, " blocks)");
  return shard;
}

}  // namespace r1
