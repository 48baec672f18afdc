#include "bench/serving/r1_rank/phase_floors.h"

#include <gtest/gtest.h>

#include "common/model_config.h"

namespace r1 {
namespace {

ModelConfig R1() {
  auto c = LoadModelConfig("tests/fixtures/deepseek-r1-config.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(PhaseFloorsTest, BatchOneIsWeightBound) {
  const ModelConfig c = R1();
  const DeviceCeilings k;
  const PhaseFloors f = DecodeFloors(c, 8, 1, 2048, k);
  // lm_head: 129,280 × 7168 bf16 = 1.85 GB at 4.21 TB/s.
  EXPECT_NEAR(f.lm_head_s, 129280.0 * 7168 * 2 / 4.21e12, 1e-9);
  // One token's cache rows are small next to the weights: attention ≈ kv_b_proj reads.
  EXPECT_GT(f.dense_gemm_s, f.attention_s);
  // At batch 1 about 8 of a rank's 32 experts per layer get a row (1 − e^{−0.25} of them).
  const double expert_bytes = 58 * 32 * (1 - std::exp(-0.25)) * 3.0 * 7168 * 2048;
  EXPECT_NEAR(f.experts_s, expert_bytes / 4.21e12, 1e-9);
}

TEST(PhaseFloorsTest, FloorsGrowWithBatchAndContext) {
  const ModelConfig c = R1();
  const DeviceCeilings k;
  const PhaseFloors small = DecodeFloors(c, 8, 8, 2048, k);
  const PhaseFloors large = DecodeFloors(c, 8, 128, 2048, k);
  const PhaseFloors longer = DecodeFloors(c, 8, 128, 8192, k);
  EXPECT_GT(large.attention_s, 6 * small.attention_s);  // 16× the rows, plus fixed kv_b reads
  EXPECT_GT(longer.attention_s, 3.5 * large.attention_s);
  EXPECT_GT(large.experts_s, small.experts_s);
  // Experts cannot take less than reading every local expert once when all are hit.
  EXPECT_LE(large.experts_s, 58 * 32 * 3.0 * 7168 * 2048 / 4.21e12 * 1.0001 + 1e-12);
  EXPECT_NEAR(small.lm_head_s, large.lm_head_s, 1e-12);
  EXPECT_NEAR(small.total_s(),
              small.attention_s + small.dense_gemm_s + small.experts_s + small.lm_head_s, 1e-15);
}

TEST(PhaseFloorsTest, CeilingsFollowTheDevice) {
  EXPECT_EQ(CeilingsForDevice("NVIDIA H200").hbm_bytes_per_s, 4.21e12);
  EXPECT_EQ(CeilingsForDevice("NVIDIA H100 80GB HBM3").hbm_bytes_per_s, 3.35e12);
  EXPECT_EQ(CeilingsForDevice("NVIDIA H100 80GB HBM3").fp8_flops_per_s, 1347e12);
  EXPECT_EQ(CeilingsForDevice(nullptr).hbm_bytes_per_s, 4.21e12);
  // A bandwidth-bound floor scales with the bandwidth.
  auto c = LoadModelConfig("tests/fixtures/deepseek-r1-config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  const PhaseFloors h200 = DecodeFloors(*c, 8, 1, 2048, CeilingsForDevice("NVIDIA H200"));
  const PhaseFloors h100 = DecodeFloors(*c, 8, 1, 2048, CeilingsForDevice("NVIDIA H100 80GB HBM3"));
  EXPECT_NEAR(h100.lm_head_s / h200.lm_head_s, 4.21 / 3.35, 1e-9);
}

}  // namespace
}  // namespace r1
