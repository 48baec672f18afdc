// Helpers for model tests: a small DeepSeek-V3 config and synthetic checkpoints on disk.
#ifndef R1_WORKER_MODEL_TEST_UTIL_H_
#define R1_WORKER_MODEL_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "common/model_config.h"
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

}  // namespace r1::testing

#endif  // R1_WORKER_MODEL_TEST_UTIL_H_
