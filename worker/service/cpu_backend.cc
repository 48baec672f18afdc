#include "worker/service/cpu_backend.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "worker/comm/ep_moe.h"
#include "worker/kv_cache/kv_cache.h"
#include "worker/model/cpu_model.h"
#include "worker/model/dense_cpu_model.h"
#include "worker/model/dense_weights.h"
#include "worker/model/model_weights.h"

namespace r1 {

absl::StatusOr<std::unique_ptr<Communicator>> CpuBackend::Connect(const GroupSpec& group,
                                                                  KeyValueStore* store) {
  ASSIGN_OR_RETURN(std::unique_ptr<GlooCommunicator> gloo,
                   ConnectGloo(group, options_.host, options_.iface, store));
  return std::unique_ptr<Communicator>(std::move(gloo));
}

absl::StatusOr<ShardModel> CpuBackend::Build(const ShardSpec& spec, Communicator* comm,
                                             absl::Duration collective_timeout) {
  RETURN_IF_ERROR(ValidateShardSpec(spec));
  RETURN_IF_ERROR(ValidateSpeculation(spec, kind()));
  if (spec.expert_dtype != r1::v1::WEIGHT_DTYPE_UNSPECIFIED &&
      spec.expert_dtype != r1::v1::WEIGHT_DTYPE_FP8) {
    return absl::UnimplementedError(
        absl::StrCat("assign: expert_dtype ", r1::v1::WeightDtype_Name(spec.expert_dtype),
                     ": the CPU backend runs routed experts as stored in the checkpoint (FP8)"));
  }
  bool bf16_kv = false;
  switch (spec.kv_dtype) {
    case r1::v1::KV_DTYPE_UNSPECIFIED:
    case r1::v1::KV_DTYPE_F32:
      break;
    case r1::v1::KV_DTYPE_BF16:
      bf16_kv = true;
      break;
    default:
      return absl::UnimplementedError(absl::StrCat("assign: kv_dtype ",
                                                   r1::v1::KvDtype_Name(spec.kv_dtype),
                                                   ": the CPU backend caches f32 or bf16 rows"));
  }
  RETURN_IF_ERROR(CheckGroupCommunicator(spec, comm));
  const int64_t budget =
      static_cast<int64_t>(spec.kv_cache_fraction * static_cast<double>(options_.kv_cache_bytes));
  if (spec.dense.has_value()) return BuildDense(spec, bf16_kv, budget);
  LoadOptions lo;
  lo.want_expert = spec.placement.WantExpert(spec.rank);
  lo.load_mtp = spec.speculative_tokens > 0;
  ASSIGN_OR_RETURN(std::unique_ptr<ModelWeights> loaded,
                   LoadModelWeights(spec.config, *spec.source, lo));
  std::shared_ptr<const ModelWeights> weights(std::move(loaded));

  ShardModel shard;
  ModelOptions mo;
  if (comm != nullptr) {
    EpMoeOptions eo;
    eo.timeout = collective_timeout;
    eo.observer = spec.ep_observer;
    ASSIGN_OR_RETURN(std::unique_ptr<EpMoe> ep,
                     EpMoe::Create(comm, spec.config, spec.placement, eo));
    mo.expert_executor = ep.get();
    shard.borrowed = std::shared_ptr<EpMoe>(std::move(ep));
  }
  shard.model = std::make_unique<CpuModel>(weights, mo);
  // f32 host rows; with speculation the engine's cache holds the MTP layer's rows too.
  const int64_t mtp_layers = lo.load_mtp ? shard.model->mtp_layers() : 0;
  const int64_t block_bytes = KvBlockBytesOfRows(
      shard.model->row_size(), spec.config.num_hidden_layers + mtp_layers, sizeof(float));
  shard.kv_blocks = static_cast<int>(std::max<int64_t>(1, budget / block_bytes));
  shard.bf16_kv = bf16_kv;
  shard.description = absl::StrCat(
      "cpu, ", bf16_kv ? "bf16" : "f32", " KV, ",
      comm != nullptr ? "Gloo expert parallelism" : "all experts",
      mtp_layers > 0
          ? absl::StrCat(", MTP module loaded (up to ", spec.speculative_tokens, " draft tokens)")
          : "");
  return shard;
}

absl::StatusOr<ShardModel> CpuBackend::BuildDense(const ShardSpec& spec, bool bf16_kv,
                                                  int64_t kv_budget_bytes) {
  ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> checkpoint, Checkpoint::Open(spec.checkpoint_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<DenseWeights> loaded,
                   LoadDenseWeights(*spec.dense, *checkpoint));
  auto model =
      std::make_unique<DenseCpuModel>(std::shared_ptr<const DenseWeights>(std::move(loaded)));
  // f32 host rows of [K ; V] (2·kv_heads·head_dim values), not DeepSeek's latent rows.
  const int64_t block_bytes =
      KvBlockBytesOfRows(model->row_size(), spec.dense->num_hidden_layers, sizeof(float));
  ShardModel shard;
  shard.kv_blocks = static_cast<int>(std::max<int64_t>(1, kv_budget_bytes / block_bytes));
  shard.model = std::move(model);
  shard.bf16_kv = bf16_kv;
  shard.description = absl::StrCat("cpu, dense ", ArchitectureName(spec.dense->architecture), ", ",
                                   bf16_kv ? "bf16" : "f32", " KV");
  return shard;
}

}  // namespace r1
