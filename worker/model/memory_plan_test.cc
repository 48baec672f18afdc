#include "worker/model/memory_plan.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

constexpr uint64_t kH200 = 139ull << 30;  // usable GiB per H200 (spec §13.6)

ModelConfig R1() { return *LoadModelConfig("tests/fixtures/deepseek-r1-config.json"); }

TEST(MemoryPlanTest, KvBytesPerTokenOfSpec) {
  MemoryPlanInput in{8, ExpertFormat::kCheckpoint, KvFormat::kBf16, 4096, kH200};
  EXPECT_EQ(PlanMemory(R1(), in).kv_bytes_per_token, 70272u);  // spec §13.5
  in.kv = KvFormat::kFp8;
  EXPECT_EQ(PlanMemory(R1(), in).kv_bytes_per_token, 35136u);
  in.include_mtp = true;
  EXPECT_EQ(PlanMemory(R1(), in).kv_bytes_per_token, 35712u);
}

TEST(MemoryPlanTest, FitsAsSpecSays) {
  // §13.6: FP8 R1 needs 8×H200; routed INT4 fits on 4×H200 but not on 2.
  EXPECT_TRUE(
      PlanMemory(R1(), {8, ExpertFormat::kCheckpoint, KvFormat::kBf16, 131072, kH200}).fits);
  EXPECT_FALSE(PlanMemory(R1(), {4, ExpertFormat::kCheckpoint, KvFormat::kBf16, 4096, kH200}).fits);
  EXPECT_TRUE(PlanMemory(R1(), {4, ExpertFormat::kInt4, KvFormat::kBf16, 131072, kH200}).fits);
  EXPECT_FALSE(PlanMemory(R1(), {2, ExpertFormat::kInt4, KvFormat::kBf16, 4096, kH200}).fits);
}

TEST(MemoryPlanTest, SplitsExpertsAndReplicatesTheRest) {
  MemoryPlan p1 = PlanMemory(R1(), {1, ExpertFormat::kCheckpoint, KvFormat::kBf16, 0, kH200});
  MemoryPlan p8 = PlanMemory(R1(), {8, ExpertFormat::kCheckpoint, KvFormat::kBf16, 0, kH200});
  EXPECT_EQ(p1.expert_bytes, 654068416512ull);
  EXPECT_EQ(p8.expert_bytes, 654068416512ull / 8);
  EXPECT_EQ(p1.replicated_bytes, p8.replicated_bytes);
  EXPECT_EQ(p1.replicated_bytes + p1.expert_bytes, 673150611808ull);  // spec §13.2 main model
}

// The CUDA backend's layout holds kv_b_proj in bf16. Measured on an H100
// (bench/results/r1_rank/README-2026-12-07.md): one rank of 16 with FP8 experts held 56.80 GiB of
// weights in its device arena; the plan must be within 1% of it (the CUDA context and cuBLAS
// workspace, 0.63 GiB there, are outside the arena and inside the plan's reserve).
TEST(MemoryPlanTest, CudaLayoutMatchesTheMeasuredRank) {
  MemoryPlanInput in{16, ExpertFormat::kCheckpoint, KvFormat::kBf16, 0, 80ull << 30};
  const MemoryPlan stored = PlanMemory(R1(), in);
  in.layout = WeightLayout::kCuda;
  const MemoryPlan cuda = PlanMemory(R1(), in);
  EXPECT_EQ(stored.layout_extra_bytes, 0u);
  // bf16 instead of e4m3 + f32 scales per 128×128 block: one more byte per weight, less scales.
  EXPECT_EQ(cuda.layout_extra_bytes, 61ull * (128 * 256 * 512 - 256 * 4 * 4));
  EXPECT_EQ(cuda.replicated_bytes, stored.replicated_bytes + cuda.layout_extra_bytes);
  const double gib = static_cast<double>(cuda.replicated_bytes + cuda.expert_bytes) / (1 << 30);
  EXPECT_NEAR(gib, 56.80, 0.01 * 56.80);
}

}  // namespace
}  // namespace r1
