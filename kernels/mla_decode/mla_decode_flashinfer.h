// FlashInfer's Hopper MLA decode (flashinfer::mla::BatchMLAPageAttentionHopper, flashinfer-python
// 0.7.4) run on our MlaDecodeParams, beside our own kernel (mla_decode_cuda.h), so that both are
// measured in one process and ChooseMlaDecodeBackend can pick the faster one per shape.
//
// Built only when CMake finds the pinned wheel's headers (R1_HAVE_FLASHINFER; see
// cmake/R1FlashInfer.cmake). The FlashInfer code lives in one translation unit
// (mla_decode_flashinfer.cu) because it needs the wheel's CCCL ahead of the toolkit's on the
// include path; this header includes no FlashInfer, CUTLASS or CCCL header.
//
// Same math as LaunchMlaDecode (mla_decode.h) with the R1 dims (512 + 64, page 64), with these
// differences in the contract:
//   - Lengths come from the host: FlashInfer schedules the work on the CPU (its MLAPlan) from
//     the per-sequence lengths, so Plan() takes them in host memory. Run() never reads
//     params.seq_lens; the device copy must hold the same values for our kernel's sake only.
//   - Output is bf16 only (params.out_bf16; params.out must be null): FlashInfer's kernel writes
//     16-bit outputs and sizes its split partials for 2-byte elements.
//   - BF16 cache only (kv_dtype kBf16): the FP8 cache (kv_cache_fp8) is InvalidArgument.
//   - Any head count ≥ 1 (ours needs a multiple of 64).
//   - Page ids are not clamped: every id the lengths reach must be in [0, num_pages).
//   - The split workspace is owned by this object; params.workspace is ignored.
// The cache is our single [pages][64][576] tensor: FlashInfer's separate latent (ckv) and rope
// (kpe) tensors are addressed as kv_cache and kv_cache + 512, both with a page stride of 64·576
// and a row stride of 576 elements (its params take both strides per tensor), so nothing is
// copied. The block table is passed as FlashInfer's kv_indices with entry b starting at page
// b·block_table_stride (its kv_indptr), so it is not copied either.
#ifndef R1_KERNELS_MLA_DECODE_MLA_DECODE_FLASHINFER_H_
#define R1_KERNELS_MLA_DECODE_MLA_DECODE_FLASHINFER_H_

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/mla_decode/mla_decode.h"

namespace r1::kernels {

// The FlashInfer MLA decode with its planning state. Owns, for its lifetime: a device float
// workspace (split-K partial outputs, ~17 MB on 132 SMs), a device int workspace and an
// equally sized pinned host buffer (the plan's work lists, ~0.6 MB each) and one CUDA event.
// Created on the current device and used only there. Not thread-safe: one instance per stream,
// called from one thread at a time (like FlashInfer's own wrapper). Use: Plan(), then Run() any
// number of times on the same lengths; Plan() again when the lengths change. Run() launches read
// the int workspace that the next Plan() rewrites, so Plan() and Run() must be issued on the same
// stream (or otherwise ordered) — the plan's upload is stream-ordered after earlier launches.
class FlashInferMlaDecode {
 public:
  // Allocates the workspaces on the current device.
  static absl::StatusOr<std::unique_ptr<FlashInferMlaDecode>> Create();
  ~FlashInferMlaDecode();
  FlashInferMlaDecode(const FlashInferMlaDecode&) = delete;
  FlashInferMlaDecode& operator=(const FlashInferMlaDecode&) = delete;

  // Schedules one decode step: `host_seq_lens` (host memory, [batch], borrowed for the call;
  // 0 ≤ len ≤ block_table_stride·64) are the lengths Run() will attend over. Runs FlashInfer's
  // planner on the CPU and enqueues the upload of its work lists on `stream`. Blocks the host
  // until the previous Plan()'s upload has finished (the pinned staging buffer is reused).
  absl::Status Plan(const int32_t* host_seq_lens, int64_t batch, int64_t heads,
                    int64_t block_table_stride, cudaStream_t stream);

  // Launches the kernel (cooperative launch) on `stream` with the last plan. p.batch, p.heads and
  // p.block_table_stride must equal the planned ones; see the header comment for the rest.
  absl::Status Run(const MlaDecodeParams& p, cudaStream_t stream);

  // What Run() takes from the last plan besides the work lists' contents — its grid and the
  // lists' offsets in the workspaces — as one number (0 before a plan). A launch of Run()
  // captured in a CUDA graph stays exact after any later Plan() with the same key and batch:
  // Plan() rewrites the lists in place, on the stream, before the replay reads them.
  uint64_t layout_key() const;

  // Bytes of device memory this object holds (both workspaces).
  size_t device_bytes() const;

 private:
  struct State;  // FlashInfer's plan and the buffers (defined in the .cu only)
  explicit FlashInferMlaDecode(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

}  // namespace r1::kernels

#endif  // R1_KERNELS_MLA_DECODE_MLA_DECODE_FLASHINFER_H_
