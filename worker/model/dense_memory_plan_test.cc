#include "worker/model/dense_memory_plan.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

DenseModelConfig Distill(const std::string& name) {
  auto c = LoadDenseModelConfig("tests/fixtures/r1-distill-" + name + "-config.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

struct Expect {
  const char* name;
  uint64_t params;        // the published parameter counts
  uint64_t kv_per_token;  // BF16
  bool h100_32k;          // weights + one 32K-token context on one H100 80 GB
  bool h200_32k;          // ... on one H200 141 GB
};

TEST(DenseMemoryPlanTest, R1DistillFamily) {
  for (const Expect& e : {
           Expect{"qwen-1.5b", 1777088000ull, 28672, true, true},
           Expect{"qwen-7b", 7615616512ull, 57344, true, true},
           Expect{"qwen-14b", 14770033664ull, 196608, true, true},
           Expect{"qwen-32b", 32763876352ull, 262144, true, true},
           Expect{"llama-8b", 8030261248ull, 131072, true, true},
           Expect{"llama-70b", 70553706496ull, 327680, false, false},
       }) {
    const DenseModelConfig c = Distill(e.name);
    const DenseMemoryPlan h100 = PlanDenseMemory(c, {KvFormat::kBf16, 32768, kH100DeviceBytes});
    const DenseMemoryPlan h200 = PlanDenseMemory(c, {KvFormat::kBf16, 32768, kH200DeviceBytes});
    EXPECT_EQ(h100.weight_bytes, 2 * e.params) << e.name;
    EXPECT_EQ(h100.kv_bytes_per_token, e.kv_per_token) << e.name;
    EXPECT_EQ(h100.fits, e.h100_32k) << e.name << "\n" << h100.Report();
    EXPECT_EQ(h200.fits, e.h200_32k) << e.name << "\n" << h200.Report();
    EXPECT_EQ(PlanDenseMemory(c, {KvFormat::kFp8, 0, kH100DeviceBytes}).kv_bytes_per_token,
              e.kv_per_token / 2);
  }
}

TEST(DenseMemoryPlanTest, SeventyBFitsOneH200OnlyWithAShortContext) {
  const DenseModelConfig c = Distill("llama-70b");
  const DenseMemoryPlan p = PlanDenseMemory(c, {KvFormat::kBf16, 4096, kH200DeviceBytes});
  EXPECT_TRUE(p.fits) << p.Report();
  EXPECT_LT(p.kv_capacity_tokens, 8192u);
  EXPECT_FALSE(PlanDenseMemory(c, {KvFormat::kBf16, 0, kH100DeviceBytes}).fits);
}

TEST(DenseMemoryPlanTest, TiedEmbeddingsHaveNoLmHead) {
  DenseModelConfig c = Distill("qwen-1.5b");
  EXPECT_EQ(ComputeDenseTotals(c, 2).lm_head, ComputeDenseTotals(c, 2).embedding);
  c.tie_word_embeddings = true;
  EXPECT_EQ(ComputeDenseTotals(c, 2).lm_head, 0u);
}

}  // namespace
}  // namespace r1
