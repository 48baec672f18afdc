// FlashInfer's Hopper prefill on our params (see mla_prefill_flashinfer.h). The only translation
// unit that includes FlashInfer's prefill: it is compiled with the wheel's CCCL ahead of the
// toolkit's, --expt-relaxed-constexpr and C++17, for sm_90a only (cmake/R1FlashInfer.cmake).
//
// One instantiation, as FlashInfer's SinglePrefillWithKVCacheDispatched (prefill_sm90.cuh) builds
// it for head dims 192/128: AttentionKernelTraits with TMA loads, 128 query rows × 128 key
// positions per step, 2 stages, bf16 everywhere, StandardAttention, causal, no sliding window.
// The traits-level launcher is called directly so that its own cudaError_t comes back (the
// dispatcher above it returns cudaGetLastError(), which could also report an unrelated earlier
// error). Parameters follow FlashInfer's csrc/single_prefill_sm90.cu, minus torch.
#include <flashinfer/attention/hopper/default_params.cuh>
#include <flashinfer/attention/hopper/prefill_sm90.cuh>
#include <flashinfer/attention/hopper/variants.cuh>
#include <flashinfer/cutlass_utils.cuh>

#include <algorithm>
#include <cstdint>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/mla_prefill/mla_prefill_backend.h"
#include "kernels/mla_prefill/mla_prefill_flashinfer.h"

namespace r1::kernels {
namespace {

constexpr int kQk = static_cast<int>(kMlaPrefillFlashInferQkDim);  // 192
constexpr int kV = static_cast<int>(kMlaPrefillFlashInferVDim);    // 128

using Bf16 = cutlass::bfloat16_t;
using Params = flashinfer::SinglePrefillParams<Bf16, Bf16, Bf16, int32_t>;
constexpr auto kTile = flashinfer::getCTATileSize<kQk, kV, /*CAUSAL=*/true>();
using Traits =
    flashinfer::AttentionKernelTraits</*USE_TMA_LOAD_KV=*/true, kQk, kV,
                                      /*CTA_Q_=*/std::get<0>(kTile), /*CTA_KV_=*/std::get<1>(kTile),
                                      /*NUM_STAGES_=*/2, Bf16, Bf16, Bf16, int32_t,
                                      flashinfer::StandardAttention>;

// K[s][h] = k_nope(s, h) ‖ k_rope(s): one thread per 16-byte vector (8 elements) of the packed
// [seen][heads][192] tensor. nope_dim and every stride are multiples of 8 and the bases are
// 16-byte aligned (CheckMlaPrefillFlashInfer), so every vector lies inside one source row.
__global__ void PackKeys(const uint16_t* __restrict__ kv, int64_t kv_token_stride,
                         int64_t kv_head_stride, const uint16_t* __restrict__ k_rope,
                         int64_t k_rope_stride, int nope_vecs, int64_t heads, int64_t rows,
                         uint16_t* __restrict__ k) {
  constexpr int kVecs = kQk / 8;
  const int64_t total = rows * kVecs;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / kVecs;  // s·heads + h
    const int c = static_cast<int>(i - row * kVecs);
    const int64_t s = row / heads, h = row - s * heads;
    const uint16_t* src = c < nope_vecs ? kv + s * kv_token_stride + h * kv_head_stride + c * 8
                                        : k_rope + s * k_rope_stride + (c - nope_vecs) * 8;
    reinterpret_cast<uint4*>(k)[i] = __ldg(reinterpret_cast<const uint4*>(src));
  }
}

// The packed keys live on the device the object was created on; FlashInfer's launcher uses the
// current device, so a mismatch is refused rather than silently switched.
absl::Status CheckDevice(int want) {
  int dev = -1;
  R1_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev), "mla_prefill_flashinfer: device");
  if (dev != want) {
    return absl::FailedPreconditionError(absl::StrCat("mla_prefill_flashinfer: created on device ",
                                                      want, ", current device is ", dev));
  }
  return absl::OkStatus();
}

}  // namespace

struct FlashInferMlaPrefill::State {
  int device = 0;
  int sm_count = 0;
  int64_t rows = 0;      // packed-key capacity
  void* keys = nullptr;  // device, rows × 192 bf16
  ~State() {
    if (keys) cudaFree(keys);
  }
};

FlashInferMlaPrefill::FlashInferMlaPrefill(std::unique_ptr<State> s) : s_(std::move(s)) {}
FlashInferMlaPrefill::~FlashInferMlaPrefill() = default;

