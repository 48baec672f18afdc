// Writes a model's tensors from a WeightSource as a Hugging Face checkpoint directory:
// config.json (verbatim), model-0000k-of-0000n.safetensors shards and
// model.safetensors.index.json. Tensors are dealt to shards round-robin in plan order, so with two
// or more shards every FP8 weight's `weight_scale_inv` sits in a different shard from its weight
// (the case real checkpoints have). Shards are written one after the other, streamed: memory holds
// one tensor, so checkpoints of R1's real shapes can be written. Used by `r1ctl gen-checkpoint`
// and tests.
#ifndef R1_WORKER_MODEL_CHECKPOINT_WRITER_H_
#define R1_WORKER_MODEL_CHECKPOINT_WRITER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model_config.h"
#include "worker/model/weight_source.h"

namespace r1 {

// Called after each shard: shards written, of how many, bytes so far; from the writing threads,
// one call at a time. `threads` shards are written at once (WeightSource::Fetch is thread-safe);
// the files are the same whatever the count.
using CheckpointProgress = std::function<void(int shards_done, int shards, uint64_t bytes)>;

absl::Status WriteCheckpoint(const std::string& config_json, const ModelConfig& config,
                             const WeightSource& source, const std::string& out_dir, int num_shards,
                             const CheckpointProgress& progress = {}, int threads = 1);

// `config_json` with num_hidden_layers set to `layers` (1 ≤ layers ≤ its value), no MTP module
// (num_nextn_predict_layers 0) and first_k_dense_replace at most `layers`: a checkpoint of the
// model's real shapes, a few layers deep (R1's first 3 layers are dense, the rest MoE).
absl::StatusOr<std::string> ConfigWithLayers(const std::string& config_json, int layers);

}  // namespace r1

#endif  // R1_WORKER_MODEL_CHECKPOINT_WRITER_H_
