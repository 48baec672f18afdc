// PhaseFloors: the least time each phase of one decode step of an R1 rank can take on a GPU with
// the given ceilings (DESIGN.md §13): max(bytes / bandwidth, flops / peak) per phase, from the
// model's shapes alone. The bench divides these by the measured phase times (roofline ratio).
//
//   attention  : the batch's cached latent rows (B · context · (kv_lora + rope) bf16) read once
//                per layer; FLOPs of the absorbed MLA (2 · B · heads · context · (2·kv_lora +
//                rope)) and of the two absorption GEMMs per token;
//   dense_gemm : the FP8 weights of q_a, kv_a, q_b, o, the dense FFNs and the shared experts read
//                once; 2 · B · their elements FLOPs;
//   experts    : the FP8 weights of the local experts that receive any row, expected under
//                uniform routing (a local expert gets Poisson(B · W · top_k / E) rows), read once;
//                2 · rows · 3 · hidden · moe_inter FLOPs over all received rows;
//   lm_head    : vocab × hidden bf16 read once.
// Pure; no device.
#ifndef R1_BENCH_SERVING_R1_RANK_PHASE_FLOORS_H_
#define R1_BENCH_SERVING_R1_RANK_PHASE_FLOORS_H_

#include "common/model_config.h"

namespace r1 {

struct DeviceCeilings {
  double hbm_bytes_per_s = 4.21e12;  // HBM copy, H200 (DESIGN.md §13)
  double bf16_flops_per_s = 728e12;  // BF16 GEMM 8192³
  double fp8_flops_per_s = 1347e12;  // FP8 GEMM 8192³
  const char* source = "H200, measured (DESIGN.md §13)";
};

// The ceilings to hold a GPU named `device_name` (cudaDeviceProp::name) to. H200 (and anything
// unrecognised): DESIGN.md §13's measured H200 values. H100 80GB HBM3: the same compute ceilings
// (the same GH100 die, 132 SMs, 700 W) and the H100 SXM datasheet's 3.35 TB/s of HBM3 — a peak,
// not a measured copy, so ratios against it run ~10 % lower than against a measured ceiling.
DeviceCeilings CeilingsForDevice(const char* device_name);

struct PhaseFloors {
  double attention_s = 0, dense_gemm_s = 0, experts_s = 0, lm_head_s = 0;
  double total_s() const { return attention_s + dense_gemm_s + experts_s + lm_head_s; }
};

// One decode step of `batch` sequences at `context` cached tokens on a rank of `ranks` holding
// E / ranks routed experts per MoE layer (FP8 weights).
PhaseFloors DecodeFloors(const ModelConfig& config, int ranks, int batch, int context,
                         const DeviceCeilings& ceilings);

}  // namespace r1

#endif  // R1_BENCH_SERVING_R1_RANK_PHASE_FLOORS_H_
