// DenseCudaWeights: a Qwen2 / Llama (R1-Distill) model's weights in BF16 device memory for
// DenseCudaModel, loaded from the same safetensors checkpoint DenseCpuModel reads (BF16 kept as
// is, F32 rounded to bf16 once), or synthesised on the device (benches). Laid out for the
// forward pass's GEMMs (kernels/bf16_gemm, out = x · Wᵀ):
//
//   qkv      [q_width + 2·kv_width][qkv_k]: q_proj, k_proj, v_proj rows stacked, so one GEMM
//            gives each token's [q | k | v] and its [k | v] is the cache row (row_size values);
//   o        [hidden][o_k];
//   gate_up  [2·intermediate][hidden]: gate rows then up rows ([gate | up], kernels/silu_mul);
//   down     [hidden][intermediate].
//
// Biases ride in the GEMM as an extra input column: with qkv_bias, qkv_k = hidden + 8 and
// column `hidden` of row r holds bias[r] (columns hidden+1..+7 zero); the model feeds the GEMM
// rows whose column `hidden` is 1 (and the next 7 zero), so the fp32 accumulation adds the bias
// exactly once before the single bf16 rounding. o_bias (Llama `attention_bias`) likewise with
// o_k = q_width + 8. Without biases qkv_k = hidden and o_k = q_width.
//
// Immutable after loading; owns its device memory (freed with it). Safe to share across threads.
#ifndef R1_WORKER_BACKEND_DENSE_CUDA_WEIGHTS_H_
#define R1_WORKER_BACKEND_DENSE_CUDA_WEIGHTS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dense_model_config.h"
#include "common/safetensors.h"
#include "worker/backend/device_arena.h"

namespace r1 {

// Width of the bias column block appended to a GEMM input (a multiple of 8 keeps cuBLASLt's
// 16-byte alignment).
inline constexpr int64_t kDenseBiasColumns = 8;

struct DenseDeviceLayer {
  const uint16_t* input_norm = nullptr;  // [hidden]
  const uint16_t* post_norm = nullptr;   // [hidden]
  const uint16_t* qkv = nullptr;         // [q_width + 2·kv_width][qkv_k]
  const uint16_t* o = nullptr;           // [hidden][o_k]
  const uint16_t* gate_up = nullptr;     // [2·intermediate][hidden]
  const uint16_t* down = nullptr;        // [hidden][intermediate]
};

struct DenseCudaWeights {
  DenseModelConfig config;
  int64_t qkv_k = 0;                     // hidden, or hidden + kDenseBiasColumns with qkv_bias
  int64_t o_k = 0;                       // q_width, or q_width + kDenseBiasColumns with o_bias
  const uint16_t* embed = nullptr;       // [vocab][hidden]
  const uint16_t* final_norm = nullptr;  // [hidden]
  const uint16_t* lm_head = nullptr;     // [vocab][hidden]; == embed with tie_word_embeddings
  std::vector<DenseDeviceLayer> layers;
  DeviceArena arena;  // owns every pointer above

  // Bytes one decode step reads: every layer's matrices, the norms, and lm_head once.
  int64_t StepWeightBytes() const;
};

// Checks that DenseCudaModel can run `c` on the GPU: hidden, intermediate, q_width and kv_width
// multiples of 8; head_dim 16, 32, 64, 128 or 256 (kernels/gqa_attend, kernels/rope ≤ 256).
absl::Status CheckDenseCudaShapes(const DenseModelConfig& c);

// Loads every tensor PlanDenseTensors names from `checkpoint` (BF16 or F32, shapes checked;
// errors name the tensor and its file) onto the current device.
absl::StatusOr<std::unique_ptr<DenseCudaWeights>> LoadDenseCudaWeights(
    const DenseModelConfig& c, const Checkpoint& checkpoint);

// Synthetic weights made on the device (kernels/random_fill; nothing crosses PCIe): matrices
// uniform in ±amplitude with amplitude = 1/sqrt(fan-in) (activations stay O(1) through the
// layers), norms 1, biases ±0.02. For benches; the values mean nothing.
absl::StatusOr<std::unique_ptr<DenseCudaWeights>> SynthesizeDenseCudaWeights(
    const DenseModelConfig& c, uint64_t seed);

}  // namespace r1

#endif  // R1_WORKER_BACKEND_DENSE_CUDA_WEIGHTS_H_
