// The MTP module on the CPU model: loading (LoadOptions::load_mtp) and the draft forward.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "worker/model/cpu_model.h"
#include "worker/model/model_weights.h"
#include "worker/model/testing/test_util.h"
#include "worker/model/weight_source.h"

namespace r1 {
namespace {

std::shared_ptr<const ModelWeights> MtpWeightsForTest() {
  static std::shared_ptr<const ModelWeights> w = [] {
    SyntheticWeightSource src(7);
    LoadOptions opts;
    opts.load_mtp = true;
    auto m = LoadModelWeights(testing::SmallConfig(), src, opts);
    EXPECT_TRUE(m.ok()) << m.status();
    return std::shared_ptr<const ModelWeights>(std::move(*m));
  }();
  return w;
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

TEST(CpuMtpTest, LoadsTheMtpLayerOnlyWhenAsked) {
  const ModelConfig c = testing::SmallConfig();
  EXPECT_TRUE(testing::SmallSyntheticWeights(7)->mtp.empty());
  EXPECT_EQ(CpuModel(testing::SmallSyntheticWeights(7), {}).mtp_layers(), 0);
  auto w = MtpWeightsForTest();
  ASSERT_EQ(w->mtp.size(), 1u);
  const MtpWeights& m = w->mtp[0];
  EXPECT_EQ(m.enorm.size(), static_cast<size_t>(c.hidden_size));
  EXPECT_EQ(m.hnorm.size(), static_cast<size_t>(c.hidden_size));
  EXPECT_EQ(m.head_norm.size(), static_cast<size_t>(c.hidden_size));
  EXPECT_EQ(m.eh_proj.out, c.hidden_size);
  EXPECT_EQ(m.eh_proj.in, 2 * c.hidden_size);
  EXPECT_EQ(m.layer.moe, c.is_moe_layer(c.num_hidden_layers));
  ASSERT_EQ(m.layer.experts.size(), static_cast<size_t>(c.n_routed_experts));
  EXPECT_FALSE(m.layer.experts[0].gate.empty());
  EXPECT_EQ(CpuModel(w, {}).mtp_layers(), 1);
  // The embedding and head are the main model's: the checkpoint's copies are not loaded.
  EXPECT_EQ(w->embed.size(), testing::SmallSyntheticWeights(7)->embed.size());
}

TEST(CpuMtpTest, LoadFailsWithoutAnMtpLayer) {
  ModelConfig c = testing::SmallConfig();
  c.num_nextn_predict_layers = 0;
  SyntheticWeightSource src(7);
  LoadOptions opts;
  opts.load_mtp = true;
  auto m = LoadModelWeights(c, src, opts);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CpuMtpTest, MtpForwardNeedsTheModule) {
  CpuModel model(testing::SmallSyntheticWeights(7), {});
  PagedKvCache cache(4, 4, model.row_size(), false);
  KvSequence kv;
  ASSERT_TRUE(cache.Reserve(&kv, 4).ok());
  std::vector<float> h(testing::SmallConfig().hidden_size);
  std::vector<std::vector<float>> logits, hidden;
  EXPECT_FALSE(model.MtpForward({{&kv, 0, {5}, h.data()}}, cache, &logits, &hidden).ok());
}

// One MTP item over a chunk of slots, slot by slot, and the hidden states the main forward
// returns (lm_head of them = its logits).
class CpuMtpForwardTest : public ::testing::Test {
 protected:
  CpuMtpForwardTest()
      : model_(MtpWeightsForTest(), {}),
        cache_(static_cast<int>(testing::SmallConfig().num_hidden_layers) + 1, 16,
               model_.row_size(), false) {}
  CpuModel model_;
  PagedKvCache cache_;
};

TEST_F(CpuMtpForwardTest, ChunkOfSlotsEqualsSlotBySlot) {
  const ModelConfig& c = model_.config();
  const int64_t d = c.hidden_size, V = c.vocab_size;
  const std::vector<int> tokens = testing::RandomTokens(70, 3);  // crosses a block
  const int64_t T = 69;                                          // positions with a next token
  KvSequence kv;
  ASSERT_TRUE(cache_.Reserve(&kv, tokens.size()).ok());
  std::vector<float> hidden;
  std::vector<ForwardItem> items = {
      {&kv, std::vector<int>(tokens.begin(), tokens.begin() + T), 0, true}};
  items[0].hidden = &hidden;
  std::vector<std::vector<float>> logits;
  ASSERT_TRUE(model_.Forward(items, cache_, &logits).ok());
  ASSERT_EQ(hidden.size(), static_cast<size_t>(T * d));
  // lm_head · hidden reproduces the logits: hidden is after model.norm.
  for (int64_t v = 0; v < V; v += 37) {
    double dot = 0;
    for (int64_t i = 0; i < d; ++i)
      dot += hidden[(T - 1) * d + i] * MtpWeightsForTest()->lm_head.w[v * d + i];
    EXPECT_NEAR(dot, logits[0][(T - 1) * V + v], 1e-4 * (1 + std::fabs(dot)));
  }

  // All slots at once: the last slot's draft.
  std::vector<std::vector<float>> chunk_logits, chunk_hidden;
  MtpItem all{&kv, 0, std::vector<int>(tokens.begin() + 1, tokens.begin() + T + 1), hidden.data()};
  ASSERT_TRUE(model_.MtpForward({all}, cache_, &chunk_logits, &chunk_hidden).ok());
  ASSERT_EQ(chunk_logits[0].size(), static_cast<size_t>(V));
  ASSERT_EQ(chunk_hidden[0].size(), static_cast<size_t>(d));
  EXPECT_GT(MaxAbs(chunk_logits[0]), 0);

  // Slot by slot (single slots attend in the absorbed form; rows rewritten the same).
  std::vector<std::vector<float>> one_logits, one_hidden;
  for (int64_t p = 0; p < T; ++p) {
    MtpItem one{&kv, p, {tokens[p + 1]}, &hidden[p * d]};
    ASSERT_TRUE(model_.MtpForward({one}, cache_, &one_logits, &one_hidden).ok());
  }
  double diff = 0;
  for (int64_t v = 0; v < V; ++v) {
    diff = std::max(diff, static_cast<double>(std::fabs(one_logits[0][v] - chunk_logits[0][v])));
  }
  EXPECT_LT(diff, 1e-4 * MaxAbs(chunk_logits[0]));
  // The MTP module changes the prediction: it is not the main model's next-token row.
  EXPECT_NE(chunk_logits[0], std::vector<float>(logits[0].end() - V, logits[0].end()));
}

TEST_F(CpuMtpForwardTest, BatchedItemsEqualEachAlone) {
  const int64_t d = model_.config().hidden_size;
  std::vector<std::vector<int>> toks = {testing::RandomTokens(9, 4), testing::RandomTokens(20, 5)};
  std::vector<KvSequence> kvs(2);
  std::vector<std::vector<float>> hid(2);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(cache_.Reserve(&kvs[i], toks[i].size()).ok());
    std::vector<ForwardItem> items = {{&kvs[i], toks[i], 0, false}};
    items[0].hidden = &hid[i];
    std::vector<std::vector<float>> logits;
    ASSERT_TRUE(model_.Forward(items, cache_, &logits).ok());
  }
  auto item = [&](int i) {
    return MtpItem{&kvs[i], 0, std::vector<int>(toks[i].begin() + 1, toks[i].end()), hid[i].data()};
  };
  std::vector<std::vector<float>> both, both_h, alone, alone_h;
  ASSERT_TRUE(model_.MtpForward({item(0), item(1)}, cache_, &both, &both_h).ok());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(model_.MtpForward({item(i)}, cache_, &alone, &alone_h).ok());
    double diff = 0;
    for (size_t v = 0; v < alone[0].size(); ++v) {
      diff = std::max(diff, static_cast<double>(std::fabs(alone[0][v] - both[i][v])));
    }
    EXPECT_LT(diff, 1e-5 * MaxAbs(alone[0])) << i;
    EXPECT_EQ(alone_h[0].size(), static_cast<size_t>(d));
  }
  // Bad items are refused.
  std::vector<std::vector<float>> l, h;
  MtpItem bad = item(0);
  bad.start = kvs[0].capacity();
  EXPECT_FALSE(model_.MtpForward({bad}, cache_, &l, &h).ok());
  bad = item(0);
  bad.next_tokens[0] = -1;
  EXPECT_FALSE(model_.MtpForward({bad}, cache_, &l, &h).ok());
}

}  // namespace
}  // namespace r1
