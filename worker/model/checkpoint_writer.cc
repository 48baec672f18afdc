#include "worker/model/checkpoint_writer.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/file_util.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace r1 {

absl::Status WriteCheckpoint(const std::string& config_json, const ModelConfig& config,
                             const WeightSource& source, const std::string& out_dir, int num_shards,
                             const CheckpointProgress& progress, int threads) {
  if (num_shards < 1 || num_shards > 99999) {
    return absl::InvalidArgumentError("num_shards must be in [1, 99999]");
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(out_dir, ": ", ec.message()));
  RETURN_IF_ERROR(WriteFileAtomic(out_dir + "/config.json", config_json));

  const WeightPlan plan = PlanWeights(config);
  std::vector<std::string> names(num_shards);
  std::vector<std::vector<size_t>> members(num_shards);  // plan indices, round-robin
  for (int s = 0; s < num_shards; ++s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", s + 1, num_shards);
    names[s] = buf;
  }
  for (size_t i = 0; i < plan.tensors.size(); ++i) members[i % num_shards].push_back(i);
  // Shards are independent files: up to `threads` are written at once, each streamed one tensor
  // at a time (a shard of a full-size model is ~4 GB; memory holds `threads` tensors).
  std::vector<uint64_t> shard_bytes(num_shards, 0);
  auto write_shard = [&](int s) -> absl::Status {
    std::vector<SafetensorsEntry> entries;
    for (size_t i : members[s]) {
      const PlannedTensor& t = plan.tensors[i];
      entries.push_back({t.name, t.dtype, t.shape});
    }
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsStream> stream,
                     SafetensorsStream::Create(out_dir + "/" + names[s], std::move(entries),
                                               {{"format", "pt"}}));
    for (size_t i : members[s]) {
      ASSIGN_OR_RETURN(TensorBytes b, source.Fetch(plan.tensors[i]));
      RETURN_IF_ERROR(
          stream->Append(absl::string_view(reinterpret_cast<const char*>(b.data), b.size)));
      shard_bytes[s] += b.size;
    }
    return stream->Finish();
  };
  std::atomic<int> next{0};
  absl::Mutex mu;
  absl::Status failed;   // the first error, under mu
  int done = 0;          // under mu
  uint64_t written = 0;  // under mu
  auto work = [&] {
    for (int s = next++; s < num_shards; s = next++) {
      {
        absl::MutexLock lock(&mu);
        if (!failed.ok()) return;
      }
      const absl::Status st = write_shard(s);
      absl::MutexLock lock(&mu);
      if (!st.ok()) {
        if (failed.ok()) failed = st;
        return;
      }
      ++done;
      written += shard_bytes[s];
      if (progress) progress(done, num_shards, written);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::clamp(threads, 1, num_shards); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  RETURN_IF_ERROR(failed);
  std::map<std::string, std::string> weight_map;
  uint64_t total = 0;
  for (int s = 0; s < num_shards; ++s) {
    for (size_t i : members[s]) weight_map[plan.tensors[i].name] = names[s];
    total += shard_bytes[s];
  }
  return WriteSafetensorsIndex(out_dir + "/model.safetensors.index.json", weight_map, total);
}

absl::StatusOr<std::string> ConfigWithLayers(const std::string& config_json, int layers) {
  nlohmann::json j = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("config.json: not a JSON object");
  }
  const auto it = j.find("num_hidden_layers");
  if (it == j.end() || !it->is_number_integer()) {
    return absl::InvalidArgumentError("config.json: num_hidden_layers missing or not an integer");
  }
  const int64_t have = it->get<int64_t>();
  if (layers < 1 || layers > have) {
    return absl::InvalidArgumentError(
        absl::StrCat("layers ", layers, " not in [1, num_hidden_layers = ", have, "]"));
  }
  j["num_hidden_layers"] = layers;
  j["num_nextn_predict_layers"] = 0;
  const auto dense = j.find("first_k_dense_replace");
  if (dense != j.end() && dense->is_number_integer() && dense->get<int64_t>() > layers) {
    *dense = layers;  // every kept layer dense
  }
  return j.dump(2) + "\n";
}

}  // namespace r1
