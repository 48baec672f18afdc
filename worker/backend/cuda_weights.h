// CudaWeights: a DeepSeek-V3 FP8 checkpoint's main-model weights in device memory, in the layouts
// the kernels/ ops read (spec §3, DESIGN.md §13):
//  * FP8 linear layers keep the checkpoint's e4m3 codes and 128×128 block scales. The input
//    dimension is padded with zero columns to a multiple of 128 (the GEMMs' K granularity) and
//    the scale rows to Fp8GemmWeightScaleLd (cuBLASLt's layout); ⌈k/128⌉ is unchanged by the
//    padding, so the checkpoint's scales are used as they are. Padded activations are zero, so
//    a padded GEMM computes what the unpadded one would, including the per-token 128-group
//    activation scales of a partial last group.
//  * gate_proj and up_proj of an FFN are stacked into one [gate (Ip rows) | up (Ip rows)] weight,
//    Ip = intermediate rounded up to 128 with zero rows, so one GEMM writes the [gate | up] row
//    that the fused SiLU·mul quantisation reads, and the pad columns of SiLU(gate)·up are zero.
//  * the routed experts a layer holds (all, or this rank's share in an expert-parallel group) are
//    stacked [held][...] for the grouped expert GEMM, optionally
//    converted to INT4 W4A16 on the device (CudaLoadOptions::int4_experts).
//  * kv_b_proj is also kept dequantised to bf16 for the absorbed attention (W_UK, W_UV).
//  * BF16 tensors (embedding, norms, router, lm_head) as they are; the router bias in f32.
// The first MTP module (spec §10) is loaded with CudaLoadOptions::load_mtp (CudaWeights::mtp);
// its embedding and head are the main model's. Built once by LoadCudaWeights; immutable afterwards,
// so several CudaModels on the same device may share it. Owns its device memory.
#ifndef R1_WORKER_BACKEND_CUDA_WEIGHTS_H_
#define R1_WORKER_BACKEND_CUDA_WEIGHTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model_config.h"
#include "worker/backend/device_arena.h"
#include "worker/model/weight_source.h"

namespace r1 {

// One FP8 linear (or a stack of `count` of them): y[m][n] = x[m][k] · Wᵀ.
struct DeviceFp8Linear {
  int64_t n = 0;           // output rows (padded for stacked FFN halves)
  int64_t k = 0;           // input columns as in the checkpoint
  int64_t k_pad = 0;       // k rounded up to 128: the row stride of `w`
  int64_t scale_ld = 0;    // row stride of `scale`
  int64_t count = 1;       // stacked matrices (experts); matrix e at w + e·n·k_pad
  uint8_t* w = nullptr;    // [count][n][k_pad] e4m3
  float* scale = nullptr;  // [count][⌈n/128⌉][scale_ld] f32
};

// A stack of INT4 W4A16 linears (spec §13.3; layout of kernels/int4_quant), converted from FP8
// at load.
struct DeviceInt4Linear {
  int64_t n = 0, k_pad = 0, count = 0;
  uint8_t* w = nullptr;       // [count][n][k_pad/2] packed int4
  uint16_t* scale = nullptr;  // [count][k_pad/128][n] bf16
};

struct DeviceFfn {
  int64_t inter = 0;        // intermediate width of the checkpoint
  int64_t inter_pad = 0;    // rounded up to 128
  DeviceFp8Linear gate_up;  // [2·inter_pad][k_pad(hidden)] (not held when int4)
  DeviceFp8Linear down;     // [hidden][inter_pad] (not held when int4)
  bool int4 = false;        // routed experts converted to INT4 at load
  DeviceInt4Linear gate_up4, down4;
};

struct DeviceLayer {
  uint16_t *input_norm = nullptr, *post_attention_norm = nullptr, *q_a_norm = nullptr,
           *kv_a_norm = nullptr;  // bf16
  DeviceFp8Linear q_a, q_b, kv_a, o;
  uint16_t* kv_b_bf16 = nullptr;  // [H·(nope + v)][kv_lora] bf16, dequantised kv_b_proj
  bool moe = false;
  DeviceFfn dense;               // !moe
  uint16_t* router = nullptr;    // moe: [E][hidden] bf16
  float* router_bias = nullptr;  // moe: [E] f32
  // moe: the routed experts this rank holds (global ids, ascending; local index = position),
  // their gate_up and down stacked in that order (count = held_experts.size(), possibly 0).
  std::vector<int> held_experts;
  DeviceFfn experts;
  bool has_shared = false;
  DeviceFfn shared;
};

// The MTP module, layer num_hidden_layers (spec §10): x' = eh_proj·[enorm(emb) ; hnorm(h)], a
// full decoder layer, then shared_head.norm before the main model's lm_head.
struct DeviceMtp {
  uint16_t *enorm = nullptr, *hnorm = nullptr, *head_norm = nullptr;  // [hidden] bf16
  uint16_t* eh_proj = nullptr;  // [hidden][2·hidden] bf16, embedding columns first
  DeviceLayer layer;            // its routed experts as CudaLoadOptions::want_expert selects
};

struct CudaWeights {
  ModelConfig config;
  uint16_t* embed = nullptr;       // [V][hidden] bf16
  uint16_t* final_norm = nullptr;  // [hidden] bf16
  uint16_t* lm_head = nullptr;     // [V][hidden] bf16
  std::vector<DeviceLayer> layers;
  std::vector<DeviceMtp> mtp;  // empty, or the first MTP module (CudaLoadOptions::load_mtp)
  DeviceArena arena;           // owns every pointer above
};

struct CudaLoadOptions {
  // Routed experts as INT4 W4A16 (group 128 along K, bf16 scales), converted on the device from
  // the FP8 checkpoint (kernels/int4_quant); their GEMMs then take bf16 activations.
  bool int4_experts = false;
  // Which routed experts (layer, expert) to load, e.g. EpPlacement::WantExpert(rank); null loads
  // all of them. The MTP module's routed experts are asked for as layer num_hidden_layers.
  std::function<bool(int, int)> want_expert;
  // Load the first MTP module (CudaWeights::mtp) for speculative decoding. InvalidArgument when
  // the config has no MTP layer (num_nextn_predict_layers = 0).
  bool load_mtp = false;
};

// Loads the main model from `source` onto the current CUDA device. Unimplemented for
// configurations the CUDA backend does not run yet (unquantised checkpoints, hidden_size or
// q_lora_rank not a multiple of 128); errors from the source name tensor and file.
absl::StatusOr<std::unique_ptr<CudaWeights>> LoadCudaWeights(const ModelConfig& config,
                                                             const WeightSource& source,
                                                             const CudaLoadOptions& options = {});

// The same model made of synthetic weights filled on the device (kernels/random_fill, seeded by
// `seed` and each tensor's name): nothing is staged on the host, so a full-size rank (≈100 GB)
// is ready in seconds. Values are uniform with unit-variance-preserving amplitudes (norm weights
// near 1, router biases 0), for benchmarks at real shapes; not the values of any checkpoint.
absl::StatusOr<std::unique_ptr<CudaWeights>> SynthesizeCudaWeights(
    const ModelConfig& config, uint64_t seed, const CudaLoadOptions& options = {});

}  // namespace r1

#endif  // R1_WORKER_BACKEND_CUDA_WEIGHTS_H_
