// FlashInfer's Hopper MLA decode on our params (see mla_decode_flashinfer.h). The only
// translation unit that includes FlashInfer: it is compiled with the wheel's CCCL ahead of the
// toolkit's, --expt-relaxed-constexpr and C++17, for sm_90a only (cmake/R1FlashInfer.cmake).
//
// One instantiation: bf16 query/cache/output, int32 indices, head dims 512/64, MaskMode::kNone.
// Non-causal is exact here because each batch entry is one query token that sees all of its
// seq_lens[b] tokens; it also skips FlashInfer's causal tile bound, which its own Python layer
// rejects for some head counts. The planner and the run follow FlashInfer's
// csrc/batch_mla_sm90_plan.cu / batch_mla_sm90_run.cu and its Python staging of the plan
// (jit/attention/modules.py), minus torch.
#include <flashinfer/attention/mla_hopper.cuh>
#include <flashinfer/attention/mla_params.cuh>
#include <flashinfer/attention/scheduler.cuh>
#include <flashinfer/fastdiv.cuh>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/mla_decode/mla_decode_flashinfer.h"

namespace r1::kernels {
namespace {

using Bf16 = __nv_bfloat16;
using Params = flashinfer::MLAParams<Bf16, Bf16, Bf16, int32_t>;

// Fixed in scheduler.cuh's MLAPlan (flashinfer-python 0.7.4): nine per-work arrays of this many
// int32 entries (q/kv/partial indptr, q/kv len, q/kv start, kv end, work indptr) and five per-SM
// merge arrays, each 16-byte aligned.
constexpr int64_t kMaxWorkItems = 16384;
constexpr int64_t kPerWorkArrays = 9;
constexpr int64_t kPerSmArrays = 5;

constexpr int64_t Align16(int64_t n) { return (n + 15) / 16 * 16; }

// The int workspace MLAPlan lays out (its AlignedAllocator never pads: every size is a multiple
// of 16), plus 16 bytes of slack.
size_t IntWorkspaceBytes(int sm_count) {
  return static_cast<size_t>(kPerWorkArrays * Align16(4 * kMaxWorkItems) +
                             kPerSmArrays * Align16(4 * int64_t{sm_count}) + 16);
}

// The float workspace: MLAPlan places 2·clusters·cluster_tile_q rows of bf16 partial outputs
// (512 wide) and as many f32 log-sum-exps; clusters·cluster_tile_q = (sm/c)·64c ≤ 64·sm for
// either cluster size c ∈ {1, 2}.
size_t FloatWorkspaceBytes(int sm_count) {
  const int64_t rows = 2 * 64 * int64_t{sm_count};
  return static_cast<size_t>(Align16(rows * kMlaLatentDim * 2) + Align16(rows * 4) + 16);
}

// Work items MLAPlan will create for one query token per entry, non-causal (a mirror of its
// step 0/1 arithmetic, as FlashInfer's Python layer checks it): a plan beyond kMaxWorkItems
// would overflow its fixed arrays, which MLAPlan itself does not check.
int64_t WorkItems(const int32_t* lens, int64_t batch, int64_t heads, int sm_count) {
  const int64_t cluster = heads > 64 ? 2 : 1;  // avg packed q rows = heads
  const int64_t clusters = sm_count / cluster;
  const int64_t tiles_per_entry = (heads + 64 * cluster - 1) / (64 * cluster);
  int64_t total = 0;
  for (int64_t b = 0; b < batch; ++b) total += tiles_per_entry * lens[b];
  const int64_t avg = std::max<int64_t>((total + clusters - 1) / clusters, 1);
  const int64_t limit = avg <= 8    ? 32
                        : avg <= 16 ? 64
                        : avg <= 32 ? 128
                        : avg <= 64 ? 192
                                    : (avg + 255) / 256 * 256;
  int64_t works = 0;
  for (int64_t b = 0; b < batch; ++b) {
    works += tiles_per_entry * std::max<int64_t>(1, (lens[b] + limit - 1) / limit);
  }
  return works;
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The workspaces live on the device the object was created on; FlashInfer's planner and launcher
// use the current device, so a mismatch is refused rather than silently switched.
absl::Status CheckDevice(int want) {
  int dev = -1;
  R1_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev), "mla_decode_flashinfer: device");
  if (dev != want) {
    return absl::FailedPreconditionError(absl::StrCat("mla_decode_flashinfer: created on device ",
                                                      want, ", current device is ", dev));
  }
  return absl::OkStatus();
}

}  // namespace

