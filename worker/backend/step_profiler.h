// StepProfiler: where a CudaModel forward spends its time on the GPU, by phase. The model records
// a CUDA event on its stream at every phase boundary; the time between two events goes to the
// phase the later one closes. Time the GPU spends idle waiting for the host inside a phase (the
// expert-parallel exchange's count synchronisation and collectives, the sampler's download) lands
// in that phase, so the phases add up to the forward's span on the GPU; what the host does before
// the first event (batch metadata) is outside the span.
//
// Off unless CudaModelOptions::profiler is set: then each forward costs one cudaEventRecord per
// boundary (about eight per layer) and End() waits for the last event (the forward synchronises
// at its end anyway). Not for CUDA-graph capture.
//
// Ownership and thread-safety: owns its events (grow-only pool, created lazily on the device that
// is current at the first Begin). Thread-compatible: one forward at a time, on one stream.
#ifndef R1_WORKER_BACKEND_STEP_PROFILER_H_
#define R1_WORKER_BACKEND_STEP_PROFILER_H_

#include <array>
#include <cstddef>
#include <vector>

#include "absl/status/status.h"

struct CUevent_st;
struct CUstream_st;

namespace r1 {

enum class StepPhase : int {
  kHost = 0,   // uploads of the batch's metadata, downloads of results
  kNorm,       // embedding, RMSNorms and residual adds
  kDenseGemm,  // attention projections (q_a, kv_a, q_b, o), dense FFNs, shared experts
  kAttention,  // RoPE, cache writes, absorption GEMMs, the MLA kernels
  kGating,     // router GEMM, top-k gating, quantisation of the experts' input
  kExchange,   // expert-parallel counts, dispatch and combine (with their host waits)
  kExperts,    // routed experts on their rows: permute, gather, grouped GEMMs, combine
  kLmHead,     // final row gather and the lm_head GEMM
  kSampling,   // token choice on the device and its download
  kCount,
};

const char* StepPhaseName(StepPhase phase);

// Seconds per phase, summed over the forwards since the last Reset.
struct StepPhaseTimes {
  std::array<double, static_cast<size_t>(StepPhase::kCount)> seconds{};
  double span_seconds = 0;  // first to last event, summed
  int forwards = 0;
  double operator[](StepPhase p) const { return seconds[static_cast<size_t>(p)]; }
};

class StepProfiler {
 public:
  StepProfiler() = default;
  StepProfiler(const StepProfiler&) = delete;
  StepProfiler& operator=(const StepProfiler&) = delete;
  ~StepProfiler();

  // While disabled (the default is enabled) Begin, Mark and End do nothing: a bench times the
  // same model with and without the events.
  void Enable(bool on) { enabled_ = on; }
  bool enabled() const { return enabled_; }

  // Opens a forward on `stream` (records its first event).
  absl::Status Begin(CUstream_st* stream);
  // Closes `phase`: records an event; the time since the previous one goes to `phase`.
  absl::Status Mark(StepPhase phase);
  // Waits for the last event and adds this forward's segments to totals(). A forward that
  // failed midway may skip End: the next Begin discards its marks.
  absl::Status End();

  const StepPhaseTimes& totals() const { return totals_; }
  void Reset() { totals_ = StepPhaseTimes(); }

 private:
  std::vector<CUevent_st*> events_;  // pool; [0, used_) recorded this forward
  std::vector<StepPhase> closes_;    // closes_[i]: the phase event i closes (i ≥ 1)
  size_t used_ = 0;
  CUstream_st* stream_ = nullptr;
  bool enabled_ = true;
  StepPhaseTimes totals_;
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_STEP_PROFILER_H_
