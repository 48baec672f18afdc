#include "worker/model/cpu_model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/safetensors.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/testing/test_util.h"

namespace r1 {
namespace {

std::shared_ptr<const ModelWeights> SmallWeights() { return testing::SmallSyntheticWeights(7); }

using testing::RandomTokens;

// max |a − b| / max |b|
double RelMaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, mag = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    mag = std::max(mag, static_cast<double>(std::fabs(b[i])));
  }
  return diff / mag;
}

class CpuModelTest : public ::testing::Test {
 protected:
  CpuModelTest() : cache_(3, 64, 128, false) {}

  // Full prefill of `tokens`; logits for every position.
  std::vector<float> Prefill(CpuModel& m, const std::vector<int>& tokens) {
    KvSequence kv;
    EXPECT_TRUE(cache_.Reserve(&kv, tokens.size()).ok());
    std::vector<ForwardItem> items = {{&kv, tokens, 0, true}};
    std::vector<std::vector<float>> logits;
    EXPECT_TRUE(m.Forward(items, cache_, &logits).ok());
    cache_.Release(&kv);
    return logits[0];
  }

  PagedKvCache cache_;
};

TEST_F(CpuModelTest, TokenByTokenDecodeEqualsPrefillOverThreeBlocks) {
  CpuModel m(SmallWeights(), {});
  const std::vector<int> tokens = RandomTokens(200, 1);  // spans 4 blocks of 64
  std::vector<float> full = Prefill(m, tokens);
  KvSequence kv;
  ASSERT_TRUE(cache_.Reserve(&kv, tokens.size()).ok());
  std::vector<float> decoded;
  for (size_t t = 0; t < tokens.size(); ++t) {
    std::vector<ForwardItem> items = {{&kv, {tokens[t]}, static_cast<int64_t>(t), false}};
    std::vector<std::vector<float>> logits;
    ASSERT_TRUE(m.Forward(items, cache_, &logits).ok());
    decoded.insert(decoded.end(), logits[0].begin(), logits[0].end());
  }
  cache_.Release(&kv);
  EXPECT_LE(RelMaxDiff(decoded, full), 1e-4);
}

TEST_F(CpuModelTest, ChunkedPrefillEqualsFullPrefill) {
  CpuModel m(SmallWeights(), {});
  const std::vector<int> tokens = RandomTokens(150, 2);
  std::vector<float> full = Prefill(m, tokens);
  KvSequence kv;
  ASSERT_TRUE(cache_.Reserve(&kv, tokens.size()).ok());
  std::vector<float> chunked;
  for (size_t s = 0; s < tokens.size(); s += 37) {
    const size_t e = std::min(tokens.size(), s + 37);
    std::vector<ForwardItem> items = {{&kv,
                                       std::vector<int>(tokens.begin() + s, tokens.begin() + e),
                                       static_cast<int64_t>(s), true}};
    std::vector<std::vector<float>> logits;
    ASSERT_TRUE(m.Forward(items, cache_, &logits).ok());
    chunked.insert(chunked.end(), logits[0].begin(), logits[0].end());
  }
  cache_.Release(&kv);
  EXPECT_LE(RelMaxDiff(chunked, full), 1e-4);
}

TEST_F(CpuModelTest, NaiveAndAbsorbedAttentionAgree) {
  CpuModel naive(SmallWeights(), {Precision::kF32, AttentionForm::kNaive});
  CpuModel absorbed(SmallWeights(), {Precision::kF32, AttentionForm::kAbsorbed});
  const std::vector<int> tokens = RandomTokens(90, 3);
  EXPECT_LE(RelMaxDiff(Prefill(absorbed, tokens), Prefill(naive, tokens)), 1e-4);
}

