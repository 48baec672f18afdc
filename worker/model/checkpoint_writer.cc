#include "worker/model/checkpoint_writer.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/safetensors.h"
#include "common/status_macros.h"

namespace r1 {

absl::Status WriteCheckpoint(const std::string& config_json, const ModelConfig& config,
                             const WeightSource& source, const std::string& out_dir,
                             int num_shards) {
  if (num_shards < 1 || num_shards > 99999) {
    return absl::InvalidArgumentError("num_shards must be in [1, 99999]");
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(out_dir, ": ", ec.message()));
  RETURN_IF_ERROR(WriteFileAtomic(out_dir + "/config.json", config_json));

  const WeightPlan plan = PlanWeights(config);
  std::vector<SafetensorsWriter> shards(num_shards);
  std::vector<std::string> names(num_shards);
  for (int s = 0; s < num_shards; ++s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", s + 1, num_shards);
    names[s] = buf;
  }
  std::map<std::string, std::string> weight_map;
  uint64_t total = 0;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const PlannedTensor& t = plan.tensors[i];
    ASSIGN_OR_RETURN(TensorBytes b, source.Fetch(t));
    const int s = static_cast<int>(i % num_shards);
    RETURN_IF_ERROR(shards[s].Add(t.name, t.dtype, t.shape,
                                  std::string(reinterpret_cast<const char*>(b.data), b.size)));
    weight_map[t.name] = names[s];
    total += b.size;
  }
  for (int s = 0; s < num_shards; ++s) {
    shards[s].SetMetadata("format", "pt");
    RETURN_IF_ERROR(shards[s].WriteFile(out_dir + "/" + names[s]));
  }
  return WriteSafetensorsIndex(out_dir + "/model.safetensors.index.json", weight_map, total);
}

}  // namespace r1