struct FlashInferMlaDecode::State {
  int device = 0;
  int sm_count = 0;
  void* float_ws = nullptr;  // device
  void* int_ws = nullptr;    // device
  void* pinned = nullptr;    // host, page-locked, int_bytes
  size_t float_bytes = 0, int_bytes = 0;
  cudaEvent_t upload_done = nullptr;  // recorded after the last plan's upload
  bool upload_pending = false;
  // The last plan.
  bool planned = false;
  int64_t batch = 0, heads = 0, bt_stride = 0;
  flashinfer::MLAPlanInfo info{};
  // Host index arrays for MLAPlan, kept to avoid reallocating per step.
  std::vector<int32_t> qo_indptr, kv_indptr, kv_len;

  ~State() {
    if (upload_done) {
      cudaEventSynchronize(upload_done);
      cudaEventDestroy(upload_done);
    }
    if (pinned) cudaFreeHost(pinned);
    if (int_ws) cudaFree(int_ws);
    if (float_ws) cudaFree(float_ws);
  }
};

FlashInferMlaDecode::FlashInferMlaDecode(std::unique_ptr<State> s) : s_(std::move(s)) {}
FlashInferMlaDecode::~FlashInferMlaDecode() = default;

absl::StatusOr<std::unique_ptr<FlashInferMlaDecode>> FlashInferMlaDecode::Create() {
  auto s = std::make_unique<State>();
  R1_CUDA_RETURN_IF_ERROR(cudaGetDevice(&s->device), "mla_decode_flashinfer: device");
  int major = 0, minor = 0;
  R1_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, s->device),
      "mla_decode_flashinfer: capability");
  R1_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, s->device),
      "mla_decode_flashinfer: capability");
  if (major != 9 || minor != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("mla_decode_flashinfer: built for sm_90a only, device is sm_", major, minor));
  }
  R1_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&s->sm_count, cudaDevAttrMultiProcessorCount, s->device),
      "mla_decode_flashinfer: SM count");
  s->float_bytes = FloatWorkspaceBytes(s->sm_count);
  s->int_bytes = IntWorkspaceBytes(s->sm_count);
  R1_CUDA_RETURN_IF_ERROR(cudaMalloc(&s->float_ws, s->float_bytes),
                          "mla_decode_flashinfer: float workspace");
  R1_CUDA_RETURN_IF_ERROR(cudaMalloc(&s->int_ws, s->int_bytes),
                          "mla_decode_flashinfer: int workspace");
  R1_CUDA_RETURN_IF_ERROR(cudaMallocHost(&s->pinned, s->int_bytes),
                          "mla_decode_flashinfer: pinned staging");
  R1_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&s->upload_done, cudaEventDisableTiming),
                          "mla_decode_flashinfer: event");
  return std::unique_ptr<FlashInferMlaDecode>(new FlashInferMlaDecode(std::move(s)));
}

