// Helpers for model tests: a small DeepSeek-V3 config and synthetic checkpoints on disk.
#ifndef R1_WORKER_MODEL_TESTING_TEST_UTIL_H_
#define R1_WORKER_MODEL_TESTING_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/model_config.h"
#include "worker/model/cpu_model.h"
#include "worker/model/model_weights.h"

namespace r1::testing {

// A 3-layer config of R1's shape family (first layer dense, 8 experts in 4 groups keeping 2,
// top-3, one shared expert, YaRN, FP8 block-quantised) small enough for unit tests. The KV-a
// output (96 + 32 = 128 rows) and o_proj input are multiples of 128; kv_b's input (96) is not.
std::string SmallConfigJson();
ModelConfig SmallConfig();

// SmallConfig's weights from SyntheticWeightSource(seed), loaded once per seed and shared.
std::shared_ptr<const ModelWeights> SmallSyntheticWeights(uint64_t seed);

// `n` token ids in [2, 502), deterministic in `seed`.
std::vector<int> RandomTokens(int n, unsigned seed);

// A fresh empty directory under the test temp dir, named after the running test.
std::string TempDir(const std::string& suffix);

// Logits [T][V] of every position of `tokens` from one CpuModel prefill (AttentionForm::kAuto;
// a bf16 cache in the FP8-activation mode, as the GPU keeps). Fails the test on errors.
std::vector<float> PrefillLogits(std::shared_ptr<const ModelWeights> weights, Precision precision,
                                 const std::vector<int>& tokens);

// How well rows of logits agree with reference rows: top-1 agreement and relative L2 error
// over all rows added.
struct Agreement {
  int64_t positions = 0, agree = 0;
  double err2 = 0, ref2 = 0;
  void Add(const float* got, const float* want, int64_t V) {
    agree += (std::max_element(got, got + V) - got) == (std::max_element(want, want + V) - want);
    ++positions;
    for (int64_t v = 0; v < V; ++v) {
      err2 += (got[v] - want[v]) * static_cast<double>(got[v] - want[v]);
      ref2 += want[v] * static_cast<double>(want[v]);
    }
  }
  // Every row of equally long [rows][V] vectors (false when the sizes differ).
  bool AddRows(const std::vector<float>& got, const std::vector<float>& want, int64_t V) {
    if (got.size() != want.size()) return false;
    for (size_t r = 0; r < got.size() / V; ++r) Add(&got[r * V], &want[r * V], V);
    return true;
  }
  double top1() const { return static_cast<double>(agree) / std::max<int64_t>(positions, 1); }
  double rel_l2() const { return std::sqrt(err2 / ref2); }
};

}  // namespace r1::testing

#endif  // R1_WORKER_MODEL_TESTING_TEST_UTIL_H_
