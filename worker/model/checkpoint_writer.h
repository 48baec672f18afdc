// Writes a model's tensors from a WeightSource as a Hugging Face checkpoint directory:
// config.json (verbatim), model-0000k-of-0000n.safetensors shards and
// model.safetensors.index.json. Tensors are dealt to shards round-robin in plan order, so with two
// or more shards every FP8 weight's `weight_scale_inv` sits in a different shard from its weight
// (the case real checkpoints have). Used by `r1ctl gen-checkpoint` and tests.
#ifndef R1_WORKER_MODEL_CHECKPOINT_WRITER_H_
#define R1_WORKER_MODEL_CHECKPOINT_WRITER_H_

#include <string>

#include "absl/status/status.h"
#include "common/model_config.h"
#include "worker/model/weight_source.h"

namespace r1 {

absl::Status WriteCheckpoint(const std::string& config_json, const ModelConfig& config,
                             const WeightSource& source, const std::string& out_dir,
                             int num_shards);

}  // namespace r1

#endif  // R1_WORKER_MODEL_CHECKPOINT_WRITER_H_
