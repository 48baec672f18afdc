#include "bench/serving/r1_rank/speculative_steps.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(SpeculativeStepsTest, ExpectedTokensPerStep) {
  EXPECT_DOUBLE_EQ(ExpectedTokensPerStep(1, 0.85), 1.85);
  EXPECT_NEAR(ExpectedTokensPerStep(3, 0.5), 1.875, 1e-12);
  EXPECT_DOUBLE_EQ(ExpectedTokensPerStep(2, 1.0), 3.0);
  EXPECT_DOUBLE_EQ(ExpectedTokensPerStep(3, 0.0), 1.0);
}

}  // namespace
}  // namespace r1
