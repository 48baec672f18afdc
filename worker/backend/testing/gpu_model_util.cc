#include "worker/backend/testing/gpu_model_util.h"

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

}  // namespace r1::testing
