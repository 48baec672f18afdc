// YaRN rotary embedding on interleaved pairs (spec §6.3–6.4), applied in place to bf16 vectors:
//
//   z'[2i]   = z[2i]·cos(p·θ_i) − z[2i+1]·sin(p·θ_i)
//   z'[2i+1] = z[2i]·sin(p·θ_i) + z[2i+1]·cos(p·θ_i)          (fp32, one bf16 rounding)
//
// or, with RopeLayout::kRotateHalf (Hugging Face's rotate_half: the dense Qwen2 / Llama models,
// whose table comes from worker/model/dense_rope.h), on the pairs (i, i + dim/2):
//
//   z'[i]         = z[i]·cos(p·θ_i) − z[i+dim/2]·sin(p·θ_i)
//   z'[i+dim/2]   = z[i+dim/2]·cos(p·θ_i) + z[i]·sin(p·θ_i)
//
// with the YaRN-corrected frequencies θ_i (always applied) and a precomputed fp32 cos/sin table
// [max_pos][dim/2] (angles p·θ_i in fp32, as both references compute them). Used on q's 64 rope
// dims of every head and on the shared k_rope before it enters the KV cache.
#ifndef R1_KERNELS_ROPE_ROPE_H_
#define R1_KERNELS_ROPE_ROPE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace r1::kernels {

struct YarnConfig {
  int dim = 64;           // qk_rope_head_dim
  double base = 10000.0;  // rope_theta
  double factor = 40.0;   // rope_scaling.factor
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  int64_t original_max_pos = 4096;  // rope_scaling.original_max_position_embeddings
  double mscale = 1.0;
  double mscale_all_dim = 1.0;
};

// θ_i for i < dim/2 (spec §6.4), computed in fp32 like the references. The one YaRN table of
// the project: the CPU model (worker/model/rope.h: YarnConfigOf) and the CUDA backend use it.
std::vector<float> YarnInvFreq(const YarnConfig& c);

// cos/sin factor (1.0 for R1), as transformers' YaRN computes its attention factor:
// m(mscale)/m(mscale_all_dim) when both are non-zero, else m(1), with m(x) = 0.1·x·ln(factor) + 1
// (1 when factor ≤ 1).
float YarnCosSinScale(const YarnConfig& c);

// Fills cos/sin [max_pos][dim/2]: angle = float(p)·θ_i in fp32, cos/sin evaluated in double and
// rounded, times YarnCosSinScale.
void BuildRopeTable(const YarnConfig& c, int64_t max_pos, std::vector<float>* cos_table,
                    std::vector<float>* sin_table);

// Which values rotate together.
enum class RopeLayout {
  kInterleaved,  // (2i, 2i+1): DeepSeek's rope dims
  kRotateHalf,   // (i, i + dim/2): Qwen2 / Llama
};

struct RopeParams {
  // bf16, rotated in place: the `dim` values of (token t, head h) start at
  // x + t·token_stride + h·head_stride. Not null.
  uint16_t* x = nullptr;
  int64_t token_stride = 0;
  int64_t head_stride = 0;
  int64_t tokens = 0;                  // ≥ 0
  int64_t heads = 0;                   // > 0
  int dim = 64;                        // even, ≤ 256
  const int32_t* positions = nullptr;  // [tokens], 0 ≤ p < max_pos; not null
  const float* cos_table = nullptr;    // [max_pos][dim/2]; not null
  const float* sin_table = nullptr;    // [max_pos][dim/2]; not null
  int64_t max_pos = 0;                 // > 0
  RopeLayout layout = RopeLayout::kInterleaved;
};

absl::Status ValidateRope(const RopeParams& p);

// CPU reference; pointers are host memory. Positions are range-checked.
absl::Status RopeReference(const RopeParams& p);

}  // namespace r1::kernels

#endif  // R1_KERNELS_ROPE_ROPE_H_
