// CpuBackend::Build on a dense checkpoint (tests/fixtures/tiny-qwen2): DenseCpuModel, the cache
// sized by its [K ; V] rows, groups of one rank only; the DeepSeek block size unchanged; where
// MTP speculative decoding is refused (--speculative_tokens: CUDA groups of several ranks, dense
// models, no MTP layer; CUDA groups of one and expert-parallel CPU groups are accepted), and the
// group's check that every rank uses the same value (CheckSameOnEveryRank).
#include "worker/service/cpu_backend.h"

#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/served_model_config.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/comm/key_value_store.h"
#include "worker/kv_cache/kv_cache.h"
#include "worker/model/dense_cpu_model.h"
#include "worker/service/group_link.h"

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
  EXPECT_TRUE(ValidateSpeculativeTokens(1, r1::v1::DEVICE_KIND_CUDA).ok());
  const absl::Status other = ValidateSpeculativeTokens(1, r1::v1::DEVICE_KIND_UNSPECIFIED);
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other.message().find("--device=cpu and --device=cuda only"), std::string::npos)
      << other;
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
  EXPECT_TRUE(ValidateSpeculation(spec, r1::v1::DEVICE_KIND_CUDA).ok());
  // Expert-parallel groups speculate on the CPU backend (not on CUDA).
  ShardSpec group = spec;
  group.group_size = 2;
  group.placement = EpPlacement::Contiguous(static_cast<int>(spec.config.n_routed_experts), 2);
  EXPECT_TRUE(ValidateSpeculation(group, r1::v1::DEVICE_KIND_CPU).ok());
  EXPECT_EQ(ValidateSpeculation(group, r1::v1::DEVICE_KIND_CUDA).code(),
            absl::StatusCode::kFailedPrecondition);
  absl::Status st;
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

// Two Gloo ranks on loopback: equal values pass, different ones are refused on both ranks with
// every rank's value named.
TEST(CpuBackendTest, GroupRanksMustUseTheSameSpeculativeTokens) {
  for (const std::vector<int64_t>& values : {std::vector<int64_t>{2, 2}, {1, 3}}) {
    auto store = std::make_shared<InMemoryKeyValueStore>();
    std::vector<absl::Status> st(2);
    std::vector<std::thread> ranks;
    for (int r = 0; r < 2; ++r) {
      ranks.emplace_back([&, r] {
        GlooOptions o;
        o.rank = r;
        o.size = 2;
        o.prefix = absl::StrCat("same/", values[1], "/");
        o.connect_timeout = absl::Seconds(20);
        auto comm = GlooCommunicator::Create(o, store.get());
        ASSERT_TRUE(comm.ok()) << comm.status();
        st[r] = CheckSameOnEveryRank(**comm, "--speculative_tokens", values[r], absl::Seconds(20));
      });
    }
    for (auto& t : ranks) t.join();
    for (int r = 0; r < 2; ++r) {
      if (values[0] == values[1]) {
        EXPECT_TRUE(st[r].ok()) << st[r];
      } else {
        EXPECT_EQ(st[r].code(), absl::StatusCode::kFailedPrecondition) << st[r];
        EXPECT_NE(st[r].message().find("--speculative_tokens differs across the ranks of the group "
                                       "(rank 0: 1, rank 1: 3)"),
                  std::string::npos)
            << st[r];
      }
    }
  }
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
