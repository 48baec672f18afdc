#include "worker/backend/step_profiler.h"

#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"

namespace r1 {

const char* StepPhaseName(StepPhase phase) {
  switch (phase) {
    case StepPhase::kHost:
      return "host";
    case StepPhase::kNorm:
      return "norm";
    case StepPhase::kDenseGemm:
      return "dense_gemm";
    case StepPhase::kAttention:
      return "attention";
    case StepPhase::kGating:
      return "gating";
    case StepPhase::kExchange:
      return "exchange";
    case StepPhase::kExperts:
      return "experts";
    case StepPhase::kLmHead:
      return "lm_head";
    case StepPhase::kSampling:
      return "sampling";
    case StepPhase::kCount:
      break;
  }
  return "?";
}

StepProfiler::~StepProfiler() {
  for (CUevent_st* e : events_) cudaEventDestroy(e);
}

absl::Status StepProfiler::Begin(CUstream_st* stream) {
  if (!enabled_) return absl::OkStatus();
  stream_ = stream;
  used_ = 0;
  closes_.clear();
  return Mark(StepPhase::kHost);  // event 0 opens the forward; its "phase" is never read
}

absl::Status StepProfiler::Mark(StepPhase phase) {
  if (!enabled_) return absl::OkStatus();
  if (stream_ == nullptr) return absl::FailedPreconditionError("StepProfiler: Mark before Begin");
  if (used_ == events_.size()) {
    cudaEvent_t e = nullptr;
    if (cudaError_t err = cudaEventCreate(&e); err != cudaSuccess) {
      return absl::InternalError(
          absl::StrCat("StepProfiler: cudaEventCreate: ", cudaGetErrorString(err)));
    }
    events_.push_back(e);
  }
  if (cudaError_t err = cudaEventRecord(events_[used_], stream_); err != cudaSuccess) {
    return absl::InternalError(
        absl::StrCat("StepProfiler: cudaEventRecord: ", cudaGetErrorString(err)));
  }
  closes_.push_back(phase);
  ++used_;
  return absl::OkStatus();
}

absl::Status StepProfiler::End() {
  if (!enabled_) return absl::OkStatus();
  if (used_ < 2) return absl::FailedPreconditionError("StepProfiler: End without marks");
  if (cudaError_t err = cudaEventSynchronize(events_[used_ - 1]); err != cudaSuccess) {
    return absl::InternalError(
        absl::StrCat("StepProfiler: cudaEventSynchronize: ", cudaGetErrorString(err)));
  }
  for (size_t i = 1; i < used_; ++i) {
    float ms = 0;
    if (cudaError_t err = cudaEventElapsedTime(&ms, events_[i - 1], events_[i]);
        err != cudaSuccess) {
      return absl::InternalError(
          absl::StrCat("StepProfiler: cudaEventElapsedTime: ", cudaGetErrorString(err)));
    }
    totals_.seconds[static_cast<size_t>(closes_[i])] += ms * 1e-3;
    totals_.span_seconds += ms * 1e-3;
  }
  ++totals_.forwards;
  used_ = 0;
  closes_.clear();
  stream_ = nullptr;
  return absl::OkStatus();
}

}  // namespace r1
