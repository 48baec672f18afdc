#include "worker/backend/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/internal/cuda_status.h"
#include "worker/backend/cuda_ep_moe.h"
#include "worker/backend/cuda_model.h"
#include "worker/backend/cuda_weights.h"
#include "worker/backend/dense_cuda_backend.h"
#include "worker/comm/host_staged_communicator.h"
#include "worker/comm/nccl_communicator.h"

namespace r1 {

absl::StatusOr<EpTransport> ParseEpTransport(const std::string& name) {
  if (name == "nccl") return EpTransport::kNccl;
  if (name == "staged") return EpTransport::kHostStaged;
  return absl::InvalidArgumentError(
      absl::StrCat("expert-parallel transport '", name, "': use nccl or staged"));
}

absl::StatusOr<std::unique_ptr<Communicator>> CudaBackend::Connect(const GroupSpec& group,
                                                                   KeyValueStore* store) {
  if (options_.transport == EpTransport::kNccl) {
    NcclCommunicatorOptions no;
    no.connect_timeout = group.connect_timeout;
    ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> nccl,
                     NcclCommunicator::Create(store, group.prefix, group.rank, group.size, no));
    return std::unique_ptr<Communicator>(std::move(nccl));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<GlooCommunicator> gloo,
                   ConnectGloo(group, options_.host, options_.iface, store));
  ASSIGN_OR_RETURN(std::unique_ptr<HostStagedCommunicator> staged,
                   HostStagedCommunicator::Create(std::move(gloo)));
  return std::unique_ptr<Communicator>(std::move(staged));
}

std::optional<int64_t> CudaBackend::DeviceMemoryUsedBytes() const {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();  // not sticky; the metric is skipped this time
    return std::nullopt;
  }
  return static_cast<int64_t>(total_bytes - free_bytes);
}

absl::StatusOr<ShardModel> CudaBackend::Build(const ShardSpec& spec, Communicator* comm,
                                              absl::Duration collective_timeout) {
  RETURN_IF_ERROR(ValidateShardSpec(spec));
  RETURN_IF_ERROR(ValidateSpeculation(spec, kind()));
  if (spec.dense.has_value()) {
    return BuildDenseCudaShard(spec, comm, options_.kv_cache_bytes, options_.cuda_graphs);
  }
  CudaLoadOptions lo;
  switch (spec.expert_dtype) {
    case r1::v1::WEIGHT_DTYPE_UNSPECIFIED:
    case r1::v1::WEIGHT_DTYPE_FP8:
      break;
    case r1::v1::WEIGHT_DTYPE_INT4:
      lo.int4_experts = true;
      break;
    default:
      return absl::UnimplementedError(
          absl::StrCat("assign: expert_dtype ", r1::v1::WeightDtype_Name(spec.expert_dtype),
                       ": the CUDA backend runs routed experts in FP8 or INT4"));
  }
  if (spec.kv_dtype != r1::v1::KV_DTYPE_UNSPECIFIED && spec.kv_dtype != r1::v1::KV_DTYPE_BF16) {
    return absl::UnimplementedError(absl::StrCat("assign: kv_dtype ",
                                                 r1::v1::KvDtype_Name(spec.kv_dtype),
                                                 ": the CUDA backend's latent cache is bf16"));
  }
  RETURN_IF_ERROR(CheckGroupCommunicator(spec, comm));
  lo.want_expert = spec.placement.WantExpert(spec.rank);
  lo.load_mtp = spec.speculative_tokens > 0;
  ASSIGN_OR_RETURN(std::unique_ptr<CudaWeights> loaded,
                   LoadCudaWeights(spec.config, *spec.source, lo));
  std::shared_ptr<const CudaWeights> weights(std::move(loaded));

  ShardModel shard;
  CudaModelOptions mo;
  mo.decode_graphs = options_.cuda_graphs;
  if (comm != nullptr) {
    CudaEpMoeOptions eo;
    eo.timeout = collective_timeout;
    eo.dispatch_bf16 = options_.dispatch_bf16;
    eo.observer = spec.ep_observer;
    if (comm->stream_ordered()) eo.fixed_capacity_max_tokens = options_.fixed_capacity_max_tokens;
    ASSIGN_OR_RETURN(std::unique_ptr<CudaEpMoe> ep,
                     CudaEpMoe::Create(comm, spec.config, spec.placement, lo.int4_experts, eo));
    mo.expert_executor = ep.get();
    shard.borrowed = std::shared_ptr<CudaEpMoe>(std::move(ep));
  }
  // The cache: a fraction of what the weights left free, within the configured bound.
  size_t free_bytes = 0, total_bytes = 0;
  RETURN_IF_ERROR(
      kernels::internal::CudaStatus(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo"));
  // bf16 device rows; with speculation the cache holds the MTP layer's rows too.
  const int64_t mtp_layers = static_cast<int64_t>(weights->mtp.size());
  const int64_t block_bytes =
      KvBlockBytesOfRows(spec.config.kv_lora_rank + spec.config.qk_rope_head_dim,
                         spec.config.num_hidden_layers + mtp_layers, 2);
  const int64_t budget = std::min<int64_t>(
      options_.kv_cache_bytes,
      static_cast<int64_t>(spec.kv_cache_fraction * static_cast<double>(free_bytes)));
  if (budget < block_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("CUDA backend: ", free_bytes >> 20,
                     " MiB free after the weights leave no room for one KV "
                     "block (",
                     block_bytes, " bytes) at kv_cache_fraction ", spec.kv_cache_fraction));
  }
  shard.kv_blocks = static_cast<int>(std::min<int64_t>(budget / block_bytes, 1 << 30));
  ASSIGN_OR_RETURN(std::unique_ptr<CudaModel> model,
                   CudaModel::Create(std::move(weights), shard.kv_blocks, mo));
  shard.model = std::move(model);
  shard.description = absl::StrCat(
      "cuda, ", lo.int4_experts ? "INT4" : "FP8", " experts, bf16 KV (", shard.kv_blocks,
      " blocks), ",
      comm == nullptr
          ? "all experts local"
          : absl::StrCat("expert parallelism over ",
                         options_.transport == EpTransport::kNccl ? "NCCL" : "host-staged Gloo",
                         ", ", options_.dispatch_bf16 || lo.int4_experts ? "BF16" : "FP8",
                         " dispatch"),
      mtp_layers > 0
          ? absl::StrCat(", MTP module loaded (up to ", spec.speculative_tokens, " draft tokens)")
          : "");
  return shard;
}

}  // namespace r1
