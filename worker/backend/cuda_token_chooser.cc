#include "worker/backend/cuda_token_chooser.h"

#include <algorithm>
#include <cstring>

#include "common/status_macros.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/logits_process/logits_process_cuda.h"
#include "kernels/logprobs/logprobs_cuda.h"
#include "kernels/sampling/sampling_cuda.h"

namespace r1 {
namespace {

using kernels::internal::CudaStatus;

// Offsets of arrays placed one after another, each 16-byte aligned, in one buffer.
class Layout {
 public:
  template <typename T>
  size_t Add(size_t count) {
    const size_t at = (bytes_ + 15) / 16 * 16;
    bytes_ = at + count * sizeof(T);
    return at;
  }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_ = 0;
};

template <typename T>
void Put(void* base, size_t at, const std::vector<T>& v) {
  if (!v.empty()) std::memcpy(static_cast<char*>(base) + at, v.data(), v.size() * sizeof(T));
}

template <typename T>
T* At(void* base, size_t at) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + at);
}

}  // namespace

CudaTokenChooser::~CudaTokenChooser() {
  for (void* p : {device_in_, device_out_, device_raw_}) {
    if (p != nullptr) cudaFree(p);
  }
  if (host_out_ != nullptr) cudaFreeHost(host_out_);
}

absl::Status CudaTokenChooser::GrowDevice(void** buffer, size_t* capacity, size_t bytes) {
  if (bytes <= *capacity) return absl::OkStatus();
  if (*buffer != nullptr) cudaFree(*buffer);
  *buffer = nullptr;
  *capacity = 0;
  bytes = std::max<size_t>(bytes + bytes / 4, 4096);  // headroom for growing batches
  RETURN_IF_ERROR(CudaStatus(cudaMalloc(buffer, bytes), "token choice buffer"));
  *capacity = bytes;
  return absl::OkStatus();
}

absl::Status CudaTokenChooser::GrowPinned(void** buffer, size_t* capacity, size_t bytes) {
  if (bytes <= *capacity) return absl::OkStatus();
  if (*buffer != nullptr) cudaFreeHost(*buffer);
  *buffer = nullptr;
  *capacity = 0;
  bytes = std::max<size_t>(bytes + bytes / 4, 4096);
  RETURN_IF_ERROR(CudaStatus(cudaMallocHost(buffer, bytes), "token choice pinned buffer"));
  *capacity = bytes;
  return absl::OkStatus();
}

