#include "worker/model/weight_plan.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(WeightPlanTest, DeepSeekR1ByteTotalsMatchSpec) {
  auto c = LoadModelConfig("tests/fixtures/deepseek-r1-config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  WeightPlan plan = PlanWeights(*c);
  // Spec §3.2 tensor counts: main model 90,427; layer 61 adds 1,564.
  size_t main = 0, mtp = 0;
  for (const auto& t : plan.tensors) (t.layer >= 61 ? mtp : main)++;
  EXPECT_EQ(main, 90427u);
  EXPECT_EQ(mtp, 1564u);

  WeightPlan::Totals fp8 = plan.ComputeTotals(ExpertFormat::kCheckpoint);  // spec §13.2
  EXPECT_EQ(fp8.routed_experts, 654068416512ull);
  EXPECT_EQ(fp8.shared_experts, 2554954752ull);
  EXPECT_EQ(fp8.attention, 11416215392ull);
  EXPECT_EQ(fp8.dense_ffn, 1189375488ull);
  EXPECT_EQ(fp8.routers, 212920320ull);
  EXPECT_EQ(fp8.norms, 2013184ull);
  EXPECT_EQ(fp8.embedding, 1853358080ull);
  EXPECT_EQ(fp8.lm_head, 1853358080ull);
  EXPECT_EQ(fp8.main_model(), 673150611808ull);
  EXPECT_EQ(fp8.mtp, 15424227552ull);

  WeightPlan::Totals int4 = plan.ComputeTotals(ExpertFormat::kInt4);  // spec §13.3
  EXPECT_EQ(int4.routed_experts, 337171709952ull);
  EXPECT_EQ(int4.main_model(), 356253905248ull);
  // One routed expert in INT4: gate + up [2048×7168] and down [7168×2048].
  EXPECT_EQ(2 * Int4LinearBytes(2048, 7168) + Int4LinearBytes(7168, 2048), 22708224ull);
}

TEST(WeightPlanTest, KvAScaleCoversPartialBlock) {
  auto c = LoadModelConfig("tests/fixtures/deepseek-r1-config.json");
  ASSERT_TRUE(c.ok());
  WeightPlan plan = PlanWeights(*c);
  bool found = false;
  for (const auto& t : plan.tensors) {
    if (t.name == "model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv") {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{5, 56}));
      EXPECT_EQ(t.weight_shape, (std::vector<int64_t>{576, 7168}));
      found = true;
    }
    if (t.name == "model.layers.61.eh_proj.weight") {
      EXPECT_EQ(t.dtype, DType::kBF16);
      EXPECT_EQ(t.shape, (std::vector<int64_t>{7168, 14336}));
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace r1
