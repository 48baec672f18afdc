// CpuBackend::Build on a dense checkpoint (tests/fixtures/tiny-qwen2): DenseCpuModel, the cache
// sized by its [K ; V] rows, groups of one rank only; the DeepSeek block size unchanged; where
// MTP speculative decoding is refused (--speculative_tokens).
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

TEST(CpuBackendTest, SpeculativeTokensFlagIsCheckedOnItsOwn) {
  EXPECT_TRUE(ValidateSpeculativeTokens(0, r1::v1::DEVICE_KIND_CPU).ok());
  EXPECT_TRUE(ValidateSpeculativeTokens(0, r1::v1::DEVICE_KIND_CUDA).ok());
  for (int k = 1; k <= kMaxSpeculativeTokens; ++k) {
    EXPECT_TRUE(ValidateSpeculativeTokens(k, r1::v1::DEVICE_KIND_CPU).ok()) << k;
  }
  for (int k : {-1, 4, 100}) {
    const absl::Status st = ValidateSpeculativeTokens(k, r1::v1::DEVICE_KIND_CPU);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << k;
    EXPECT_NE(st.message().find("0 (off) to 3"), std::string::npos) << st;
  }
  const absl::Status cuda = ValidateSpeculativeTokens(1, r1::v1::DEVICE_KIND_CUDA);
  EXPECT_EQ(cuda.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cuda.message().find("--device=cpu only"), std::string::npos) << cuda;
}

ShardSpec TinySpec() {
  auto served = LoadServedModelConfig("models/r1-tiny/config.json");
  EXPECT_TRUE(served.ok()) << served.status();
  ShardSpec spec;
  if (served.ok()) spec.config = served->config;
  return spec;
}

TEST(CpuBackendTest, SpeculationIsRefusedWhereItCannotRun) {
  ShardSpec spec = TinySpec();
  ASSERT_GT(spec.config.num_nextn_predict_layers, 0);
  spec.speculative_tokens = 2;
  EXPECT_TRUE(ValidateSpeculation(spec, r1::v1::DEVICE_KIND_CPU).ok());
  EXPECT_EQ(ValidateSpeculation(spec, r1::v1::DEVICE_KIND_CUDA).code(),
            absl::StatusCode::kFailedPrecondition);
  // Expert-parallel groups.
  ShardSpec group = spec;
  group.group_size = 2;
  absl::Status st = ValidateSpeculation(group, r1::v1::DEVICE_KIND_CPU);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("expert-parallel group of 2 ranks"), std::string::npos) << st;
  group.speculative_tokens = 0;
  EXPECT_TRUE(ValidateSpeculation(group, r1::v1::DEVICE_KIND_CPU).ok());
  // A checkpoint without an MTP layer.
  ShardSpec no_mtp = spec;
  no_mtp.config.num_nextn_predict_layers = 0;
  st = ValidateSpeculation(no_mtp, r1::v1::DEVICE_KIND_CPU);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("num_nextn_predict_layers"), std::string::npos) << st;
  // A dense model.
  ShardSpec dense = DenseSpec();
  dense.speculative_tokens = 1;
  st = ValidateSpeculation(dense, r1::v1::DEVICE_KIND_CPU);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("no MTP layer"), std::string::npos) << st;
  EXPECT_EQ(CpuBackend({}).Build(dense, nullptr, absl::Seconds(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
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
