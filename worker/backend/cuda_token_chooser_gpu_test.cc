// CudaTokenChooser against ChooseTokensOnHost (the kernels' CPU references) on the same logits:
// identical ids, logprobs within 1e-4, across greedy, sampled, penalized, biased and logprob
// rows mixed in one batch, at R1's vocabulary and a small odd one.
#include "worker/backend/cuda_token_chooser.h"

#include <cuda_runtime.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace r1 {
namespace {

void CheckSameChoices(int64_t rows, int64_t vocab, int64_t valid_vocab, unsigned seed) {
  const int64_t ld = (vocab + 63) / 64 * 64;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> logits(rows * ld, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t v = 0; v < vocab; ++v) logits[r * ld + v] = normal(rng);
  }
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
  std::vector<std::vector<std::pair<int32_t, int32_t>>> histories(rows);
  std::vector<TokenChoiceSpec> specs(rows);
  for (int64_t r = 0; r < rows; ++r) {
    TokenChoiceSpec& s = specs[r];
    switch (r % 6) {
      case 0:  // greedy
        break;
      case 1:  // R1's recommended sampling
        s.temperature = 0.6f;
        s.top_p = 0.95f;
        break;
      case 2:  // top-k with a high temperature
        s.temperature = 1.5f;
        s.top_k = 40;
        break;
      case 3: {  // penalties over a history
        std::map<int32_t, int32_t> h;
        for (int i = 0; i < 300; ++i) h[id(rng)] += i % 3;
        histories[r].assign(h.begin(), h.end());
        s.history = &histories[r];
        s.presence_penalty = 0.8f;
        s.frequency_penalty = 0.4f;
        s.repetition_penalty = 1.2f;
        s.temperature = 0.7f;
        break;
      }
      case 4:  // biases and bans
        s.bias = {{id(rng), 30.0f}, {id(rng), -INFINITY}, {3, 2.0f}, {3, 2.0f}};
        break;
      case 5:  // logprobs with alternatives, sampled
        s.logprobs = true;
        s.top_logprobs = static_cast<int32_t>(r % 21);
        s.temperature = 1.0f;
        break;
    }
    s.seed = 1000 + r;
    s.offset = 17 * r;
    if (r % 4 == 0) {
      s.logprobs = true;
      s.top_logprobs = 5;
    }
  }
  std::vector<const TokenChoiceSpec*> ptrs;
  for (const TokenChoiceSpec& s : specs) ptrs.push_back(&s);

  std::vector<float> host_rows = logits;
  std::vector<TokenChoice> want;
  ASSERT_TRUE(ChooseTokensOnHost(host_rows.data(), ld, vocab, valid_vocab, ptrs, &want).ok());

  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, logits.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice),
            cudaSuccess);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  CudaTokenChooser chooser;
  std::vector<TokenChoice> got;
  // Twice: the second call reuses the grown buffers (and must not see the first's state).
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_EQ(cudaMemcpy(d, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice),
              cudaSuccess);
    const absl::Status st = chooser.Choose(d, ld, vocab, valid_vocab, ptrs, stream, &got);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(got.size(), want.size());
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_EQ(got[r].id, want[r].id) << "row " << r;
      EXPECT_LT(got[r].id, valid_vocab);
      EXPECT_NEAR(got[r].logprob, want[r].logprob, 1e-4) << "row " << r;
      ASSERT_EQ(got[r].top.size(), want[r].top.size()) << "row " << r;
      for (size_t j = 0; j < got[r].top.size(); ++j) {
        EXPECT_EQ(got[r].top[j].first, want[r].top[j].first) << "row " << r << " alt " << j;
        EXPECT_NEAR(got[r].top[j].second, want[r].top[j].second, 1e-4);
      }
    }
  }
  cudaStreamDestroy(stream);
  cudaFree(d);
}

TEST(CudaTokenChooserTest, MatchesTheHostAtR1sVocabulary) {
  CheckSameChoices(48, 129280, 129280, 1);
}

TEST(CudaTokenChooserTest, MatchesTheHostWithPaddingRows) { CheckSameChoices(13, 1001, 997, 2); }

TEST(CudaTokenChooserTest, OneRowAndManyRows) {
  CheckSameChoices(1, 129280, 129280, 3);
  CheckSameChoices(256, 4099, 4099, 4);
}

TEST(CudaTokenChooserTest, RefusesBadSpecs) {
  CudaTokenChooser chooser;
  TokenChoiceSpec s;
  s.bias = {{5000, 1.0f}};
  std::vector<TokenChoice> out;
  EXPECT_FALSE(chooser.Choose(nullptr, 128, 100, 100, {&s}, nullptr, &out).ok());
}

}  // namespace
}  // namespace r1
