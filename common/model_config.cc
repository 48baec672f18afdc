#include "common/model_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json_field_reader.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace r1 {
namespace {

using json = nlohmann::json;
using internal::FieldReader;

absl::Status ParseRopeScaling(const json& v, absl::string_view source, RopeScaling* rs) {
  if (!v.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field 'rope_scaling': expected an object"));
  }
  FieldReader r(v, source, "rope_scaling.");
  // HF writes "rope_type" in newer configs and "type" in older ones.
  RETURN_IF_ERROR(r.String("type", &rs->type, false));
  if (rs->type.empty()) RETURN_IF_ERROR(r.String("rope_type", &rs->type, false));
  if (rs->type.empty()) return r.Error("type", "missing");
  RETURN_IF_ERROR(r.Double("factor", &rs->factor, true));
  RETURN_IF_ERROR(
      r.Int("original_max_position_embeddings", &rs->original_max_position_embeddings, true));
  RETURN_IF_ERROR(r.Double("beta_fast", &rs->beta_fast, false));
  RETURN_IF_ERROR(r.Double("beta_slow", &rs->beta_slow, false));
  RETURN_IF_ERROR(r.Double("mscale", &rs->mscale, false));
  RETURN_IF_ERROR(r.Double("mscale_all_dim", &rs->mscale_all_dim, false));
  return absl::OkStatus();
}

absl::Status ParseQuantization(const json& v, absl::string_view source, QuantizationConfig* q) {
  if (!v.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field 'quantization_config': expected an object"));
  }
  FieldReader r(v, source, "quantization_config.");
  RETURN_IF_ERROR(r.String("quant_method", &q->quant_method, true));
  RETURN_IF_ERROR(r.String("fmt", &q->fmt, false));
  RETURN_IF_ERROR(r.IntList("weight_block_size", &q->weight_block_size, true));
  RETURN_IF_ERROR(r.String("activation_scheme", &q->activation_scheme, false));
  return absl::OkStatus();
}

}  // namespace

