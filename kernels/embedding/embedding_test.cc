// CPU reference test (runs everywhere): rows are copied; out-of-range ids give zero rows.
#include "kernels/embedding/embedding.h"

#include <vector>

#include <gtest/gtest.h>

namespace r1::kernels {
namespace {

TEST(EmbeddingReferenceTest, CopiesRowsAndZeroesBadIds) {
  std::vector<uint16_t> table = {1, 2, 3, 4, 5, 6};  // vocab 3 × dim 2
  const std::vector<int32_t> ids = {2, -1, 0, 3};
  std::vector<uint16_t> out(4 * 3, 9);  // out stride 3
  ASSERT_TRUE(EmbeddingReference({ids.data(), table.data(), out.data(), 3, 4, 3, 2}).ok());
  EXPECT_EQ(out, (std::vector<uint16_t>{5, 6, 9, 0, 0, 9, 1, 2, 9, 0, 0, 9}));
  EXPECT_FALSE(ValidateEmbedding({ids.data(), table.data(), out.data(), 1, 4, 3, 2}).ok());
}

}  // namespace
}  // namespace r1::kernels
