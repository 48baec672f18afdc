#include "bench/serving/r1_rank/phase_floors.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace r1 {

namespace {

double Floor(double bytes, double flops, double bandwidth, double peak) {
  return std::max(bytes / bandwidth, flops / peak);
}

}  // namespace

DeviceCeilings CeilingsForDevice(const char* device_name) {
  DeviceCeilings k;
  if (device_name != nullptr && std::strstr(device_name, "H100") != nullptr) {
    k.hbm_bytes_per_s = 3.35e12;
    k.source = "H100: H200's compute ceilings, HBM3 datasheet peak 3.35 TB/s";
  }
  return k;
}

PhaseFloors DecodeFloors(const ModelConfig& c, int ranks, int batch, int context,
                         const DeviceCeilings& k) {
  const double B = batch, T = context, d = static_cast<double>(c.hidden_size);
  const double H = static_cast<double>(c.num_attention_heads);
  const double lora = static_cast<double>(c.kv_lora_rank), rope = c.qk_rope_head_dim;
  const double nope = static_cast<double>(c.qk_nope_head_dim), v = c.v_head_dim;
  const double qk = nope + rope;
  double attn_bytes = 0, attn_flops = 0, dense_bytes = 0, expert_bytes = 0, expert_flops = 0;
  const double E = static_cast<double>(c.n_routed_experts), W = ranks;
  const double moe_inter = static_cast<double>(c.moe_intermediate_size);
  const double expert_elems = 3.0 * d * moe_inter;
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    attn_bytes += B * T * (lora + rope) * 2.0;
    // Scores over latent + rope, then the latent-weighted sum; the absorption GEMMs (W_UK, W_UV).
    attn_flops += 2.0 * B * H * T * (2.0 * lora + rope) + 2.0 * B * H * lora * (nope + v);
    attn_bytes += H * (nope + v) * lora * 2.0;  // kv_b_proj in bf16 for the absorptions
    double elems = d * static_cast<double>(c.q_lora_rank) + d * (lora + rope) +
                   static_cast<double>(c.q_lora_rank) * H * qk + H * v * d;
    if (c.is_moe_layer(layer)) {
      elems += 3.0 * d * static_cast<double>(c.shared_expert_width());
      const double local = E / W;
      const double mean_rows = B * W * static_cast<double>(c.num_experts_per_tok) / E;
      expert_bytes += local * (1.0 - std::exp(-mean_rows)) * expert_elems;
      // Of the W ranks' B · W · top_k (token, expert) pairs, 1/W land here.
      expert_flops += 2.0 * B * static_cast<double>(c.num_experts_per_tok) * expert_elems;
    } else {
      elems += 3.0 * d * static_cast<double>(c.intermediate_size);
    }
    dense_bytes += elems;  // FP8: one byte per weight
  }
  const double dense_flops = 2.0 * B * dense_bytes;
  PhaseFloors f;
  f.attention_s = Floor(attn_bytes, attn_flops, k.hbm_bytes_per_s, k.bf16_flops_per_s);
  f.dense_gemm_s = Floor(dense_bytes, dense_flops, k.hbm_bytes_per_s, k.fp8_flops_per_s);
  f.experts_s = Floor(expert_bytes, expert_flops, k.hbm_bytes_per_s, k.fp8_flops_per_s);
  f.lm_head_s =
      Floor(static_cast<double>(c.vocab_size) * d * 2.0,
            2.0 * B * static_cast<double>(c.vocab_size) * d, k.hbm_bytes_per_s, k.bf16_flops_per_s);
  return f;
}

}  // namespace r1