const char* ArchitectureName(Architecture a) {
  switch (a) {
    case Architecture::kDeepseekV3:
      return "DeepseekV3";
    case Architecture::kQwen2:
      return "Qwen2";
    case Architecture::kLlama:
      return "Llama";
  }
  return "unknown";
}

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text,
                                             absl::string_view source) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": top level must be a JSON object"));
  }
  ModelConfig c;
  FieldReader r(root, source);
  RETURN_IF_ERROR(r.StringList("architectures", &c.architectures));
  for (const std::string& a : c.architectures) {
    if (a == "Qwen2ForCausalLM" || a == "LlamaForCausalLM") {
      return r.Error("architectures", absl::StrCat("'", a,
                                                   "' is a dense model: parse it with "
                                                   "ParseDenseModelConfig, not as DeepSeek-V3"));
    }
  }
  RETURN_IF_ERROR(r.String("model_type", &c.model_type, false));
  RETURN_IF_ERROR(r.String("torch_dtype", &c.torch_dtype, false));
  RETURN_IF_ERROR(r.String("transformers_version", &c.transformers_version, false));
  RETURN_IF_ERROR(r.Bool("use_cache", &c.use_cache, false));
  RETURN_IF_ERROR(r.Double("initializer_range", &c.initializer_range, false));
  RETURN_IF_ERROR(r.Double("attention_dropout", &c.attention_dropout, false));
  RETURN_IF_ERROR(r.Int("ep_size", &c.ep_size, false));
  RETURN_IF_ERROR(r.Int("num_key_value_heads", &c.num_key_value_heads, false));

  RETURN_IF_ERROR(r.Int("vocab_size", &c.vocab_size, true));
  RETURN_IF_ERROR(r.Int("hidden_size", &c.hidden_size, true));
  RETURN_IF_ERROR(r.Int("intermediate_size", &c.intermediate_size, true));
  RETURN_IF_ERROR(r.Int("moe_intermediate_size", &c.moe_intermediate_size, true));
  RETURN_IF_ERROR(r.Int("num_hidden_layers", &c.num_hidden_layers, true));
  RETURN_IF_ERROR(r.Int("first_k_dense_replace", &c.first_k_dense_replace, false));
  RETURN_IF_ERROR(r.Int("moe_layer_freq", &c.moe_layer_freq, false));
  RETURN_IF_ERROR(r.Int("n_routed_experts", &c.n_routed_experts, true));
  RETURN_IF_ERROR(r.Int("n_shared_experts", &c.n_shared_experts, false));
  RETURN_IF_ERROR(r.Int("num_experts_per_tok", &c.num_experts_per_tok, true));
  RETURN_IF_ERROR(r.Int("n_group", &c.n_group, false));
  RETURN_IF_ERROR(r.Int("topk_group", &c.topk_group, false));
  RETURN_IF_ERROR(r.String("topk_method", &c.topk_method, false));
  RETURN_IF_ERROR(r.String("scoring_func", &c.scoring_func, false));
  RETURN_IF_ERROR(r.Bool("norm_topk_prob", &c.norm_topk_prob, false));
  RETURN_IF_ERROR(r.Double("routed_scaling_factor", &c.routed_scaling_factor, false));
  RETURN_IF_ERROR(r.Int("num_attention_heads", &c.num_attention_heads, true));
  RETURN_IF_ERROR(r.Int("q_lora_rank", &c.q_lora_rank, true));
  RETURN_IF_ERROR(r.Int("kv_lora_rank", &c.kv_lora_rank, true));
  RETURN_IF_ERROR(r.Int("qk_nope_head_dim", &c.qk_nope_head_dim, true));
  RETURN_IF_ERROR(r.Int("qk_rope_head_dim", &c.qk_rope_head_dim, true));
  RETURN_IF_ERROR(r.Int("v_head_dim", &c.v_head_dim, true));
  RETURN_IF_ERROR(r.Bool("attention_bias", &c.attention_bias, false));
  RETURN_IF_ERROR(r.String("hidden_act", &c.hidden_act, false));
  RETURN_IF_ERROR(r.Double("rms_norm_eps", &c.rms_norm_eps, false));
  RETURN_IF_ERROR(r.Double("rope_theta", &c.rope_theta, false));
  if (const json* rs = r.Find("rope_scaling")) {
    RopeScaling scaling;
    RETURN_IF_ERROR(ParseRopeScaling(*rs, source, &scaling));
    c.rope_scaling = scaling;
  }
  RETURN_IF_ERROR(r.Int("max_position_embeddings", &c.max_position_embeddings, true));
  RETURN_IF_ERROR(r.Int("bos_token_id", &c.bos_token_id, false));
  RETURN_IF_ERROR(r.Int("eos_token_id", &c.eos_token_id, false));
  if (r.Find("pad_token_id") != nullptr) {
    int64_t pad = 0;
    RETURN_IF_ERROR(r.Int("pad_token_id", &pad, true));
    c.pad_token_id = pad;
  }
  RETURN_IF_ERROR(r.Bool("tie_word_embeddings", &c.tie_word_embeddings, false));
  RETURN_IF_ERROR(r.Int("num_nextn_predict_layers", &c.num_nextn_predict_layers, false));
  if (const json* q = r.Find("quantization_config")) {
    QuantizationConfig qc;
    RETURN_IF_ERROR(ParseQuantization(*q, source, &qc));
    c.quantization_config = qc;
  }
  RETURN_IF_ERROR(ValidateModelConfig(c, source));
  return c;
}