TEST_F(CpuModelTest, EightSequencesBatchedEqualEachAlone) {
  CpuModel m(SmallWeights(), {});
  std::vector<std::vector<int>> seqs;
  for (int i = 0; i < 8; ++i) seqs.push_back(RandomTokens(5 + 19 * i, 10 + i));
  // Alone: prefill all but the last token, then decode the last token.
  std::vector<std::vector<float>> alone;
  for (const auto& s : seqs) alone.push_back(Prefill(m, s));
  // Batched: one step prefills every sequence's prefix (all 8 chunks together), the next step
  // decodes the last token of each, mixed with nothing else.
  std::vector<KvSequence> kv(8);
  std::vector<ForwardItem> prefill, decode;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(cache_.Reserve(&kv[i], seqs[i].size()).ok());
    prefill.push_back({&kv[i], std::vector<int>(seqs[i].begin(), seqs[i].end() - 1), 0, true});
  }
  std::vector<std::vector<float>> out1, out2;
  ASSERT_TRUE(m.Forward(prefill, cache_, &out1).ok());
  for (int i = 0; i < 8; ++i) {
    decode.push_back({&kv[i], {seqs[i].back()}, static_cast<int64_t>(seqs[i].size() - 1), false});
  }
  ASSERT_TRUE(m.Forward(decode, cache_, &out2).ok());
  const int64_t V = 512;
  for (int i = 0; i < 8; ++i) {
    std::vector<float> batched = out1[i];
    batched.insert(batched.end(), out2[i].begin(), out2[i].end());
    EXPECT_LE(RelMaxDiff(batched, alone[i]), 1e-4) << "sequence " << i;
    EXPECT_EQ(static_cast<int64_t>(batched.size()), V * static_cast<int64_t>(seqs[i].size()));
    cache_.Release(&kv[i]);
  }
}

TEST_F(CpuModelTest, RejectsBadItems) {
  CpuModel m(SmallWeights(), {});
  KvSequence kv;
  ASSERT_TRUE(cache_.Reserve(&kv, 4).ok());
  std::vector<std::vector<float>> logits;
  std::vector<ForwardItem> bad_token = {{&kv, {512}, 0, false}};
  EXPECT_FALSE(m.Forward(bad_token, cache_, &logits).ok());
  std::vector<ForwardItem> gap = {{&kv, {5}, 2, false}};  // position 2 but nothing cached
  EXPECT_FALSE(m.Forward(gap, cache_, &logits).ok());
  std::vector<ForwardItem> too_long = {{&kv, RandomTokens(65, 4), 0, false}};
  EXPECT_FALSE(m.Forward(too_long, cache_, &logits).ok());
  cache_.Release(&kv);
}

// ForwardAndChoose over an all_logits item (draft verification) chooses every row: plain greedy
// gives each row's argmax of Forward's logits; an item without a spec gets empty entries; any
// other spec on an all_logits item is refused.
TEST_F(CpuModelTest, ForwardAndChooseChoosesEveryRowOfAnAllLogitsItem) {
  CpuModel m(SmallWeights(), {});
  const std::vector<int> a = RandomTokens(9, 5), b = RandomTokens(4, 6);
  const std::vector<float> want_a = Prefill(m, a);
  const int64_t V = testing::SmallConfig().vocab_size;
  KvSequence kv_a, kv_b, kv_c;
  ASSERT_TRUE(cache_.Reserve(&kv_a, a.size()).ok());
  ASSERT_TRUE(cache_.Reserve(&kv_b, b.size()).ok());
  ASSERT_TRUE(cache_.Reserve(&kv_c, b.size()).ok());
  const TokenChoiceSpec greedy;
  std::vector<ForwardItem> items = {
      {&kv_a, a, 0, true, &greedy}, {&kv_b, b, 0, false, &greedy}, {&kv_c, b, 0, true, nullptr}};
  std::vector<TokenChoice> chosen;
  ASSERT_TRUE(m.ForwardAndChoose(items, cache_, V, &chosen).ok());
  ASSERT_EQ(chosen.size(), a.size() + 1 + b.size());
  for (size_t t = 0; t < a.size(); ++t) {
    const auto row = want_a.begin() + t * V;
    EXPECT_EQ(chosen[t].id, std::max_element(row, row + V) - row) << "row " << t;
  }
  EXPECT_GE(chosen[a.size()].id, 0);
  for (size_t r = a.size() + 1; r < chosen.size(); ++r) EXPECT_EQ(chosen[r].id, -1);

  TokenChoiceSpec sampled;
  sampled.temperature = 0.7f;
  std::vector<ForwardItem> refused = {{&kv_a, a, 0, true, &sampled}};
  const absl::Status st = m.ForwardAndChoose(refused, cache_, V, &chosen);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  cache_.Release(&kv_a);
  cache_.Release(&kv_b);
  cache_.Release(&kv_c);
}

// ---- broken checkpoints are refused with the tensor and the file named ----

class BrokenCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("ckpt");
    SyntheticWeightSource src(3);
    ASSERT_TRUE(
        WriteCheckpoint(testing::SmallConfigJson(), testing::SmallConfig(), src, dir_, 2).ok());
  }

  // Replaces (or with dtype == nullopt removes) one tensor inside its shard.
  void Rewrite(const std::string& name, std::optional<DType> dtype, std::vector<int64_t> shape,
               std::string bytes) {
    auto ck = Checkpoint::Open(dir_);
    ASSERT_TRUE(ck.ok()) << ck.status();
    std::string shard = std::string((*ck)->Get(name)->file);
    auto f = SafetensorsFile::Open(shard);
    ASSERT_TRUE(f.ok());
    SafetensorsWriter w;
    for (const TensorInfo& t : (*f)->header().tensors) {
      TensorView v = (*f)->View(t);
      if (t.name != name) {
        ASSERT_TRUE(w.Add(t.name, t.dtype, t.shape,
                          std::string(reinterpret_cast<const char*>(v.data), v.nbytes()))
                        .ok());
      } else if (dtype) {
        ASSERT_TRUE(w.Add(t.name, *dtype, shape, bytes).ok());
      }
    }
    f->reset();
    ck->reset();
    ASSERT_TRUE(w.WriteFile(shard).ok());
  }

  absl::Status Load() {
    auto src = CheckpointWeightSource::Open(dir_);
    if (!src.ok()) return src.status();
    return LoadModelWeights(testing::SmallConfig(), **src).status();
  }

  void ExpectNames(const absl::Status& st, const std::string& tensor) {
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("'" + tensor + "'"), std::string::npos) << st;
    EXPECT_NE(st.message().find(".safetensors"), std::string::npos) << st;
  }

  std::string dir_;
};

TEST_F(BrokenCheckpointTest, IntactCheckpointLoadsAndMatchesSyntheticSource) {
  ASSERT_TRUE(Load().ok()) << Load();
  auto src = CheckpointWeightSource::Open(dir_);
  auto from_disk = LoadModelWeights(testing::SmallConfig(), **src);
  SyntheticWeightSource syn(3);
  auto direct = LoadModelWeights(testing::SmallConfig(), syn);
  ASSERT_TRUE(from_disk.ok() && direct.ok());
  EXPECT_EQ((*from_disk)->layers[2].experts[5].down.w, (*direct)->layers[2].experts[5].down.w);
  EXPECT_EQ((*from_disk)->lm_head.w, (*direct)->lm_head.w);
}

TEST_F(BrokenCheckpointTest, MissingTensor) {
  const std::string name = "model.layers.1.mlp.experts.3.up_proj.weight";
  Rewrite(name, std::nullopt, {}, "");
  auto st = CheckpointWeightSource::Open(dir_).status();  // the index still lists it
  ExpectNames(st, name);
}

TEST_F(BrokenCheckpointTest, WrongShape) {
  const std::string name = "model.layers.0.input_layernorm.weight";
  Rewrite(name, DType::kBF16, {64}, std::string(128, '\0'));
  ExpectNames(Load(), name);
}

TEST_F(BrokenCheckpointTest, WrongDtype) {
  const std::string name = "model.layers.2.post_attention_layernorm.weight";
  Rewrite(name, DType::kF32, {128}, std::string(512, '\0'));
  ExpectNames(Load(), name);
}

TEST_F(BrokenCheckpointTest, ScaleShapeMismatch) {
  const std::string name = "model.layers.0.self_attn.kv_b_proj.weight_scale_inv";
  Rewrite(name, DType::kF32, {1, 2}, std::string(8, '\0'));
  ExpectNames(Load(), name);
}

TEST_F(BrokenCheckpointTest, TruncatedShard) {
  const std::string shard = dir_ + "/model-00002-of-00002.safetensors";
  auto data = ReadFileBounded(shard, 1 << 30);
  ASSERT_TRUE(data.ok());
  std::ofstream(shard, std::ios::binary | std::ios::trunc) << data->substr(0, data->size() - 1000);
  auto st = Load();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("model-00002-of-00002.safetensors"), std::string::npos) << st;
  EXPECT_NE(st.message().find("tensor '"), std::string::npos) << st;
}

}  // namespace
}  // namespace r1
