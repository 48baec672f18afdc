// ServedModelConfig: a checkpoint's config.json as serving reads it, whatever its family. The
// `architectures` field decides: Qwen2ForCausalLM / LlamaForCausalLM are parsed as dense models
// (DenseModelConfig, dense_model_config.h), anything else as DeepSeek-V3 (ModelConfig,
// model_config.h, whose parser refuses what it cannot run). Both binaries read the model through
// it: the coordinator for the vocabulary, context, experts and EOS ids, the worker at Assign.
//
// A plain value; copy freely, thread-compatible.
#ifndef R1_COMMON_SERVED_MODEL_CONFIG_H_
#define R1_COMMON_SERVED_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/dense_model_config.h"
#include "common/model_config.h"

namespace r1 {

struct ServedModelConfig {
  // DeepSeek-V3's config, or a dense model's DenseModelConfig::ToModelConfig() (no experts).
  ModelConfig config;
  std::optional<DenseModelConfig> dense;  // set for Qwen2 / Llama
  // config.json's eos_token_id, one id or a list (DeepSeek-V3: one); generation ends on any.
  std::vector<int64_t> eos_token_ids;

  bool is_dense() const { return dense.has_value(); }
};

// Parses config.json text; `source` names the file in error messages.
absl::StatusOr<ServedModelConfig> ParseServedModelConfig(absl::string_view json_text,
                                                         absl::string_view source = "config.json");
// Reads and parses a config.json file (bounded to 1 MiB).
absl::StatusOr<ServedModelConfig> LoadServedModelConfig(const std::string& path);

}  // namespace r1

#endif  // R1_COMMON_SERVED_MODEL_CONFIG_H_
