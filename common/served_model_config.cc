#include "common/served_model_config.h"

#include "common/file_util.h"
#include "common/status_macros.h"

namespace r1 {

absl::StatusOr<ServedModelConfig> ParseServedModelConfig(absl::string_view json_text,
                                                         absl::string_view source) {
  ServedModelConfig out;
  // Qwen2 / Llama name themselves; anything else (no `architectures`, an unknown name) is read,
  // and refused with the DeepSeek parser's own errors, as DeepSeek-V3.
  const absl::StatusOr<Architecture> architecture = DetectArchitecture(json_text, source);
  if (architecture.ok() && *architecture != Architecture::kDeepseekV3) {
    ASSIGN_OR_RETURN(DenseModelConfig dense, ParseDenseModelConfig(json_text, source));
    out.config = dense.ToModelConfig();
    out.eos_token_ids = dense.eos_token_ids;
    out.dense = std::move(dense);
    return out;
  }
  ASSIGN_OR_RETURN(out.config, ParseModelConfig(json_text, source));
  out.eos_token_ids = {out.config.eos_token_id};
  return out;
}

absl::StatusOr<ServedModelConfig> LoadServedModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 1 << 20));
  return ParseServedModelConfig(text, path);
}

}  // namespace r1
