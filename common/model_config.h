// ModelConfig: a DeepSeek-V3-architecture model's Hugging Face config.json (spec §1), parsed and
// validated, with the derived dimensions of spec §2.
//
// Parsing never throws: every problem is an InvalidArgument naming the file and the field.
// Unknown fields are ignored. A ModelConfig is a plain value; copy freely, thread-compatible.
#ifndef R1_COMMON_MODEL_CONFIG_H_
#define R1_COMMON_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace r1 {

// Which model family a config describes. ParseModelConfig reads DeepSeek-V3 configs only (the
// default); the dense R1-Distill families (Qwen2, Llama) are parsed by ParseDenseModelConfig
// (common/dense_model_config.h), whose ToModelConfig() fills the fields the engine reads (sizes,
// layers, vocab, context, bos/eos) and leaves the MLA and MoE fields 0.
enum class Architecture { kDeepseekV3, kQwen2, kLlama };

// "DeepseekV3", "Qwen2", "Llama".
const char* ArchitectureName(Architecture a);

struct RopeScaling {
  std::string type;                              // "yarn" (the only one supported)
  double factor = 1.0;                           // s
  int64_t original_max_position_embeddings = 0;  // L_orig
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 1.0;
};

struct QuantizationConfig {
  std::string quant_method;                // "fp8"
  std::string fmt;                         // "e4m3"
  std::vector<int64_t> weight_block_size;  // {128, 128}
  std::string activation_scheme;           // "dynamic"
};

struct ModelConfig {
  Architecture architecture = Architecture::kDeepseekV3;
  // Informational.
  std::vector<std::string> architectures;
  std::string model_type;
  std::string torch_dtype;
  std::string transformers_version;
  bool use_cache = true;
  double initializer_range = 0.02;
  double attention_dropout = 0.0;
  int64_t ep_size = 1;
  int64_t num_key_value_heads = 0;

  // Sizes (spec §1 names).
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t moe_intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  int64_t n_routed_experts = 0;
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  std::string topk_method;
  std::string scoring_func;
  bool norm_topk_prob = true;
  double routed_scaling_factor = 1.0;
  int64_t num_attention_heads = 0;
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool attention_bias = false;
  std::string hidden_act;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;  // absent: plain RoPE
  int64_t max_position_embeddings = 0;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 1;
  std::optional<int64_t> pad_token_id;
  bool tie_word_embeddings = false;
  int64_t num_nextn_predict_layers = 0;
  std::optional<QuantizationConfig> quantization_config;  // absent: unquantized checkpoint

  // Derived dimensions (spec §2).
  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  int64_t q_b_out() const { return num_attention_heads * qk_head_dim(); }
  int64_t kv_a_out() const { return kv_lora_rank + qk_rope_head_dim; }
  int64_t kv_b_out() const { return num_attention_heads * (qk_nope_head_dim + v_head_dim); }
  int64_t o_proj_in() const { return num_attention_heads * v_head_dim; }
  int64_t eh_proj_in() const { return 2 * hidden_size; }
  int64_t experts_per_group() const { return n_routed_experts / n_group; }
  int64_t shared_expert_width() const { return n_shared_experts * moe_intermediate_size; }
  bool is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
  bool is_fp8() const { return quantization_config.has_value(); }
};

// Parses config.json text. `source` names the file in error messages.
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text,
                                             absl::string_view source = "config.json");

// Reads and parses a config.json file (bounded to 1 MiB).
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

// Checks that the values describe a model r1serve can run (positive sizes, divisibility, the
// routing and quantization variants of DeepSeek-V3). Called by ParseModelConfig.
absl::Status ValidateModelConfig(const ModelConfig& c, absl::string_view source);

}  // namespace r1

#endif  // R1_COMMON_MODEL_CONFIG_H_
