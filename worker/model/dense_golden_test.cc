// DenseCpuModel against Hugging Face transformers' Qwen2ForCausalLM / LlamaForCausalLM (float32,
// eager attention) on the fixtures tests/golden/dense_* (made by tools/golden/generate_dense.py):
//   logits: max |Δlogit| ≤ 1e-4 · max |logit| for the prefill of every position and for
//           token-by-token decode through the paged cache;
//   greedy: the argmax continuation of a prompt, token by token, is identical.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "common/safetensors.h"
#include "worker/model/dense_cpu_model.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

struct Reference {
  std::unique_ptr<SafetensorsFile> file;
  bool Has(const std::string& name) const { return file->Find(name) != nullptr; }
  template <typename T>
  std::vector<T> Get(const std::string& name) const {
    const TensorInfo* t = file->Find(name);
    EXPECT_NE(t, nullptr) << name;
    if (t == nullptr) return {};
    std::vector<T> v(t->numel());
    std::memcpy(v.data(), file->View(*t).data, t->nbytes());
    return v;
  }
};

std::vector<std::string> DenseGoldenDirs() {
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator("tests/golden")) {
    if (fs::exists(e.path() / "dense_reference.safetensors")) dirs.push_back(e.path().string());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

class DenseGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto w = LoadDenseModelDir(GetParam());
    ASSERT_TRUE(w.ok()) << w.status();
    weights_ = std::move(*w);
    auto f = SafetensorsFile::Open(GetParam() + "/dense_reference.safetensors");
    ASSERT_TRUE(f.ok()) << f.status();
    ref_.file = std::move(*f);
  }

  // Logits of every position of `tokens`: one prefill, or token by token through the cache.
  std::vector<float> Run(const std::vector<int>& tokens, bool token_by_token) const {
    DenseCpuModel model(weights_);
    PagedKvCache cache(static_cast<int>(weights_->config.num_hidden_layers),
                       static_cast<int>(tokens.size() / kBlockTokens + 1), model.row_size(), false);
    KvSequence kv;
    EXPECT_TRUE(cache.Reserve(&kv, tokens.size()).ok());
    std::vector<std::vector<float>> logits;
    if (!token_by_token) {
      std::vector<ForwardItem> items = {{&kv, tokens, 0, true}};
      EXPECT_TRUE(model.Forward(items, cache, &logits).ok());
      return logits[0];
    }
    std::vector<float> out;
    for (size_t t = 0; t < tokens.size(); ++t) {
      std::vector<ForwardItem> items = {{&kv, {tokens[t]}, static_cast<int64_t>(t), false}};
      EXPECT_TRUE(model.Forward(items, cache, &logits).ok());
      out.insert(out.end(), logits[0].begin(), logits[0].end());
    }
    return out;
  }

  void ExpectClose(const std::string& label, const std::vector<int>& tokens,
                   const std::vector<float>& want, bool token_by_token) const {
    const std::vector<float> got = Run(tokens, token_by_token);
    ASSERT_EQ(got.size(), want.size()) << label;
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[i]) - want[i]));
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    }
    EXPECT_LE(max_diff, 1e-4 * max_ref) << GetParam() << " " << label;
    std::printf("%s %-8s fp32: max|dlogit| %.3g = %.3g of max|logit| %.3g\n", GetParam().c_str(),
                label.c_str(), max_diff, max_diff / max_ref, max_ref);
  }

  std::shared_ptr<const DenseWeights> weights_;
  Reference ref_;
};

TEST_P(DenseGoldenTest, PrefillLogitsMatchTransformers) {
  for (int i = 0; ref_.Has("prompt" + std::to_string(i) + ".tokens"); ++i) {
    const std::string p = "prompt" + std::to_string(i);
    ExpectClose(p, ref_.Get<int>(p + ".tokens"), ref_.Get<float>(p + ".logits"), false);
  }
}

TEST_P(DenseGoldenTest, DecodeLogitsMatchTransformers) {
  ExpectClose("decode", ref_.Get<int>("decode.tokens"), ref_.Get<float>("decode.logits"), true);
}

TEST_P(DenseGoldenTest, GreedyContinuationIsIdentical) {
  const std::vector<int> prompt = ref_.Get<int>("greedy.prompt");
  const std::vector<int> want = ref_.Get<int>("greedy.tokens");
  DenseCpuModel model(weights_);
  const int64_t total = static_cast<int64_t>(prompt.size() + want.size());
  PagedKvCache cache(static_cast<int>(weights_->config.num_hidden_layers),
                     static_cast<int>(total / kBlockTokens + 1), model.row_size(), false);
  KvSequence kv;
  ASSERT_TRUE(cache.Reserve(&kv, total).ok());
  TokenChoiceSpec greedy;  // default: temperature 0, the argmax
  std::vector<ForwardItem> items = {{&kv, prompt, 0, false, &greedy}};
  std::vector<int> got;
  for (size_t step = 0; step < want.size(); ++step) {
    std::vector<TokenChoice> chosen;
    ASSERT_TRUE(model.ForwardAndChoose(items, cache, weights_->config.vocab_size, &chosen).ok());
    got.push_back(chosen[0].id);
    items = {{&kv, {got.back()}, kv.length, false, &greedy}};
  }
  EXPECT_EQ(got, want) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DenseGoldenTest, ::testing::ValuesIn(DenseGoldenDirs()),
                         [](const auto& info) { return fs::path(info.param).filename().string(); });

}  // namespace
}  // namespace r1
