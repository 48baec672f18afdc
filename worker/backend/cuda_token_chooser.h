// CudaTokenChooser: the device half of token choice (worker/model/token_choice.h) — logits stay
// on the GPU; only the chosen ids (and logprobs when asked) come back. Per call: one upload of
// the packed specs (one pinned staging buffer), kernels/logprobs' input rows saved, then
// kernels/logits_process, kernels/sampling and kernels/logprobs on the stream, and one download
// of the results followed by one stream synchronisation. Buffers grow to the largest batch seen
// and are reused; nothing is allocated per call after that.
//
// Owns its device and pinned host buffers. Thread-compatible: one Choose at a time, with the
// CUDA device current as at the first call.
#ifndef R1_WORKER_BACKEND_CUDA_TOKEN_CHOOSER_H_
#define R1_WORKER_BACKEND_CUDA_TOKEN_CHOOSER_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "worker/backend/pinned_upload.h"
#include "worker/model/token_choice.h"

namespace r1 {

class CudaTokenChooser {
 public:
  CudaTokenChooser() = default;
  CudaTokenChooser(const CudaTokenChooser&) = delete;
  CudaTokenChooser& operator=(const CudaTokenChooser&) = delete;
  ~CudaTokenChooser();

  // Chooses one token per row of `logits` (device memory, [specs.size()][ld] f32; rows are
  // modified) as ChooseTokensOnHost does, on `stream`; returns when the results are on the
  // host. `vocab` ≤ ld is the row width, `valid_vocab` (≤ vocab) the ids that may be chosen.
  absl::Status Choose(float* logits, int64_t ld, int64_t vocab, int64_t valid_vocab,
                      const std::vector<const TokenChoiceSpec*>& specs, cudaStream_t stream,
                      std::vector<TokenChoice>* out);

 private:
  // Grows a device or pinned buffer to at least `bytes` (contents not kept).
  static absl::Status GrowDevice(void** buffer, size_t* capacity, size_t bytes);
  static absl::Status GrowPinned(void** buffer, size_t* capacity, size_t bytes);

  void* device_in_ = nullptr;  // packed specs
  size_t device_in_bytes_ = 0;
  void* device_out_ = nullptr;  // ids and logprobs
  size_t device_out_bytes_ = 0;
  void* device_raw_ = nullptr;  // raw rows of the rows that report logprobs
  size_t device_raw_bytes_ = 0;
  PinnedUpload upload_;       // the packed specs' staging
  void* host_out_ = nullptr;  // pinned
  size_t host_out_bytes_ = 0;
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_CUDA_TOKEN_CHOOSER_H_
