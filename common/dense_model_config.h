// DenseModelConfig: a dense decoder's Hugging Face config.json — the R1-Distill families,
// `Qwen2ForCausalLM` (R1-Distill-Qwen 1.5B/7B/14B/32B) and `LlamaForCausalLM` (R1-Distill-Llama
// 8B/70B) — parsed and validated: GQA attention (Qwen2 with q/k/v biases), SwiGLU MLP, RMSNorm,
// rotate-half RoPE with θ from the config and optional Llama-3.1 `rope_scaling` (llama3).
//
// Parsing never throws: every problem is an InvalidArgument naming the file and the field.
// Unknown fields are ignored. A plain value; copy freely, thread-compatible.
#ifndef R1_COMMON_DENSE_MODEL_CONFIG_H_
#define R1_COMMON_DENSE_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/model_config.h"

namespace r1 {

// Llama-3.1 frequency scaling (`"rope_type": "llama3"`): wavelengths above
// original_max_position_embeddings / low_freq_factor are divided by `factor`, those below
// original / high_freq_factor kept, the band between interpolated.
struct Llama3RopeScaling {
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 0;
};

struct DenseModelConfig {
  Architecture architecture = Architecture::kQwen2;  // kQwen2 or kLlama
  std::vector<std::string> architectures;
  std::string model_type;
  std::string torch_dtype;

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // absent in the file: = num_attention_heads
  int64_t head_dim = 0;             // absent in the file: = hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::optional<Llama3RopeScaling> rope_scaling;  // absent: plain RoPE
  int64_t max_position_embeddings = 0;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 0;            // the first of eos_token_ids
  std::vector<int64_t> eos_token_ids;  // `eos_token_id` may be one id or a list
  bool tie_word_embeddings = false;    // lm_head = embed_tokens (no lm_head.weight needed)
  bool qkv_bias = false;               // Qwen2: always; Llama: `attention_bias`
  bool o_bias = false;                 // Llama: `attention_bias`
  std::string hidden_act = "silu";

  int64_t q_width() const { return num_attention_heads * head_dim; }
  int64_t kv_width() const { return num_key_value_heads * head_dim; }
  int64_t group_size() const { return num_attention_heads / num_key_value_heads; }
  // One token's cached K and V of one layer: [K (kv_width) ; V (kv_width)].
  int64_t kv_row() const { return 2 * kv_width(); }

  // The engine's view (layers, vocab, context, bos/eos, sizes, `architecture`); the MLA and MoE
  // fields stay 0, so nothing DeepSeek-specific can run on it by accident.
  ModelConfig ToModelConfig() const;
};

// Parses config.json text of a Qwen2ForCausalLM or LlamaForCausalLM model. `source` names the
// file in error messages.
absl::StatusOr<DenseModelConfig> ParseDenseModelConfig(absl::string_view json_text,
                                                       absl::string_view source = "config.json");

// Reads and parses a config.json file (bounded to 1 MiB).
absl::StatusOr<DenseModelConfig> LoadDenseModelConfig(const std::string& path);

// Checks that the values describe a model the dense CPU model can run. Called by the parser.
absl::Status ValidateDenseModelConfig(const DenseModelConfig& c, absl::string_view source);

// The family named by a config.json's `architectures` (first recognised entry): kDeepseekV3,
// kQwen2 or kLlama; InvalidArgument naming the file when none is recognised. Checks nothing else.
absl::StatusOr<Architecture> DetectArchitecture(absl::string_view json_text,
                                                absl::string_view source = "config.json");

}  // namespace r1

#endif  // R1_COMMON_DENSE_MODEL_CONFIG_H_