absl::Status ValidateModelConfig(const ModelConfig& c, absl::string_view source) {
  auto err = [&](absl::string_view field, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field '", field, "': ", what));
  };
  using internal::NamedSize;
  RETURN_IF_ERROR(internal::CheckPositive(
      source,
      {NamedSize{"vocab_size", c.vocab_size}, NamedSize{"hidden_size", c.hidden_size},
       NamedSize{"intermediate_size", c.intermediate_size},
       NamedSize{"moe_intermediate_size", c.moe_intermediate_size},
       NamedSize{"num_hidden_layers", c.num_hidden_layers},
       NamedSize{"num_attention_heads", c.num_attention_heads},
       NamedSize{"q_lora_rank", c.q_lora_rank}, NamedSize{"kv_lora_rank", c.kv_lora_rank},
       NamedSize{"qk_nope_head_dim", c.qk_nope_head_dim},
       NamedSize{"qk_rope_head_dim", c.qk_rope_head_dim}, NamedSize{"v_head_dim", c.v_head_dim},
       NamedSize{"max_position_embeddings", c.max_position_embeddings},
       NamedSize{"moe_layer_freq", c.moe_layer_freq}, NamedSize{"n_group", c.n_group},
       NamedSize{"topk_group", c.topk_group}}));
  RETURN_IF_ERROR(internal::CheckAtMost(
      source,
      {NamedSize{"vocab_size", c.vocab_size}, NamedSize{"hidden_size", c.hidden_size},
       NamedSize{"intermediate_size", c.intermediate_size},
       NamedSize{"moe_intermediate_size", c.moe_intermediate_size},
       NamedSize{"num_attention_heads", c.num_attention_heads},
       NamedSize{"q_lora_rank", c.q_lora_rank}, NamedSize{"kv_lora_rank", c.kv_lora_rank},
       NamedSize{"qk_nope_head_dim", c.qk_nope_head_dim},
       NamedSize{"qk_rope_head_dim", c.qk_rope_head_dim}, NamedSize{"v_head_dim", c.v_head_dim},
       NamedSize{"n_routed_experts", c.n_routed_experts}},
      int64_t{1} << 24));
  if (c.num_hidden_layers > 4096) return err("num_hidden_layers", "too large");
  if (c.qk_rope_head_dim % 2 != 0) return err("qk_rope_head_dim", "must be even");
  if (c.first_k_dense_replace < 0 || c.first_k_dense_replace > c.num_hidden_layers) {
    return err("first_k_dense_replace", "must be in [0, num_hidden_layers]");
  }
  if (c.n_routed_experts < 0) return err("n_routed_experts", "must be >= 0");
  if (c.n_shared_experts < 0) return err("n_shared_experts", "must be >= 0");
  if (c.num_nextn_predict_layers < 0 || c.num_nextn_predict_layers > 16) {
    return err("num_nextn_predict_layers", "must be in [0, 16]");
  }
  if (c.n_routed_experts > 0) {
    if (c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.n_routed_experts) {
      return err("num_experts_per_tok", "must be in [1, n_routed_experts]");
    }
    if (c.n_routed_experts % c.n_group != 0) {
      return err("n_group",
                 absl::StrCat("must divide n_routed_experts (", c.n_routed_experts, ")"));
    }
    if (c.topk_group > c.n_group) return err("topk_group", "must be <= n_group");
    if (c.topk_group * c.experts_per_group() < c.num_experts_per_tok) {
      return err("topk_group", "kept groups hold fewer experts than num_experts_per_tok");
    }
    if (!c.topk_method.empty() && c.topk_method != "noaux_tc") {
      return err("topk_method", absl::StrCat("unsupported '", c.topk_method, "' (want noaux_tc)"));
    }
    if (!c.scoring_func.empty() && c.scoring_func != "sigmoid") {
      return err("scoring_func", absl::StrCat("unsupported '", c.scoring_func, "' (want sigmoid)"));
    }
  }
  if (!c.hidden_act.empty() && c.hidden_act != "silu") {
    return err("hidden_act", absl::StrCat("unsupported '", c.hidden_act, "' (want silu)"));
  }
  if (c.attention_bias) return err("attention_bias", "attention biases are not supported");
  if (!(c.rms_norm_eps > 0.0 && c.rms_norm_eps < 1.0))
    return err("rms_norm_eps", "must be in (0, 1)");
  if (!(c.rope_theta > 0.0)) return err("rope_theta", "must be > 0");
  if (c.vocab_size <= c.bos_token_id || c.bos_token_id < 0) {
    return err("bos_token_id", "must be a valid token id");
  }
  if (c.vocab_size <= c.eos_token_id || c.eos_token_id < 0) {
    return err("eos_token_id", "must be a valid token id");
  }
  if (c.rope_scaling) {
    const RopeScaling& rs = *c.rope_scaling;
    if (rs.type != "yarn") {
      return err("rope_scaling.type", absl::StrCat("unsupported '", rs.type, "' (want yarn)"));
    }
    if (!(rs.factor >= 1.0)) return err("rope_scaling.factor", "must be >= 1");
    if (rs.original_max_position_embeddings <= 0) {
      return err("rope_scaling.original_max_position_embeddings", "must be > 0");
    }
    if (!(rs.beta_fast > 0.0) || !(rs.beta_slow > 0.0)) {
      return err("rope_scaling.beta_fast", "beta_fast and beta_slow must be > 0");
    }
  }
  if (c.quantization_config) {
    const QuantizationConfig& q = *c.quantization_config;
    if (q.quant_method != "fp8") {
      return err("quantization_config.quant_method",
                 absl::StrCat("unsupported '", q.quant_method, "' (want fp8)"));
    }
    if (!q.fmt.empty() && q.fmt != "e4m3") {
      return err("quantization_config.fmt", absl::StrCat("unsupported '", q.fmt, "' (want e4m3)"));
    }
    if (q.weight_block_size != std::vector<int64_t>{128, 128}) {
      return err("quantization_config.weight_block_size", "must be [128, 128]");
    }
    if (!q.activation_scheme.empty() && q.activation_scheme != "dynamic") {
      return err("quantization_config.activation_scheme", "must be dynamic");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 1 << 20));
  return ParseModelConfig(text, path);
}

}  // namespace r1
