// FlashInfer's Hopper (FA3-style, sm90) prefill attention (flashinfer::SinglePrefillWithKVCache-
// Dispatched from attention/hopper/prefill_sm90.cuh, flashinfer-python 0.7.4) run on our
// MlaPrefillParams, beside our own kernel (mla_prefill_cuda.h), so that both are measured in one
// process and ChooseMlaPrefillBackend (mla_prefill_backend.h) can pick the faster one per shape.
//
// Built only when CMake finds the pinned wheel's headers (R1_HAVE_FLASHINFER; see
// cmake/R1FlashInfer.cmake). The FlashInfer code lives in one translation unit
// (mla_prefill_flashinfer.cu) because it needs the wheel's CCCL ahead of the toolkit's on the
// include path; this header includes no FlashInfer, CUTLASS or CCCL header.
//
// Same math as LaunchMlaPrefill (causal, fp32 softmax in the exp2 domain, probabilities rounded
// to bf16 before P·V with fp32 accumulation, bf16 output rounded once). One instantiation: bf16
// q/k/v/out, head_dim_qk 192, head_dim_vo 128, MaskMode::kCausal, no sliding window, no soft cap,
// no LSE output — FlashInfer's "DeepSeek prefill" pair, the only unequal one its sm90 prefill has.
// FlashInfer's single-sequence entry point is used (no host plan, one CTA per 128 query rows ×
// head); its batch/ragged entry runs the same kernel body with a persistent, host-planned
// scheduler, which one chunk of one sequence does not need.
//
// What our params cannot express in FlashInfer's layout, and what happens instead:
//   - The key. FlashInfer reads one (nope + rope)-wide key per (position, head) with one pair of
//     strides; ours is split in two tensors: k_nope inside the kv_b_proj output (interleaved with
//     v, per head) and k_rope, one row per position shared by all heads. Run() therefore packs
//     K = [q_start + tokens][heads][192] (k_nope ‖ k_rope) into a buffer this object owns (one
//     extra kernel on `stream` moving 768 bytes per packed row: 192 values read, 192 written),
//     then runs FlashInfer on it. The query, value (kv + nope_dim, same strides as kv) and output
//     are used in place with their own strides (head-major and padded layouts included).
//   - Widths: only nope_dim + rope_dim == 192 and v_dim == 128, nope_dim % 8 == 0.
//   - Alignment: q, kv, out, k_rope 16-byte aligned and every stride a multiple of 8 elements
//     (TMA loads, 16-byte stores, 16-byte packing).
//   - Sizes: q_start + tokens below 2^31, heads ≤ 65535, strides below 2^39 elements.
//   Anything else is refused with InvalidArgument (CheckMlaPrefillFlashInfer in
//   mla_prefill_backend.h, which the chooser also uses); LaunchMlaPrefill runs all of it.
// Expressible exactly, so never refused: causal alignment when query and key lengths differ.
// FlashInfer aligns the last query row with the last key (query row t sees keys
// ≤ t + kv_len − qo_len); it is given kv_len = q_start + tokens (our positions past the chunk are
// never visible, so they are neither packed nor read), which makes that bound q_start + t, ours.
#ifndef R1_KERNELS_MLA_PREFILL_MLA_PREFILL_FLASHINFER_H_
#define R1_KERNELS_MLA_PREFILL_MLA_PREFILL_FLASHINFER_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/mla_prefill/mla_prefill.h"

namespace r1::kernels {

// FlashInfer's prefill with the packed-key buffer it needs. Owns, for its lifetime, one device
// buffer of key_capacity_rows() × 192 bf16 (the packed keys), allocated once in Create(); Run()
// allocates nothing. Created on the current device and used only there (Run() refuses another
// current device). Not thread-safe: Run() rewrites the packed-key buffer, so one instance per
// stream, called from one thread at a time; two Runs on different streams must not overlap.
class FlashInferMlaPrefill {
 public:
  // Allocates room for `max_key_rows` = (q_start + tokens)·heads packed keys (384 bytes each:
  // 128 heads × 8192 positions is 384 MiB). Fails on a device other than sm_90.
  static absl::StatusOr<std::unique_ptr<FlashInferMlaPrefill>> Create(int64_t max_key_rows);
  ~FlashInferMlaPrefill();
  FlashInferMlaPrefill(const FlashInferMlaPrefill&) = delete;
  FlashInferMlaPrefill& operator=(const FlashInferMlaPrefill&) = delete;

  // Enqueues the key packing and FlashInfer's kernel on `stream` (asynchronous; pointers are
  // device memory, borrowed until the work completes). InvalidArgument where
  // CheckMlaPrefillFlashInfer(p) fails or (q_start + tokens)·heads > key_capacity_rows();
  // tokens == 0 does nothing.
  absl::Status Run(const MlaPrefillParams& p, cudaStream_t stream);

  int64_t key_capacity_rows() const;
  // Bytes of device memory this object holds (the packed-key buffer).
  size_t device_bytes() const;

 private:
  struct State;  // the buffer and device (defined in the .cu only)
  explicit FlashInferMlaPrefill(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_PREFILL_MLA_PREFILL_FLASHINFER_H_
