// CudaEpMoe: the DeviceExpertExecutor of a CUDA worker in an expert-parallel group of W ranks
// (DESIGN.md §3, §6): the device-side MoE exchange over a Communicator whose collectives take
// device buffers (NcclCommunicator; HostStagedCommunicator over Gloo). Per MoE layer, on every
// rank (also one with no tokens):
//   1. plan (kernels/moe_exchange MoeDispatchPlan): from the gating's top-k ids and the layer's
//      expert → rank map, one send row per (token, destination rank) — a token goes to each rank
//      at most once — grouped by destination;
//   2. counts: the per-destination row counts are copied to the host (the one synchronisation
//      of the exchange, see below) and exchanged (AllToAllV of 3 int64 per peer: the rows, the
//      layer and the exchange's sequence number, so that ranks whose steps drifted apart fail
//      with DataLoss instead of mixing layers);
//   3. dispatch: MoeDispatchPack writes one record per send row — the token's activation row
//      (FP8 e4m3 + its 1×128 scales, or BF16), and for each of its top-k slots the destination's
//      local expert index (−1 when the expert lives elsewhere) and routing weight — and one
//      AllToAllV moves the records;
//   4. local experts: MoeRecordUnpack splits the received records' scales, ids and weights, and
//      the model's LocalExpertsFn runs this rank's experts on them (rows gathered straight from
//      the records), writing one BF16 row per record: Σ weight · FFN(row);
//   5. combine: an AllToAllV sends those rows back; MoeCombineScatter adds, per token, the
//      shared expert's output and its rows from every destination (fp32, destinations in rank
//      order, one bf16 rounding).
// Activations stay on the device. The host learns the row counts (W int32 per layer, one bounded
// wait on the stream + a 4·(W+1)-byte copy) because NCCL's host API needs them to size its sends.
// With a stream-ordered communicator (Communicator::stream_ordered(): NCCL) that is the only host
// wait of a layer: dispatch and combine are enqueued on the model's stream
// (AllToAllVOnStream) between the kernels that produce and consume them, so the host runs ahead
// to the next layer's counts. The counts' own AllToAllV runs on the communicator's stream while
// the model's stream is drained, so the communicator never has NCCL work pending on two streams
// at once. Every host wait goes through WaitForStreamWithPeers (bounded by the collective
// timeout, ended early by a failed communicator). Without a stream order (host-staged Gloo) the
// stream is synchronised before each collective, which completes before it returns.
//
// Fixed capacity (CudaEpMoeOptions::fixed_capacity_max_tokens, stream-ordered communicators): at
// a step's first exchange the ranks agree, in one host all-reduce of three int64 (the largest
// token count and the step number, which also catches drifted ranks), on a capacity C — the
// group's largest token count rounded up to a power of two, at least 8. Every layer of that step
// then sends each peer exactly C records (MoeDispatchPlan/Pack with a capacity: destination p's
// rows at p·C, the unused records empty, ids −1), so steps 1–2 above need no host wait and no
// counts: a layer enqueues plan, pack, dispatch, experts, combine and scatter and returns. The
// price is bytes: C records per peer however many are used (a decode token goes to at most
// min(top_k, W) ranks; R1's group-limited routing, to at most 4 groups). A step in which some rank
// has more than fixed_capacity_max_tokens tokens (a prefill) uses the counted exchange.
// Drain() ends the step. With capacities reused, the buffers stop moving: a decode step then has
// no host synchronisation at all, the precondition for capturing it in a CUDA graph.
//
// Any error (a collective, a peer announcing more rows than allowed, a kernel) aborts the
// communicator so that peers fail at once, and is returned; the group must be rebuilt.
//
// Borrows the communicator (must outlive the executor). Thread-compatible: one Run at a time,
// with the model's CUDA device current.
#ifndef R1_WORKER_BACKEND_CUDA_EP_MOE_H_
#define R1_WORKER_BACKEND_CUDA_EP_MOE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/expert_placement.h"
#include "common/model_config.h"
#include "worker/backend/device_arena.h"
#include "worker/backend/device_expert_executor.h"
#include "worker/comm/communicator.h"
#include "worker/model/ep_exchange_stats.h"

