#include "common/dense_model_config.h"

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json_field_reader.h"
#include "common/status_macros.h"

namespace r1 {
namespace {

using internal::FieldReader;
using internal::json;

std::optional<Architecture> ArchitectureOf(const std::string& name) {
  if (name == "Qwen2ForCausalLM") return Architecture::kQwen2;
  if (name == "LlamaForCausalLM") return Architecture::kLlama;
  if (name == "DeepseekV3ForCausalLM") return Architecture::kDeepseekV3;
  return std::nullopt;
}

absl::Status ParseLlama3Scaling(const json& v, absl::string_view source,
                                std::optional<Llama3RopeScaling>* out) {
  if (!v.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field 'rope_scaling': expected an object"));
  }
  FieldReader r(v, source, "rope_scaling.");
  std::string type;
  RETURN_IF_ERROR(r.String("rope_type", &type, false));
  if (type.empty()) RETURN_IF_ERROR(r.String("type", &type, false));
  if (type.empty()) return r.Error("rope_type", "missing");
  if (type == "default") return absl::OkStatus();  // plain RoPE
  if (type != "llama3") {
    return r.Error("rope_type", absl::StrCat("unsupported '", type, "' (want llama3)"));
  }
  Llama3RopeScaling s;
  RETURN_IF_ERROR(r.Double("factor", &s.factor, true));
  RETURN_IF_ERROR(r.Double("low_freq_factor", &s.low_freq_factor, true));
  RETURN_IF_ERROR(r.Double("high_freq_factor", &s.high_freq_factor, true));
  RETURN_IF_ERROR(
      r.Int("original_max_position_embeddings", &s.original_max_position_embeddings, true));
  *out = s;
  return absl::OkStatus();
}

// `eos_token_id`: one id or a list of ids.
absl::Status ParseEos(const FieldReader& r, DenseModelConfig* c) {
  const json* v = r.Find("eos_token_id");
  if (v == nullptr) return absl::OkStatus();
  if (v->is_array()) {
    RETURN_IF_ERROR(r.IntList("eos_token_id", &c->eos_token_ids, true));
    if (c->eos_token_ids.empty()) return r.Error("eos_token_id", "empty list");
  } else {
    int64_t id = 0;
    RETURN_IF_ERROR(r.Int("eos_token_id", &id, true));
    c->eos_token_ids = {id};
  }
  c->eos_token_id = c->eos_token_ids[0];
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Architecture> DetectArchitecture(absl::string_view json_text,
                                                absl::string_view source) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  FieldReader r(root, source);
  std::vector<std::string> names;
  RETURN_IF_ERROR(r.StringList("architectures", &names));
  for (const std::string& n : names) {
    if (auto a = ArchitectureOf(n)) return *a;
  }
  return r.Error("architectures",
                 "names none of DeepseekV3ForCausalLM, Qwen2ForCausalLM, LlamaForCausalLM");
}

absl::StatusOr<DenseModelConfig> ParseDenseModelConfig(absl::string_view json_text,
                                                       absl::string_view source) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": top level must be a JSON object"));
  }
  DenseModelConfig c;
  FieldReader r(root, source);
  RETURN_IF_ERROR(r.StringList("architectures", &c.architectures));
  std::optional<Architecture> arch;
  for (const std::string& n : c.architectures) {
    arch = ArchitectureOf(n);
    if (arch) break;
  }
  if (!arch || *arch == Architecture::kDeepseekV3) {
    return r.Error("architectures", "want Qwen2ForCausalLM or LlamaForCausalLM");
  }
  c.architecture = *arch;
  RETURN_IF_ERROR(r.String("model_type", &c.model_type, false));
  RETURN_IF_ERROR(r.String("torch_dtype", &c.torch_dtype, false));
  RETURN_IF_ERROR(r.Int("vocab_size", &c.vocab_size, true));
  RETURN_IF_ERROR(r.Int("hidden_size", &c.hidden_size, true));
  RETURN_IF_ERROR(r.Int("intermediate_size", &c.intermediate_size, true));
  RETURN_IF_ERROR(r.Int("num_hidden_layers", &c.num_hidden_layers, true));
  RETURN_IF_ERROR(r.Int("num_attention_heads", &c.num_attention_heads, true));
  c.num_key_value_heads = c.num_attention_heads;
  RETURN_IF_ERROR(r.Int("num_key_value_heads", &c.num_key_value_heads, false));
  if (r.Find("head_dim") != nullptr) {
    RETURN_IF_ERROR(r.Int("head_dim", &c.head_dim, true));
  } else if (c.num_attention_heads > 0) {
    if (c.hidden_size % c.num_attention_heads != 0) {
      return r.Error("num_attention_heads", absl::StrCat("must divide hidden_size (", c.hidden_size,
                                                         ") when head_dim is absent"));
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  RETURN_IF_ERROR(r.Double("rms_norm_eps", &c.rms_norm_eps, false));
  RETURN_IF_ERROR(r.Double("rope_theta", &c.rope_theta, false));
  if (const json* rs = r.Find("rope_scaling")) {
    RETURN_IF_ERROR(ParseLlama3Scaling(*rs, source, &c.rope_scaling));
  }
  RETURN_IF_ERROR(r.Int("max_position_embeddings", &c.max_position_embeddings, true));
  RETURN_IF_ERROR(r.Int("bos_token_id", &c.bos_token_id, false));
  RETURN_IF_ERROR(ParseEos(r, &c));
  RETURN_IF_ERROR(r.Bool("tie_word_embeddings", &c.tie_word_embeddings, false));
  RETURN_IF_ERROR(r.String("hidden_act", &c.hidden_act, false));
  if (c.architecture == Architecture::kQwen2) {
    c.qkv_bias = true;  // Qwen2Attention: q/k/v_proj always carry a bias, o_proj never
    bool sliding = false;
    RETURN_IF_ERROR(r.Bool("use_sliding_window", &sliding, false));
    if (sliding) return r.Error("use_sliding_window", "sliding-window attention is not supported");
  } else {
    bool bias = false, mlp_bias = false;
    RETURN_IF_ERROR(r.Bool("attention_bias", &bias, false));
    RETURN_IF_ERROR(r.Bool("mlp_bias", &mlp_bias, false));
    if (mlp_bias) return r.Error("mlp_bias", "MLP biases are not supported");
    c.qkv_bias = c.o_bias = bias;
    int64_t tp = 1;
    RETURN_IF_ERROR(r.Int("pretraining_tp", &tp, false));
    if (tp != 1) return r.Error("pretraining_tp", "must be 1");
  }
  RETURN_IF_ERROR(ValidateDenseModelConfig(c, source));
  return c;
}

absl::Status ValidateDenseModelConfig(const DenseModelConfig& c, absl::string_view source) {
  auto err = [&](absl::string_view field, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field '", field, "': ", what));
  };
  using internal::NamedSize;
  RETURN_IF_ERROR(internal::CheckPositive(
      source,
      {NamedSize{"vocab_size", c.vocab_size}, NamedSize{"hidden_size", c.hidden_size},
       NamedSize{"intermediate_size", c.intermediate_size},
       NamedSize{"num_hidden_layers", c.num_hidden_layers},
       NamedSize{"num_attention_heads", c.num_attention_heads},
       NamedSize{"num_key_value_heads", c.num_key_value_heads}, NamedSize{"head_dim", c.head_dim},
       NamedSize{"max_position_embeddings", c.max_position_embeddings}}));
  RETURN_IF_ERROR(internal::CheckAtMost(
      source,
      {NamedSize{"vocab_size", c.vocab_size}, NamedSize{"hidden_size", c.hidden_size},
       NamedSize{"intermediate_size", c.intermediate_size},
       NamedSize{"num_attention_heads", c.num_attention_heads}, NamedSize{"head_dim", c.head_dim},
       NamedSize{"max_position_embeddings", c.max_position_embeddings}},
      int64_t{1} << 24));
  if (c.num_hidden_layers > 4096) return err("num_hidden_layers", "too large");
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return err("num_key_value_heads",
               absl::StrCat("must divide num_attention_heads (", c.num_attention_heads, ")"));
  }
  if (c.head_dim % 2 != 0) return err("head_dim", "must be even (RoPE rotates halves)");
  if (c.hidden_act != "silu") {
    return err("hidden_act", absl::StrCat("unsupported '", c.hidden_act, "' (want silu)"));
  }
  if (!(c.rms_norm_eps > 0.0 && c.rms_norm_eps < 1.0)) {
    return err("rms_norm_eps", "must be in (0, 1)");
  }
  if (!(c.rope_theta > 0.0)) return err("rope_theta", "must be > 0");
  if (c.bos_token_id < 0 || c.bos_token_id >= c.vocab_size) {
    return err("bos_token_id", "must be a valid token id");
  }
  for (int64_t id : c.eos_token_ids) {
    if (id < 0 || id >= c.vocab_size) return err("eos_token_id", "must be valid token ids");
  }
  if (c.rope_scaling) {
    const Llama3RopeScaling& s = *c.rope_scaling;
    if (!(s.factor >= 1.0)) return err("rope_scaling.factor", "must be >= 1");
    if (!(s.low_freq_factor > 0.0)) return err("rope_scaling.low_freq_factor", "must be > 0");
    if (!(s.high_freq_factor > s.low_freq_factor)) {
      return err("rope_scaling.high_freq_factor", "must be > low_freq_factor");
    }
    if (s.original_max_position_embeddings <= 0) {
      return err("rope_scaling.original_max_position_embeddings", "must be > 0");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DenseModelConfig> LoadDenseModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 1 << 20));
  return ParseDenseModelConfig(text, path);
}

ModelConfig DenseModelConfig::ToModelConfig() const {
  ModelConfig m;
  m.architecture = architecture;
  m.architectures = architectures;
  m.model_type = model_type;
  m.torch_dtype = torch_dtype;
  m.vocab_size = vocab_size;
  m.hidden_size = hidden_size;
  m.intermediate_size = intermediate_size;
  m.num_hidden_layers = num_hidden_layers;
  m.first_k_dense_replace = num_hidden_layers;
  m.n_routed_experts = 0;
  m.num_attention_heads = num_attention_heads;
  m.num_key_value_heads = num_key_value_heads;
  m.attention_bias = qkv_bias;
  m.hidden_act = hidden_act;
  m.rms_norm_eps = rms_norm_eps;
  m.rope_theta = rope_theta;
  m.max_position_embeddings = max_position_embeddings;
  m.bos_token_id = bos_token_id;
  m.eos_token_id = eos_token_id;
  m.tie_word_embeddings = tie_word_embeddings;
  return m;
}

}  // namespace r1
