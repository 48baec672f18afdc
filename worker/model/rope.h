// YaRN rotary position embedding on interleaved pairs (spec §6.3–6.4), for the CPU model.
//
// The checkpoint's RoPE dims rotate as pairs (2i, 2i+1) with frequency θ_i. θ follows YaRN with
// the correction range computed from original_max_position_embeddings and the rope dim (never from
// max_position_embeddings). The table itself is kernels/rope's (YarnInvFreq, YarnCosSinScale,
// BuildRopeTable) on the config's YarnConfigOf, so the CPU model and the CUDA backend rotate by
// the same θ. Immutable after construction; thread-safe for concurrent reads.
#ifndef R1_WORKER_MODEL_ROPE_H_
#define R1_WORKER_MODEL_ROPE_H_

#include <cstdint>
#include <vector>

#include "common/model_config.h"
#include "kernels/rope/rope.h"

namespace r1 {

// The config's rope dims, θ base and YaRN scaling (factor 1 without rope_scaling).
kernels::YarnConfig YarnConfigOf(const ModelConfig& c);

// The attention softmax scale σ = qk_head_dim^-1/2 · m², m = 0.1·mscale_all_dim·ln(s) + 1
// (0.13523378 for R1).
double SoftmaxScale(const ModelConfig& c);

class Rope {
 public:
  explicit Rope(const ModelConfig& c);

  // Rotates `x` (rope_dim values, interleaved pairs) in place for absolute position `pos`.
  // Angles are computed in fp32 as p·θ_i like the references.
  void Apply(float* x, int64_t pos) const;
  int dim() const { return dim_; }

 private:
  int dim_;
  std::vector<float> inv_freq_;  // fp32 θ_i
  float cos_sin_scale_;
};

}  // namespace r1

#endif  // R1_WORKER_MODEL_ROPE_H_