absl::StatusOr<std::unique_ptr<FlashInferMlaPrefill>> FlashInferMlaPrefill::Create(
    int64_t max_key_rows) {
  if (max_key_rows < 0) {
    return absl::InvalidArgumentError("mla_prefill_flashinfer: negative capacity");
  }
  auto s = std::make_unique<State>();
  R1_CUDA_RETURN_IF_ERROR(cudaGetDevice(&s->device), "mla_prefill_flashinfer: device");
  int major = 0, minor = 0;
  R1_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, s->device),
      "mla_prefill_flashinfer: capability");
  R1_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, s->device),
      "mla_prefill_flashinfer: capability");
  if (major != 9 || minor != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("mla_prefill_flashinfer: built for sm_90a only, device is sm_", major, minor));
  }
  R1_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&s->sm_count, cudaDevAttrMultiProcessorCount, s->device),
      "mla_prefill_flashinfer: SM count");
  s->rows = max_key_rows;
  if (max_key_rows > 0) {
    R1_CUDA_RETURN_IF_ERROR(
        cudaMalloc(&s->keys, static_cast<size_t>(max_key_rows) * kQk * sizeof(uint16_t)),
        "mla_prefill_flashinfer: packed-key buffer");
  }
  return std::unique_ptr<FlashInferMlaPrefill>(new FlashInferMlaPrefill(std::move(s)));
}

int64_t FlashInferMlaPrefill::key_capacity_rows() const { return s_->rows; }

size_t FlashInferMlaPrefill::device_bytes() const {
  return static_cast<size_t>(s_->rows) * kQk * sizeof(uint16_t);
}

absl::Status FlashInferMlaPrefill::Run(const MlaPrefillParams& p, cudaStream_t stream) {
  const State& s = *s_;
  if (auto st = CheckMlaPrefillFlashInfer(p); !st.ok()) return st;
  if (p.tokens == 0) return absl::OkStatus();
  const int64_t seen = p.q_start + p.tokens;  // the keys FlashInfer sees
  if (seen * p.heads > s.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("mla_prefill_flashinfer: (q_start + tokens)·heads = ", seen * p.heads,
                     " exceeds the packed-key capacity ", s.rows));
  }
  if (auto st = CheckDevice(s.device); !st.ok()) return st;

  uint16_t* keys = static_cast<uint16_t*>(s.keys);
  {
    const int64_t vecs = seen * p.heads * (kQk / 8);
    const int threads = 256;
    const int64_t blocks =
        std::min<int64_t>((vecs + threads - 1) / threads, int64_t{s.sm_count} * 16);
    PackKeys<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        p.kv, p.kv_token_stride, p.kv_head_stride, p.k_rope, p.k_rope_stride,
        static_cast<int>(p.nope_dim / 8), p.heads, seen * p.heads, keys);
    if (auto st = internal::LaunchStatus("mla_prefill_flashinfer: key packing"); !st.ok()) {
      return st;
    }
  }

  Params params{};
  params.q_ptr = reinterpret_cast<Bf16*>(const_cast<uint16_t*>(p.q));
  params.k_ptr = reinterpret_cast<Bf16*>(keys);
  params.v_ptr = reinterpret_cast<Bf16*>(const_cast<uint16_t*>(p.kv + p.nope_dim));
  params.o_ptr = reinterpret_cast<Bf16*>(p.out);
  params.lse_ptr = nullptr;
  params.additional_params.logits_soft_cap = 0.0f;
  params.additional_params.sm_scale = p.softmax_scale;
  params.additional_params.scale_q = nullptr;
  params.additional_params.scale_k = nullptr;
  params.additional_params.scale_v = nullptr;
  params.q_stride_n = p.q_token_stride;
  params.q_stride_h = p.q_head_stride;
  params.k_stride_n = p.heads * kQk;
  params.k_stride_h = kQk;
  params.v_stride_n = p.kv_token_stride;
  params.v_stride_h = p.kv_head_stride;
  params.o_stride_n = p.out_token_stride;
  params.o_stride_h = p.out_head_stride;
  params.qo_len = static_cast<int>(p.tokens);
  // FlashInfer's causal mask is aligned bottom-right: row t sees keys ≤ t + kv_len − qo_len,
  // which is q_start + t with the chunk's visible positions as kv_len.
  params.kv_len = static_cast<int>(seen);
  params.num_qo_heads = static_cast<int>(p.heads);
  params.num_kv_heads = static_cast<int>(p.heads);
  params.group_size = 1;
  params.window_left = -1;
  params.causal = true;

  // A TMA descriptor that cannot be encoded is only reported on stderr by CUTLASS (then the
  // kernel faults): CheckMlaPrefillFlashInfer above rules out every such layout.
  const cudaError_t e = flashinfer::SinglePrefillWithKVCacheKernelTraitsDispatched<
      Traits, /*LEFT_SLIDING_WINDOW=*/false, /*CAUSAL=*/true>(params, stream);
  R1_CUDA_RETURN_IF_ERROR(e, "mla_prefill_flashinfer: launch");
  return absl::OkStatus();
}

}  // namespace r1::kernels
