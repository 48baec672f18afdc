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

}  // namespace
}  // namespace r1
