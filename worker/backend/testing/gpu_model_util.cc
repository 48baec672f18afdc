#include "worker/backend/testing/gpu_model_util.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "worker/backend/testing/block_counter.h"

namespace r1::testing {

std::unique_ptr<CudaModel> MakeGpuModel(const ModelConfig& c, const WeightSource& src,
                                        int kv_blocks, CudaModelOptions options) {
  auto w = LoadCudaWeights(c, src);
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return nullptr;
  auto m = CudaModel::Create(std::shared_ptr<const CudaWeights>(std::move(*w)), kv_blocks, options);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

std::vector<float> GpuLogits(CudaModel& m, const std::vector<int>& tokens, bool token_by_token) {
  BlockCounter blocks(m.kv_blocks());
  KvSequence kv;
  EXPECT_TRUE(blocks.Reserve(&kv, static_cast<int64_t>(tokens.size())));
  std::vector<std::vector<float>> logits;
  if (!token_by_token) {
    std::vector<ForwardItem> items = {{&kv, tokens, 0, true}};
    auto st = m.Forward(items, &logits);
    EXPECT_TRUE(st.ok()) << st;
    return st.ok() ? logits[0] : std::vector<float>{};
  }
  std::vector<float> out;
  for (size_t t = 0; t < tokens.size(); ++t) {
    std::vector<ForwardItem> items = {{&kv, {tokens[t]}, static_cast<int64_t>(t), false}};
    auto st = m.Forward(items, &logits);
    EXPECT_TRUE(st.ok()) << st;
    if (!st.ok()) return {};
    out.insert(out.end(), logits[0].begin(), logits[0].end());
  }
  return out;
}

std::vector<std::vector<int>> GpuGreedyBatch(CudaModel& m,
                                             const std::vector<std::vector<int>>& prompts,
                                             int max_new, int eos, int64_t valid_vocab) {
  const size_t n = prompts.size();
  BlockCounter blocks(m.kv_blocks());
  std::vector<KvSequence> kv(n);
  std::vector<std::vector<int>> out(n);
  std::vector<ForwardItem> items;
  std::vector<size_t> owner;
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(blocks.Reserve(&kv[i], static_cast<int64_t>(prompts[i].size()) + max_new));
    items.push_back({&kv[i], prompts[i], 0, false});
    owner.push_back(i);
  }
  for (int step = 0; step < max_new && !items.empty(); ++step) {
    std::vector<std::vector<float>> logits;
    const absl::Status st = m.Forward(items, &logits);
    EXPECT_TRUE(st.ok()) << st;
    if (!st.ok()) break;
    std::vector<ForwardItem> next;
    std::vector<size_t> next_owner;
    for (size_t j = 0; j < items.size(); ++j) {
      const auto& l = logits[j];
      const int tok =
          static_cast<int>(std::max_element(l.begin(), l.begin() + valid_vocab) - l.begin());
      const size_t i = owner[j];
      out[i].push_back(tok);
      if (tok == eos) continue;
      next.push_back({&kv[i], {tok}, kv[i].length, false});
      next_owner.push_back(i);
    }
    items = std::move(next);
    owner = std::move(next_owner);
  }
  return out;
}

}  // namespace r1::testing