absl::Status CudaTokenChooser::Choose(float* logits, int64_t ld, int64_t vocab, int64_t valid_vocab,
                                      const std::vector<const TokenChoiceSpec*>& specs,
                                      cudaStream_t stream, std::vector<TokenChoice>* out) {
  if (valid_vocab <= 0 || valid_vocab > vocab) valid_vocab = vocab;
  ASSIGN_OR_RETURN(const PackedTokenChoices p, PackTokenChoices(specs, vocab));
  const int64_t rows = p.rows;
  out->assign(rows, {});
  if (rows == 0) return absl::OkStatus();
  const int64_t lp_rows = static_cast<int64_t>(p.logprob_rows.size());

  // The packed specs: one staging buffer, one upload.
  Layout in;
  const size_t temperature = in.Add<float>(rows), top_p = in.Add<float>(rows),
               top_k = in.Add<int32_t>(rows), seed = in.Add<uint64_t>(rows),
               offset = in.Add<uint64_t>(rows), presence = in.Add<float>(p.presence_penalty.size()),
               frequency = in.Add<float>(p.frequency_penalty.size()),
               repetition = in.Add<float>(p.repetition_penalty.size()),
               history_offsets = in.Add<int32_t>(p.history_offsets.size()),
               history_ids = in.Add<int32_t>(p.history_ids.size()),
               history_counts = in.Add<int32_t>(p.history_output_counts.size()),
               bias_offsets = in.Add<int32_t>(p.bias_offsets.size()),
               bias_ids = in.Add<int32_t>(p.bias_ids.size()),
               bias_values = in.Add<float>(p.bias_values.size());
  ASSIGN_OR_RETURN(void* const staged, upload_.Stage(in.bytes()));
  RETURN_IF_ERROR(GrowDevice(&device_in_, &device_in_bytes_, in.bytes()));
  Put(staged, temperature, p.temperature);
  Put(staged, top_p, p.top_p);
  Put(staged, top_k, p.top_k);
  Put(staged, seed, p.seed);
  Put(staged, offset, p.offset);
  Put(staged, presence, p.presence_penalty);
  Put(staged, frequency, p.frequency_penalty);
  Put(staged, repetition, p.repetition_penalty);
  Put(staged, history_offsets, p.history_offsets);
  Put(staged, history_ids, p.history_ids);
  Put(staged, history_counts, p.history_output_counts);
  Put(staged, bias_offsets, p.bias_offsets);
  Put(staged, bias_ids, p.bias_ids);
  Put(staged, bias_values, p.bias_values);
  RETURN_IF_ERROR(upload_.Upload(device_in_, in.bytes(), stream));

  Layout res;
  const size_t ids = res.Add<int32_t>(rows), chosen_lp = res.Add<float>(lp_rows),
               top_ids = res.Add<int32_t>(lp_rows * p.top_n),
               top_lp = res.Add<float>(lp_rows * p.top_n);
  RETURN_IF_ERROR(GrowDevice(&device_out_, &device_out_bytes_, res.bytes()));
  RETURN_IF_ERROR(GrowPinned(&host_out_, &host_out_bytes_, res.bytes()));

  // 1. The raw rows that report logprobs, before processing changes them.
  if (lp_rows > 0) {
    RETURN_IF_ERROR(GrowDevice(&device_raw_, &device_raw_bytes_, lp_rows * ld * sizeof(float)));
    for (int64_t i = 0; i < lp_rows; ++i) {
      RETURN_IF_ERROR(
          CudaStatus(cudaMemcpyAsync(At<float>(device_raw_, i * ld * sizeof(float)),
                                     logits + p.logprob_rows[i] * ld, vocab * sizeof(float),
                                     cudaMemcpyDeviceToDevice, stream),
                     "logprob rows copy"));
    }
  }
  // 2. Processing.
  kernels::LogitsProcessParams lp;
  lp.logits = logits;
  lp.logits_stride = ld;
  lp.rows = rows;
  lp.vocab = vocab;
  lp.valid_vocab = valid_vocab;
  if (p.any_penalty) {
    lp.presence_penalty = At<float>(device_in_, presence);
    lp.frequency_penalty = At<float>(device_in_, frequency);
    lp.repetition_penalty = At<float>(device_in_, repetition);
    lp.history_offsets = At<int32_t>(device_in_, history_offsets);
    lp.history_ids = At<int32_t>(device_in_, history_ids);
    lp.history_output_counts = At<int32_t>(device_in_, history_counts);
  }
  if (p.any_bias) {
    lp.bias_offsets = At<int32_t>(device_in_, bias_offsets);
    lp.bias_ids = At<int32_t>(device_in_, bias_ids);
    lp.bias_values = At<float>(device_in_, bias_values);
  }
  RETURN_IF_ERROR(kernels::LaunchLogitsProcess(lp, stream));
  // 3. The draw.
  kernels::SamplingParams sp;
  sp.logits = logits;
  sp.logits_stride = ld;
  sp.rows = rows;
  sp.vocab = valid_vocab;
  sp.temperature = At<float>(device_in_, temperature);
  sp.top_k = At<int32_t>(device_in_, top_k);
  sp.top_p = At<float>(device_in_, top_p);
  sp.seed = At<uint64_t>(device_in_, seed);
  sp.offset = At<uint64_t>(device_in_, offset);
  sp.out = At<int32_t>(device_out_, ids);
  RETURN_IF_ERROR(kernels::LaunchSampling(sp, stream));
  // 4. Logprobs of each reporting row's chosen id, over its raw row.
  for (int64_t i = 0; i < lp_rows; ++i) {
    kernels::LogprobsParams q;
    q.logits = At<float>(device_raw_, i * ld * sizeof(float));
    q.logits_stride = ld;
    q.rows = 1;
    q.vocab = valid_vocab;
    q.chosen = At<int32_t>(device_out_, ids) + p.logprob_rows[i];
    q.top_n = p.top_n;
    q.out_chosen_logprob = At<float>(device_out_, chosen_lp) + i;
    q.out_top_ids = p.top_n > 0 ? At<int32_t>(device_out_, top_ids) + i * p.top_n : nullptr;
    q.out_top_logprobs = p.top_n > 0 ? At<float>(device_out_, top_lp) + i * p.top_n : nullptr;
    RETURN_IF_ERROR(kernels::LaunchLogprobs(q, stream));
  }
  RETURN_IF_ERROR(CudaStatus(
      cudaMemcpyAsync(host_out_, device_out_, res.bytes(), cudaMemcpyDeviceToHost, stream),
      "token choice download"));
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream), "token choice"));

  for (int64_t r = 0; r < rows; ++r) (*out)[r].id = At<int32_t>(host_out_, ids)[r];
  for (int64_t i = 0; i < lp_rows; ++i) {
    TokenChoice& c = (*out)[p.logprob_rows[i]];
    c.logprob = At<float>(host_out_, chosen_lp)[i];
    const int n = specs[p.logprob_rows[i]]->top_logprobs;
    for (int j = 0; j < n; ++j) {
      c.top.emplace_back(At<int32_t>(host_out_, top_ids)[i * p.top_n + j],
                         At<float>(host_out_, top_lp)[i * p.top_n + j]);
    }
  }
  return absl::OkStatus();
}

}  // namespace r1