uint64_t FlashInferMlaDecode::layout_key() const {
  const State& s = *s_;
  if (!s.planned) return 0;
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the plan's layout fields
  auto mix = [&h](int64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= static_cast<uint64_t>(v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(s.batch);
  mix(s.heads);
  mix(s.bt_stride);
  for (int64_t v : s.info.ToVector()) mix(v);
  return h == 0 ? 1 : h;
}

size_t FlashInferMlaDecode::device_bytes() const { return s_->float_bytes + s_->int_bytes; }

absl::Status FlashInferMlaDecode::Plan(const int32_t* host_seq_lens, int64_t batch, int64_t heads,
                                       int64_t block_table_stride, cudaStream_t stream) {
  State& s = *s_;
  s.planned = false;
  if (batch < 0 || heads <= 0 || block_table_stride <= 0) {
    return absl::InvalidArgumentError("mla_decode_flashinfer: bad plan sizes");
  }
  if (batch > 0 && host_seq_lens == nullptr) {
    return absl::InvalidArgumentError("mla_decode_flashinfer: null lengths");
  }
  // FlashInfer indexes pages and rows with int32 / uint32 arithmetic: entry b's tokens are
  // numbered from b·block_table_stride·64, and query rows b·heads + h.
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  if (batch * block_table_stride * kMlaPageTokens > kI32Max || batch * heads > kI32Max) {
    return absl::InvalidArgumentError("mla_decode_flashinfer: batch too large for int32 indices");
  }
  for (int64_t b = 0; b < batch; ++b) {
    if (host_seq_lens[b] < 0 || host_seq_lens[b] > block_table_stride * kMlaPageTokens) {
      return absl::InvalidArgumentError("mla_decode_flashinfer: sequence length out of range");
    }
  }
  if (batch > 0 && WorkItems(host_seq_lens, batch, heads, s.sm_count) > kMaxWorkItems) {
    return absl::InvalidArgumentError("mla_decode_flashinfer: more than 16384 work items");
  }
  s.batch = batch;
  s.heads = heads;
  s.bt_stride = block_table_stride;
  if (batch == 0) {  // MLAPlan divides by the batch size; Run() launches nothing.
    s.planned = true;
    return absl::OkStatus();
  }
  if (auto st = CheckDevice(s.device); !st.ok()) return st;
  // The pinned buffer is the source of the previous upload until it has completed.
  if (s.upload_pending) {
    R1_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(s.upload_done),
                            "mla_decode_flashinfer: previous plan upload");
    s.upload_pending = false;
  }
  s.qo_indptr.resize(batch + 1);
  s.kv_indptr.resize(batch + 1);
  s.kv_len.assign(host_seq_lens, host_seq_lens + batch);
  for (int64_t b = 0; b <= batch; ++b) {
    s.qo_indptr[b] = static_cast<int32_t>(b);                       // one query token per entry
    s.kv_indptr[b] = static_cast<int32_t>(b * block_table_stride);  // row b of the block table
  }
  size_t staged = 0;
  try {
    const cudaError_t e = flashinfer::MLAPlan<int32_t>(
        s.float_ws, s.float_bytes, s.int_ws, s.pinned, s.int_bytes, s.info, staged,
        s.qo_indptr.data(), s.kv_indptr.data(), s.kv_len.data(), static_cast<uint32_t>(batch),
        static_cast<uint32_t>(heads), static_cast<uint32_t>(kMlaLatentDim), /*causal=*/false,
        stream);
    R1_CUDA_RETURN_IF_ERROR(e, "mla_decode_flashinfer: plan");
  } catch (const std::exception& e) {  // FlashInfer reports workspace overflow by throwing
    return absl::InternalError(absl::StrCat("mla_decode_flashinfer: plan: ", e.what()));
  }
  if (staged > s.int_bytes) return absl::InternalError("mla_decode_flashinfer: plan overflow");
  R1_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(s.int_ws, s.pinned, staged, cudaMemcpyHostToDevice, stream),
      "mla_decode_flashinfer: plan upload");
  R1_CUDA_RETURN_IF_ERROR(cudaEventRecord(s.upload_done, stream),
                          "mla_decode_flashinfer: plan upload event");
  s.upload_pending = true;
  s.planned = true;
  return absl::OkStatus();
}

