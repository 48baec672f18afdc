// GPU test (label gpu): the CUDA lookup equals the reference bit for bit (7168-wide rows, bad ids).
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/embedding/embedding.h"
#include "kernels/embedding/embedding_cuda.h"
#include "kernels/internal/device_buffer.h"
#include "kernels/internal/test_data.h"

namespace r1::kernels {
namespace {

using testing::DeviceBuffer;

TEST(EmbeddingGpuTest, MatchesReference) {
  std::mt19937 rng(1);
  const int64_t vocab = 1000, dim = 7168, tokens = 67, stride = 7168 + 8;
  auto table = testing::RandomBf16(vocab * dim, rng);
  std::vector<int32_t> ids(tokens);
  for (auto& i : ids) i = static_cast<int32_t>(rng() % vocab);
  ids[3] = -5;
  ids[10] = static_cast<int32_t>(vocab);
  std::vector<uint16_t> want(tokens * stride, 0x1234);
  EmbeddingParams p{ids.data(), table.data(), want.data(), stride, tokens, vocab, dim};
  ASSERT_TRUE(EmbeddingReference(p).ok());
  DeviceBuffer<uint16_t> dt(table), dout(std::vector<uint16_t>(tokens * stride, 0x1234));
  DeviceBuffer<int32_t> did(ids);
  p.ids = did.get();
  p.table = dt.get();
  p.out = dout.get();
  ASSERT_TRUE(LaunchEmbedding(p, nullptr).ok());
  EXPECT_EQ(dout.Download(), want);
}

}  // namespace
}  // namespace r1::kernels
