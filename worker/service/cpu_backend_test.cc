// CpuBackend::Build on a dense checkpoint (tests/fixtures/tiny-qwen2): DenseCpuModel, the cache
// sized by its [K ; V] rows, groups of one rank only; and the DeepSeek block size unchanged.
#include "worker/service/cpu_backend.h"

#include <gtest/gtest.h>

#include "common/served_model_config.h"
#include "worker/kv_cache/kv_cache.h"
#include "worker/model/dense_cpu_model.h"

namespace r1 {
namespace {

constexpr char kDense[] = "tests/fixtures/tiny-qwen2";

ShardSpec DenseSpec() {
  auto served = LoadServedModelConfig(std::string(kDense) + "/config.json");
  EXPECT_TRUE(served.ok()) << served.status();
  ShardSpec spec;
  if (!served.ok()) return spec;
  EXPECT_TRUE(served->is_dense());
  spec.config = served->config;
  spec.dense = served->dense;
  spec.checkpoint_dir = kDense;
  return spec;
}

TEST(CpuBackendTest, BuildsADenseModelSizedByItsRows) {
  CpuBackendOptions o;
  o.kv_cache_bytes = 8 << 20;
  CpuBackend backend(o);
  ShardSpec spec = DenseSpec();
  spec.kv_cache_fraction = 0.5;
  auto shard = backend.Build(spec, nullptr, absl::Seconds(1));
  ASSERT_TRUE(shard.ok()) << shard.status();
  ASSERT_NE(dynamic_cast<DenseCpuModel*>(shard->model.get()), nullptr);
  const DenseModelConfig& c = *spec.dense;
  const int64_t row = 2 * c.num_key_value_heads * c.head_dim;
  EXPECT_EQ(shard->model->row_size(), row);
  EXPECT_EQ(shard->kv_blocks, (4 << 20) / (row * 4 * kBlockTokens * c.num_hidden_layers));
  EXPECT_EQ(shard->model->config().vocab_size, c.vocab_size);
  EXPECT_EQ(shard->model->config().eos_token_id, c.eos_token_ids[0]);
  EXPECT_NE(shard->description.find("dense Qwen2"), std::string::npos) << shard->description;
}

TEST(CpuBackendTest, RefusesADenseModelInAGroupOfSeveralRanks) {
  CpuBackend backend({});
  ShardSpec spec = DenseSpec();
  spec.group_size = 2;
  spec.rank = 1;
  const absl::Status st = ValidateShardSpec(spec);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("dense model"), std::string::npos) << st;
  EXPECT_EQ(backend.Build(spec, nullptr, absl::Seconds(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CpuBackendTest, RefusesADenseModelWithoutItsCheckpoint) {
  CpuBackend backend({});
  ShardSpec spec = DenseSpec();
  spec.checkpoint_dir = "/nonexistent-r1-checkpoint";
  EXPECT_FALSE(backend.Build(spec, nullptr, absl::Seconds(1)).ok());
  spec.checkpoint_dir.clear();
  EXPECT_EQ(ValidateShardSpec(spec).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CpuBackendTest, DeepSeekBlockBytesAreTheLatentRows) {
  ModelConfig c;
  c.kv_lora_rank = 512;
  c.qk_rope_head_dim = 64;
  c.num_hidden_layers = 61;
  EXPECT_EQ(KvBlockBytes(c, 2), KvBlockBytesOfRows(576, 61, 2));
  EXPECT_EQ(KvBlockBytes(c, 2), 576 * 2 * kBlockTokens * 61);
}

}  // namespace
}  // namespace r1