absl::Status FlashInferMlaDecode::Run(const MlaDecodeParams& p, cudaStream_t stream) {
  const State& s = *s_;
  if (auto st = ValidateMlaDecode(p); !st.ok()) return st;
  if (!s.planned) return absl::FailedPreconditionError("mla_decode_flashinfer: Run before Plan");
  if (p.batch != s.batch || p.heads != s.heads || p.block_table_stride != s.bt_stride) {
    return absl::InvalidArgumentError(
        "mla_decode_flashinfer: batch, heads or block_table_stride differ from the plan");
  }
  if (p.batch == 0) return absl::OkStatus();
  if (auto st = CheckDevice(s.device); !st.ok()) return st;
  if (p.out != nullptr || p.out_bf16 == nullptr) {
    return absl::InvalidArgumentError("mla_decode_flashinfer: only bf16 output (out_bf16)");
  }
  if (p.kv_dtype != MlaKvDtype::kBf16) {
    return absl::InvalidArgumentError("mla_decode_flashinfer: only the bf16 cache (kv_cache)");
  }
  // cp.async moves 16 bytes (8 bf16) at a time from every row start.
  if (!Aligned16(p.q_latent) || !Aligned16(p.q_rope) || !Aligned16(p.kv_cache) ||
      !Aligned16(p.out_bf16) || p.q_head_stride % 8 != 0 || p.q_batch_stride % 8 != 0) {
    return absl::InvalidArgumentError(
        "mla_decode_flashinfer: pointers must be 16-byte aligned, strides % 8 == 0");
  }
  // Query offsets are computed in uint32 (entry · stride + head · stride).
  constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();
  if ((p.batch - 1) * p.q_batch_stride + (p.heads - 1) * p.q_head_stride + kMlaCacheDim > kU32Max) {
    return absl::InvalidArgumentError("mla_decode_flashinfer: query strides exceed uint32");
  }

  Params params{};
  Bf16* cache = reinterpret_cast<Bf16*>(const_cast<uint16_t*>(p.kv_cache));
  params.q_nope = reinterpret_cast<Bf16*>(const_cast<uint16_t*>(p.q_latent));
  params.q_pe = reinterpret_cast<Bf16*>(const_cast<uint16_t*>(p.q_rope));
  params.ckv = cache;                  // latent: columns [0, 512) of each 576-wide row
  params.kpe = cache + kMlaLatentDim;  // rope: columns [512, 576)
  params.kv_indices = const_cast<int32_t*>(p.block_table);
  params.final_o = reinterpret_cast<Bf16*>(p.out_bf16);
  params.final_lse = nullptr;

  void* iws = s.int_ws;
  const flashinfer::MLAPlanInfo& in = s.info;
  using flashinfer::GetPtrFromBaseOffset;
  params.q_indptr = GetPtrFromBaseOffset<int32_t>(iws, in.q_indptr_offset);
  params.kv_indptr = GetPtrFromBaseOffset<int32_t>(iws, in.kv_indptr_offset);
  params.partial_indptr = GetPtrFromBaseOffset<int32_t>(iws, in.partial_indptr_offset);
  params.q_len = GetPtrFromBaseOffset<int32_t>(iws, in.q_len_offset);
  params.kv_len = GetPtrFromBaseOffset<int32_t>(iws, in.kv_len_offset);
  params.q_start = GetPtrFromBaseOffset<int32_t>(iws, in.q_start_offset);
  params.kv_start = GetPtrFromBaseOffset<int32_t>(iws, in.kv_start_offset);
  params.kv_end = GetPtrFromBaseOffset<int32_t>(iws, in.kv_end_offset);
  params.work_indptr = GetPtrFromBaseOffset<int32_t>(iws, in.work_indptr_offset);
  params.merge_packed_offset_start =
      GetPtrFromBaseOffset<int32_t>(iws, in.merge_packed_offset_start_offset);
  params.merge_packed_offset_end =
      GetPtrFromBaseOffset<int32_t>(iws, in.merge_packed_offset_end_offset);
  params.merge_partial_packed_offset_start =
      GetPtrFromBaseOffset<int32_t>(iws, in.merge_partial_packed_offset_start_offset);
  params.merge_partial_packed_offset_end =
      GetPtrFromBaseOffset<int32_t>(iws, in.merge_partial_packed_offset_end_offset);
  params.merge_partial_stride = GetPtrFromBaseOffset<int32_t>(iws, in.merge_partial_stride_offset);
  params.partial_o = GetPtrFromBaseOffset<Bf16>(s.float_ws, in.partial_o_offset);
  params.partial_lse = GetPtrFromBaseOffset<float>(s.float_ws, in.partial_lse_offset);

  params.num_heads = flashinfer::uint_fastdiv(static_cast<uint32_t>(p.heads));
  params.block_size = flashinfer::uint_fastdiv(static_cast<uint32_t>(kMlaPageTokens));
  params.q_nope_stride_n = static_cast<uint32_t>(p.q_batch_stride);
  params.q_nope_stride_h = static_cast<uint32_t>(p.q_head_stride);
  params.q_pe_stride_n = static_cast<uint32_t>(p.q_batch_stride);
  params.q_pe_stride_h = static_cast<uint32_t>(p.q_head_stride);
  params.ckv_stride_page = static_cast<uint32_t>(kMlaPageTokens * kMlaCacheDim);
  params.ckv_stride_n = static_cast<uint32_t>(kMlaCacheDim);
  params.kpe_stride_page = static_cast<uint32_t>(kMlaPageTokens * kMlaCacheDim);
  params.kpe_stride_n = static_cast<uint32_t>(kMlaCacheDim);
  params.o_stride_n = static_cast<uint32_t>(p.heads * kMlaLatentDim);
  params.o_stride_h = static_cast<uint32_t>(kMlaLatentDim);
  params.sm_scale = p.softmax_scale;
  params.return_lse_base_on_e = false;

  const cudaError_t e =
      flashinfer::mla::BatchMLAPageAttentionHopper<flashinfer::MaskMode::kNone,
                                                   static_cast<uint32_t>(kMlaLatentDim),
                                                   static_cast<uint32_t>(kMlaRopeDim)>(
          params, static_cast<uint32_t>(in.num_blks_x), static_cast<uint32_t>(in.num_blks_y),
          stream);
  R1_CUDA_RETURN_IF_ERROR(e, "mla_decode_flashinfer: launch");
  return absl::OkStatus();
}

}  // namespace r1::kernels