namespace r1 {

struct CudaEpMoeOptions {
  absl::Duration timeout = absl::Seconds(60);  // per collective
  // Dispatch activations in BF16 instead of FP8 (INT4 experts always take BF16).
  bool dispatch_bf16 = false;
  // Bound on the rows a peer may announce for one layer (a corrupt count cannot make this rank
  // allocate without limit).
  int64_t max_rows_per_peer = int64_t{1} << 20;
  // Told about every successful exchange (no per-expert load: it stays on the device). Nullable;
  // borrowed, must outlive the executor.
  EpExchangeObserver* observer = nullptr;
  // The fixed-capacity exchange (see above) for steps in which no rank has more tokens than this;
  // 0: every step counted. Needs a stream-ordered communicator (Create fails otherwise); every
  // rank of a group must use the same value, and call Drain() at the end of every step.
  int64_t fixed_capacity_max_tokens = 0;
};

class CudaEpMoe final : public DeviceExpertExecutor {
 public:
  // `int4_experts`: the model's routed experts are INT4 (rows then travel in BF16).
  static absl::StatusOr<std::unique_ptr<CudaEpMoe>> Create(Communicator* comm,
                                                           const ModelConfig& config,
                                                           EpPlacement placement, bool int4_experts,
                                                           CudaEpMoeOptions options = {});
  ~CudaEpMoe() override;

  bool wants_fp8() const override { return fp8_; }
  absl::Status Run(int layer, const DeviceMoeTokens& tokens, const LocalExpertsFn& experts,
                   void* stream) override;
  absl::Status Drain(void* stream) override;
  // With the fixed-capacity exchange: agrees the step's capacity now (the step's one host
  // all-reduce) and grows the buffers for it; returns the capacity, or 0 for a counted step (or
  // without fixed capacity). Graph replays do not call Run, so last_stats() and the observer
  // see only the steps that ran eagerly or were captured.
  absl::StatusOr<int64_t> BeginGraphStep(int64_t tokens, void* stream) override;
  uint64_t buffers_generation() const override { return fixed_generation_; }

  // The last successful Run (this rank's view).
  const EpExchangeStats& last_stats() const { return stats_; }

 private:
  struct Buffers;
  CudaEpMoe(Communicator* comm, const ModelConfig& config, EpPlacement placement, bool fp8,
            CudaEpMoeOptions options);
  absl::Status Init();
  absl::Status Exchange(int layer, const DeviceMoeTokens& tokens, const LocalExpertsFn& experts,
                        void* stream);
  // At a step's first exchange: the group's capacity for the step (0: counted), into
  // step_capacity_.
  absl::Status AgreeStepCapacity(int64_t tokens, const std::string& where);
  // One layer with `capacity` records per peer each way; no host wait unless the buffers grow.
  absl::Status FixedExchange(int layer, const DeviceMoeTokens& tokens,
                             const LocalExpertsFn& experts, void* stream, int64_t capacity,
                             const std::string& where);
  // The fixed-capacity buffers for `capacity` records per peer of `top_k` slots; growing waits
  // (bounded) for the stream's queued work, which may read the old ones.
  absl::Status EnsureFixedBuffers(int64_t capacity, int top_k, void* stream,
                                  const std::string& where);

  Communicator* comm_;
  const int64_t hidden_;
  const int n_experts_;
  const int layers_;
  const EpPlacement placement_;
  const int top_k_;
  const bool fp8_;
  const CudaEpMoeOptions options_;
  DeviceArena maps_arena_;
  // Per layer: expert → rank and expert → local index on its rank, on the device ([layers][E]).
  int32_t* expert_rank_ = nullptr;
  int32_t* expert_local_ = nullptr;
  int32_t* host_offsets_ = nullptr;  // pinned [W + 1]
  std::unique_ptr<Buffers> buffers_;
  uint64_t exchanges_ = 0;      // counted exchanges started (the same on every rank of the group)
  int64_t steps_ = 0;           // steps begun with a capacity agreement (the same on every rank)
  int64_t step_capacity_ = -1;  // this step's agreed capacity (0: counted); −1: not yet agreed
  uint64_t fixed_generation_ = 0;  // reallocations of the fixed-capacity buffers
  EpExchangeStats stats_;
};

}  // namespace r1

#endif  // R1_WORKER_BACKEND_CUDA_EP_MOE_H_
