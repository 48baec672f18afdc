// What the two CUTLASS grouped-GEMM wrappers (moe_gemm_cutlass.cu: FP8 blockwise,
// moe_gemm_cutlass_int4.cu: int4 × bf16) do alike: device checks, their per-group array
// allocations, the epilogue D = accumulator, and preparing CUTLASS's kernel parameters once per
// group count before each run. Included only by those two translation units (it needs CUTLASS's
// headers, which they alone include).
#ifndef R1_KERNELS_INTERNAL_CUTLASS_GROUPED_CUH_
#define R1_KERNELS_INTERNAL_CUTLASS_GROUPED_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cutlass/cutlass.h"
#include "kernels/internal/cuda_status.h"

namespace r1::kernels::cutlass_grouped {

template <class T>
absl::Status AllocArray(T** p, int64_t count, const char* what) {
  R1_CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(p), sizeof(T) * count), what);
  return absl::OkStatus();
}

inline bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The current device into *device; FailedPrecondition unless it is sm_90 (the kernels are built
// for sm_90a only). `name` prefixes the messages.
inline absl::Status CurrentSm90Device(const char* name, int* device) {
  R1_CUDA_RETURN_IF_ERROR(cudaGetDevice(device), absl::StrCat(name, ": device").c_str());
  int major = 0, minor = 0;
  R1_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, *device),
      absl::StrCat(name, ": capability").c_str());
  R1_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, *device),
      absl::StrCat(name, ": capability").c_str());
  if (major != 9 || minor != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": built for sm_90a only, device is sm_", major, minor));
  }
  return absl::OkStatus();
}

// D = 1·accumulator, no C operand: the epilogue's scalars as plain values, no pointers.
template <class Arguments>
void SetAccumulatorOnlyEpilogue(Arguments& args) {
  auto& f = args.epilogue.thread;
  f.alpha = 1.0f;
  f.beta = 0.0f;
  f.alpha_ptr = nullptr;
  f.beta_ptr = nullptr;
  f.alpha_ptr_array = nullptr;
  f.beta_ptr_array = nullptr;
}

// Runs `gemm` on `stream`. CUTLASS's kernel parameters depend only on the group count (every
// pointer it is given is one of the wrapper's fixed device arrays; the groups' shapes and strides
// are read on the device), so they are prepared (make_args(groups), can_implement, initialize)
// only when `experts` differs from *prepared_experts.
template <class Gemm, class MakeArgs>
absl::Status PrepareAndRun(Gemm& gemm, int64_t experts, int64_t* prepared_experts, void* workspace,
                           cudaStream_t stream, const char* name, MakeArgs make_args) {
  if (*prepared_experts != experts) {
    *prepared_experts = -1;
    const typename Gemm::Arguments args = make_args(static_cast<int>(experts));
    if (gemm.can_implement(args) != cutlass::Status::kSuccess) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": CUTLASS cannot implement the call"));
    }
    const cutlass::Status st = gemm.initialize(args, workspace, stream);
    if (st != cutlass::Status::kSuccess) {
      return absl::InternalError(
          absl::StrCat(name, ": initialize: ", cutlass::cutlassGetStatusString(st)));
    }
    *prepared_experts = experts;
  }
  const cutlass::Status st = gemm.run(stream);
  if (st != cutlass::Status::kSuccess) {
    return absl::InternalError(absl::StrCat(name, ": run: ", cutlass::cutlassGetStatusString(st)));
  }
  R1_CUDA_RETURN_IF_ERROR(cudaGetLastError(), absl::StrCat(name, ": launch").c_str());
  return absl::OkStatus();
}

}  // namespace r1::kernels::cutlass_grouped

#endif  // R1_KERNELS_INTERNAL_CUTLASS_GROUPED_CUH_
