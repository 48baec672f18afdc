// DenseRope: the rotary position embedding of the Qwen2 / Llama families (Hugging Face's
// rotate-half form): dims i and i + head_dim/2 rotate together with frequency θ_i =
// rope_theta^(−2i/head_dim), optionally rescaled by Llama-3.1's `llama3` rope_scaling. No
// attention scaling (cos/sin multiplier 1). Immutable after construction; thread-safe for reads.
#ifndef R1_WORKER_MODEL_DENSE_ROPE_H_
#define R1_WORKER_MODEL_DENSE_ROPE_H_

#include <cstdint>
#include <vector>

#include "common/dense_model_config.h"

namespace r1 {

// θ_i for i in [0, head_dim/2), in double precision, after llama3 scaling when configured:
// wavelength λ = 2π/θ; λ < L/high_freq_factor keeps θ, λ > L/low_freq_factor takes θ/factor,
// between them θ·((1−s)/factor + s) with s = (L/λ − low_freq_factor) / (high − low)
// (L = original_max_position_embeddings).
std::vector<double> DenseInvFreq(const DenseModelConfig& c);

class DenseRope {
 public:
  explicit DenseRope(const DenseModelConfig& c);

  // Rotates one head's `head_dim` values in place for absolute position `pos`. Angles are
  // computed in fp32 as p·θ_i, like transformers.
  void Apply(float* x, int64_t pos) const;
  // The cos/sin values Apply uses, as tables [max_pos][dim/2] (kernels/rope's table layout, for
  // its RopeLayout::kRotateHalf): entry (p, i) = cos/sin(fp32 p·θ_i), bit-equal to Apply's.
  void Table(int64_t max_pos, std::vector<float>* cos_table, std::vector<float>* sin_table) const;
  int dim() const { return dim_; }

 private:
  int dim_;
  std::vector<float> inv_freq_;  // fp32 θ_i
};

}  // namespace r1

#endif  // R1_WORKER_MODEL_DENSE_ROPE_H_
