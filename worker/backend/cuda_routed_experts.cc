#include "worker/backend/cuda_routed_experts.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/fp8_quant/fp8_quant_cuda.h"
#include "kernels/internal/cuda_status.h"
#include "kernels/moe_gemm/moe_gemm_cuda.h"
#ifdef R1_HAVE_CUTLASS
#include "kernels/moe_gemm/moe_gemm_cutlass.h"
#endif
#include "kernels/moe_permute/moe_permute_cuda.h"
#include "kernels/silu_mul/silu_mul_cuda.h"

namespace r1 {

using kernels::internal::CudaStatus;

namespace {
// Experts one rank may hold per layer that CUTLASS's per-group arrays are sized for (R1: 256).
constexpr int64_t kMaxHeldExperts = 256;
}  // namespace

// Device buffers for `entries` = rows·top_k permuted rows (and `rows` quantised input rows).
struct CudaRoutedExperts::Scratch {
  int64_t rows = 0, entries = 0;
  DeviceArena arena;
  int32_t *offsets, *perm_src, *inv_perm;
  uint8_t* xq;         // bf16 input rows quantised for FP8 experts [rows][hidden]
  float* xs;           // their scales [hidden/128][rows]
  uint8_t* xp;         // permuted e4m3 rows [entries][hidden]
  float* xps;          // their scales [hidden/128][entries]
  uint16_t* gu;        // [entries][2·inter_pad] bf16
  uint8_t* hq;         // SiLU(gate)·up in e4m3 [entries][inter_pad]
  float* hs;           // [inter_pad/128][entries]
  uint16_t* y;         // expert outputs [entries][hidden] bf16
  uint16_t *xpb, *hb;  // INT4 experts: bf16 permuted rows, SiLU(gate)·up in bf16
#ifdef R1_HAVE_CUTLASS
  // CUTLASS's FP8 grouped GEMM sized for these buffers; null when it cannot be created here.
  std::unique_ptr<kernels::CutlassMoeGemmFp8> cutlass;
#endif
};

absl::Status CudaRoutedExperts::Ensure(int64_t rows, int top_k) {
  const int64_t entries = rows * top_k;
  if (scratch_ != nullptr && rows <= scratch_->rows && entries <= scratch_->entries) {
    return absl::OkStatus();
  }
  if (scratch_ != nullptr) {
    // Queued kernels may still use the old buffers: retire them (ReleaseRetired frees them).
    rows = std::max(rows, scratch_->rows);
    retired_.push_back(std::move(scratch_));
  }
  const int64_t e = std::max(entries, rows * top_k), d = hidden_,
                ip = std::max<int64_t>(inter_pad_, 128);
  auto s = std::make_shared<Scratch>();
  s->rows = rows;
  s->entries = e;
  DeviceArena& a = s->arena;
  ASSIGN_OR_RETURN(s->offsets, a.AllocArray<int32_t>(1025));
  ASSIGN_OR_RETURN(s->perm_src, a.AllocArray<int32_t>(std::max<int64_t>(e, 1)));
  ASSIGN_OR_RETURN(s->inv_perm, a.AllocArray<int32_t>(std::max<int64_t>(e, 1)));
  ASSIGN_OR_RETURN(s->xq, a.AllocArray<uint8_t>(std::max<int64_t>(rows, 1) * d));
  ASSIGN_OR_RETURN(s->xs, a.AllocArray<float>((std::max<int64_t>(rows, 1) + 1) * (d / 128)));
  ASSIGN_OR_RETURN(s->y, a.AllocArray<uint16_t>(std::max<int64_t>(e, 1) * d));
  ASSIGN_OR_RETURN(s->gu, a.AllocArray<uint16_t>(std::max<int64_t>(e, 1) * 2 * ip));
  if (int4_) {
    ASSIGN_OR_RETURN(s->xpb, a.AllocArray<uint16_t>(std::max<int64_t>(e, 1) * d));
    ASSIGN_OR_RETURN(s->hb, a.AllocArray<uint16_t>(std::max<int64_t>(e, 1) * ip));
  } else {
    ASSIGN_OR_RETURN(s->xp, a.AllocArray<uint8_t>(std::max<int64_t>(e, 1) * d));
    ASSIGN_OR_RETURN(s->xps, a.AllocArray<float>((std::max<int64_t>(e, 1) + 1) * (d / 128)));
    ASSIGN_OR_RETURN(s->hq, a.AllocArray<uint8_t>(std::max<int64_t>(e, 1) * ip));
    ASSIGN_OR_RETURN(s->hs, a.AllocArray<float>((std::max<int64_t>(e, 1) + 1) * (ip / 128)));
#ifdef R1_HAVE_CUTLASS
    if (library_gemms_) {
      kernels::CutlassMoeGemmCapacity cap;
      cap.max_experts = kMaxHeldExperts;
      cap.max_tokens = std::max<int64_t>(e, 1);
      cap.max_n = std::max(2 * ip, d);
      cap.max_k = std::max((d + 127) / 128 * 128, ip);
      auto cutlass = kernels::CutlassMoeGemmFp8::Create(cap);
      // Not fatal: a device CUTLASS cannot run on keeps ours.
      if (cutlass.ok()) s->cutlass = *std::move(cutlass);
    }
#endif
  }
  scratch_ = std::move(s);
  ++generation_;
  return absl::OkStatus();
}

absl::Status CudaRoutedExperts::RunFp8Gemm(const kernels::MoeGemmFp8Params& p,
                                           int64_t rows_per_expert, void* stream_ptr,
                                           kernels::MoeGemmFp8Backend* ran) {
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  bool cutlass_available = false;
#ifdef R1_HAVE_CUTLASS
  cutlass_available = scratch_->cutlass != nullptr && p.experts <= kMaxHeldExperts;
#endif
  *ran = kernels::ChooseMoeGemmFp8Backend(rows_per_expert, p.n, p.k, cutlass_available);
#ifdef R1_HAVE_CUTLASS
  if (*ran == kernels::MoeGemmFp8Backend::kCutlassDecode ||
      *ran == kernels::MoeGemmFp8Backend::kCutlassPrefill) {
    return scratch_->cutlass->Run(p,
                                  *ran == kernels::MoeGemmFp8Backend::kCutlassDecode
                                      ? kernels::CutlassMoeGemmTile::kDecode
                                      : kernels::CutlassMoeGemmTile::kPrefill,
                                  stream);
  }
#endif
  *ran = kernels::MoeGemmFp8Backend::kOurs;
  return kernels::LaunchMoeGemmFp8(p, stream);
}

absl::Status CudaRoutedExperts::Run(const DeviceLayer& layer, const DeviceExpertRows& r,
                                    void* stream_ptr) {
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  const int64_t d = hidden_;
  if (r.rows < 0 || r.top_k <= 0 ||
      (r.rows > 0 &&
       (r.x == nullptr || r.ids == nullptr || r.weights == nullptr || r.out == nullptr))) {
    return absl::InvalidArgumentError("routed experts: bad rows");
  }
  if (r.rows == 0) return absl::OkStatus();
  const int held = static_cast<int>(layer.held_experts.size());
  const DeviceFfn& f = layer.experts;
  if (held == 0) {  // nothing can be routed here: out = add or 0
    if (r.add != nullptr) {
      return CudaStatus(
          cudaMemcpyAsync(r.out, r.add, r.rows * d * 2, cudaMemcpyDeviceToDevice, stream),
          "routed experts: copy add");
    }
    return CudaStatus(cudaMemsetAsync(r.out, 0, r.rows * d * 2, stream), "routed experts: zero");
  }
  if (f.int4 && r.fp8) {
    return absl::FailedPreconditionError("routed experts: INT4 experts take bf16 rows, got FP8");
  }
  RETURN_IF_ERROR(Ensure(r.rows, r.top_k));
  Scratch& s = *scratch_;
  const int64_t entries = r.rows * r.top_k;

  kernels::MoePermuteParams pm;
  pm.topk_ids = r.ids;
  pm.tokens = r.rows;
  pm.top_k = r.top_k;
  pm.experts = held;
  pm.expert_offsets = s.offsets;
  pm.perm_src = s.perm_src;
  pm.inv_perm = s.inv_perm;
  RETURN_IF_ERROR(kernels::LaunchMoePermute(pm, stream));
  // Rows past offsets[held] (slots on other ranks) hold no entry: gathers stop there.
  const int32_t* valid = s.offsets + held;

  if (f.int4) {
    last_fp8_backend_ = kernels::MoeGemmFp8Backend::kNone;
    kernels::MoeGatherRowsParams gr;
    gr.src = r.x;
    gr.src_stride = r.x_stride;
    gr.dst = reinterpret_cast<uint8_t*>(s.xpb);
    gr.dst_stride = d * 2;
    gr.row_bytes = d * 2;
    gr.perm_src = s.perm_src;
    gr.top_k = r.top_k;
    gr.rows = entries;
    gr.valid_rows = valid;
    RETURN_IF_ERROR(kernels::LaunchMoeGatherRows(gr, stream));
    kernels::MoeGemmInt4Params up;
    up.x = s.xpb;
    up.w = f.gate_up4.w;
    up.w_scale = f.gate_up4.scale;
    up.expert_offsets = s.offsets;
    up.out = s.gu;
    up.tokens = entries;
    up.experts = held;
    up.n = f.gate_up4.n;
    up.k = f.gate_up4.k_pad;
    RETURN_IF_ERROR(kernels::LaunchMoeGemmInt4(up, stream));
    kernels::SiluMulParams sm;
    sm.x = s.gu;
    sm.x_stride = 2 * f.inter_pad;
    sm.out = s.hb;
    sm.out_stride = f.inter_pad;
    sm.rows = entries;
    sm.n = f.inter_pad;
    RETURN_IF_ERROR(kernels::LaunchSiluMul(sm, stream));
    kernels::MoeGemmInt4Params down = up;
    down.x = s.hb;
    down.w = f.down4.w;
    down.w_scale = f.down4.scale;
    down.out = s.y;
    down.n = f.down4.n;
    down.k = f.down4.k_pad;
    RETURN_IF_ERROR(kernels::LaunchMoeGemmInt4(down, stream));
  } else {
    const uint8_t* x = r.x;
    int64_t x_stride = r.x_stride;
    const float* x_scale = r.x_scale;
    int64_t x_scale_ld = r.x_scale_ld;
    if (!r.fp8) {  // bf16 rows into FP8 experts: quantise per token, groups of 128
      kernels::Fp8QuantParams q;
      q.x = reinterpret_cast<const uint16_t*>(r.x);
      q.x_stride = r.x_stride / 2;
      q.out = s.xq;
      q.scale = s.xs;
      q.rows = r.rows;
      q.cols = d;
      kernels::SetGroupMajorScales(q, r.rows);
      RETURN_IF_ERROR(kernels::LaunchFp8Quant(q, stream));
      x = s.xq;
      x_stride = d;
      x_scale = s.xs;
      x_scale_ld = r.rows;
    }
    kernels::MoeGatherRowsParams gr;
    gr.src = x;
    gr.src_stride = x_stride;
    gr.dst = s.xp;
    gr.dst_stride = d;
    gr.row_bytes = d;
    gr.perm_src = s.perm_src;
    gr.top_k = r.top_k;
    gr.rows = entries;
    gr.valid_rows = valid;
    RETURN_IF_ERROR(kernels::LaunchMoeGatherRows(gr, stream));
    kernels::MoeGatherScalesParams gs;
    gs.src = x_scale;
    gs.src_ld = x_scale_ld;
    gs.dst = s.xps;
    gs.dst_ld = entries;
    gs.groups = d / 128;
    gs.perm_src = s.perm_src;
    gs.top_k = r.top_k;
    gs.rows = entries;
    gs.valid_rows = valid;
    RETURN_IF_ERROR(kernels::LaunchMoeGatherScales(gs, stream));
    kernels::MoeGemmFp8Params up;
    up.x = s.xp;
    up.x_scale = s.xps;
    up.x_scale_ld = entries;
    up.w = f.gate_up.w;
    up.w_scale = f.gate_up.scale;
    up.w_scale_ld = f.gate_up.scale_ld;
    up.expert_offsets = s.offsets;
    up.out = s.gu;
    up.tokens = entries;
    up.experts = held;
    up.n = f.gate_up.n;
    up.k = f.gate_up.k_pad;
    // Mean rows per held expert: what the measured choice is indexed by.
    const int64_t per_expert = (entries + held - 1) / held;
    RETURN_IF_ERROR(RunFp8Gemm(up, per_expert, stream, &last_fp8_backend_));
    kernels::Fp8QuantParams q;
    q.x = s.gu;
    q.x_stride = 2 * f.inter_pad;
    q.out = s.hq;
    q.scale = s.hs;
    q.rows = entries;
    q.cols = f.inter_pad;
    q.silu_mul = true;
    kernels::SetGroupMajorScales(q, entries);
    RETURN_IF_ERROR(kernels::LaunchFp8Quant(q, stream));
    kernels::MoeGemmFp8Params down = up;
    down.x = s.hq;
    down.x_scale = s.hs;
    down.w = f.down.w;
    down.w_scale = f.down.scale;
    down.w_scale_ld = f.down.scale_ld;
    down.out = s.y;
    down.n = f.down.n;
    down.k = f.down.k_pad;
    kernels::MoeGemmFp8Backend down_ran;
    RETURN_IF_ERROR(RunFp8Gemm(down, per_expert, stream, &down_ran));
  }

  kernels::MoeCombineParams cb;
  cb.y = s.y;
  cb.inv_perm = s.inv_perm;
  cb.weights = r.weights;
  cb.add = r.add;
  cb.out = r.out;
  cb.tokens = r.rows;
  cb.top_k = r.top_k;
  cb.dim = d;
  return kernels::LaunchMoeCombine(cb, stream);
}

}  // namespace r1
