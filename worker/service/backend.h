// Backend: everything a worker needs to know about its device, in one place (DESIGN.md §7). The
// worker picks its backend once, at start (--device), and from then on builds every assignment
// through it: the group's communicator (Connect) and this rank's model with its expert-parallel
// executor injected and its KV cache sized (Build). The CPU backend (cpu_backend.h: Gloo,
// CpuModel, EpMoe) and the CUDA backend (worker/backend/cuda_backend.h: NCCL or host-staged
// Gloo, CudaModel, CudaEpMoe) implement it; nothing else in the worker names a backend.
#ifndef R1_WORKER_SERVICE_BACKEND_H_
#define R1_WORKER_SERVICE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/dense_model_config.h"
#include "common/expert_placement.h"
#include "common/model_config.h"
#include "r1/v1/cluster.pb.h"
#include "worker/comm/communicator.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/comm/key_value_store.h"
#include "worker/model/ep_exchange_stats.h"
#include "worker/model/forward_model.h"
#include "worker/model/weight_source.h"

namespace r1 {

// One rank's share of an engine group, as the Assign message describes it (the one source of
// truth: every field is honoured or refused).
struct ShardSpec {
  ModelConfig config;                    // a dense model's: dense->ToModelConfig()
  const WeightSource* source = nullptr;  // borrowed for Build; unused (may be null) when dense
  // Set for a dense model (Qwen2 / Llama): its config, and the checkpoint directory its weights
  // are read from (LoadDenseWeights reads the safetensors files; the dtype comes from the file).
  // A dense model has no routed experts, so it runs in groups of one rank only.
  std::optional<DenseModelConfig> dense;
  std::string checkpoint_dir;
  int rank = 0;
  int group_size = 1;
  EpPlacement placement;  // validated against config and group_size
  r1::v1::WeightDtype expert_dtype = r1::v1::WEIGHT_DTYPE_UNSPECIFIED;  // unspecified: FP8
  r1::v1::KvDtype kv_dtype = r1::v1::KV_DTYPE_UNSPECIFIED;  // unspecified: the backend's own
  double kv_cache_fraction = 0.9;                           // (0, 1]
  int64_t max_model_len = 0;                                // tokens; 0: the model's context
  // MTP speculative decoding (r1-worker --speculative_tokens): > 0 loads the checkpoint's MTP
  // module (LoadOptions::load_mtp) and sizes the KV cache for its layer. ValidateSpeculation
  // says where it is supported.
  int speculative_tokens = 0;
  // Told about every expert-parallel exchange (groups of several ranks). Nullable; borrowed,
  // must outlive the model.
  EpExchangeObserver* ep_observer = nullptr;
};

// The group's data plane.
struct GroupSpec {
  int rank = 0;
  int size = 1;
  std::string prefix;  // rendezvous key prefix, unique per group formation
  absl::Duration connect_timeout = absl::Seconds(300);
};

// What Build returns. Members are destroyed in reverse order: the model first, then what it
// borrows (its expert executor).
struct ShardModel {
  std::shared_ptr<void> borrowed;
  std::unique_ptr<ForwardModel> model;
  int kv_blocks = 0;
  bool bf16_kv = false;     // host cache rows rounded to bf16 (CPU backend)
  std::string description;  // for logs: dtypes, cache size, transport
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu" or "cuda"
  virtual r1::v1::DeviceKind kind() const = 0;
  // Joins the group's communicator through `store` (borrowed for the call).
  virtual absl::StatusOr<std::unique_ptr<Communicator>> Connect(const GroupSpec& group,
                                                                KeyValueStore* store) = 0;
  // Loads this rank's share (the routed experts its placement gives it, every other weight) and
  // builds its model. `comm` (borrowed, outlives the model) is the group's communicator; null
  // for a group of one. Refuses, naming the field, what the backend cannot honour.
  virtual absl::StatusOr<ShardModel> Build(const ShardSpec& spec, Communicator* comm,
                                           absl::Duration collective_timeout) = 0;
  // Device memory in use, for metrics; nullopt where there is no device (CPU).
  virtual std::optional<int64_t> DeviceMemoryUsedBytes() const { return std::nullopt; }
};

// Checks the parts of a spec every backend checks: rank, group size, placement, fraction,
// context length against the model; FailedPrecondition for a dense model in a group of several
// ranks.
absl::Status ValidateShardSpec(const ShardSpec& spec);
// The most draft tokens per sequence and step r1-worker accepts (--speculative_tokens).
inline constexpr int kMaxSpeculativeTokens = 3;

// The --speculative_tokens flag on its own: InvalidArgument outside [0, kMaxSpeculativeTokens];
// FailedPrecondition for k > 0 on a backend other than the CPU's and the CUDA one's.
absl::Status ValidateSpeculativeTokens(int k, r1::v1::DeviceKind device);
// An assignment with spec.speculative_tokens > 0: ValidateSpeculativeTokens, then
// FailedPrecondition, naming why, for a dense model and a checkpoint without an MTP layer
// (num_nextn_predict_layers == 0). Expert-parallel CPU groups speculate (the MTP layer's experts
// are placed and exchanged like every MoE layer's); that every rank uses the same k is checked
// when the group forms (GroupLink::CheckSameOnEveryRank). CUDA workers speculate in groups of
// one only (CudaEpMoe does not exchange the MTP layer's experts): FailedPrecondition otherwise.
absl::Status ValidateSpeculation(const ShardSpec& spec, r1::v1::DeviceKind device);

// InvalidArgument unless `comm` (nullable) is the group's: null for a group of one, else of the
// spec's size with the spec's rank.
absl::Status CheckGroupCommunicator(const ShardSpec& spec, const Communicator* comm);

// Bytes of one KV cache block over all layers: kBlockTokens latent rows of
// kv_lora_rank + qk_rope_head_dim values of `value_bytes` each, per layer.
int64_t KvBlockBytes(const ModelConfig& config, int64_t value_bytes);
// Bytes of one KV cache block of any model: kBlockTokens rows of `row_size` values (the
// ForwardModel's row_size(); a dense model's 2·kv_heads·head_dim) per layer.
int64_t KvBlockBytesOfRows(int64_t row_size, int64_t num_layers, int64_t value_bytes);

// The group's Gloo communicator over TCP, bound to `host` (or the interface `iface` when set).
absl::StatusOr<std::unique_ptr<GlooCommunicator>> ConnectGloo(const GroupSpec& group,
                                                              const std::string& host,
                                                              const std::string& iface,
                                                              KeyValueStore* store);

}  // namespace r1

#endif  // R1_WORKER_SERVICE_BACKEND_H_
