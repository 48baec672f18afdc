// Expert-parallel MoE over a Communicator (DESIGN.md §3, §6): the ExpertExecutor that CpuModel
// calls for every MoE layer once a worker belongs to a group of W > 1 ranks.
//
// Every rank holds the attention, router and shared expert and runs gating for its own tokens;
// routed expert e of layer l lives on rank placement.ForLayer(l)[e]. Per MoE layer every rank,
// also one without tokens (n = 0), takes part in three collectives in the same order:
//   1. counts:   AllToAllV of (rows, entries, layer, sequence number) per peer — a peer at
//                another layer or exchange (steps drifted apart) is DataLoss;
//   2. dispatch: AllToAllV of one block per peer: `entries` records (row, expert, weight) then
//                `rows` hidden rows, a token's row sent once per peer however many of its experts
//                live there;
//   3. combine:  each rank runs its experts on the rows it received (one FFN call per expert),
//                sums Σ weight · FFN(row) per received row and sends the sums back (AllToAllV),
//                where they are added to out[token].
// The result equals CpuModel's local loop up to float summation order.
//
// Any error (a collective failing or timing out, a bad choice, an expert this rank does not hold,
// a malformed block from a peer) aborts the communicator so that peers fail fast instead of
// waiting for their timeouts, and is returned; the group must be rebuilt afterwards.
//
// Borrows the communicator (must outlive the executor). Thread-compatible: one Run at a time
// (CpuModel runs one Forward at a time).
#ifndef R1_WORKER_COMM_EP_MOE_H_
#define R1_WORKER_COMM_EP_MOE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/expert_placement.h"
#include "common/model_config.h"
#include "worker/comm/communicator.h"
#include "worker/model/ep_exchange_stats.h"
#include "worker/model/expert_executor.h"

namespace r1 {

struct EpMoeOptions {
  // Per collective.
  absl::Duration timeout = absl::Seconds(60);
  // Told about every successful exchange. Nullable; borrowed, must outlive the executor.
  EpExchangeObserver* observer = nullptr;
};

class EpMoe final : public ExpertExecutor {
 public:
  static absl::StatusOr<std::unique_ptr<EpMoe>> Create(Communicator* comm,
                                                       const ModelConfig& config,
                                                       EpPlacement placement,
                                                       EpMoeOptions options = {});

  absl::Status Run(int layer, const float* h, int64_t n, const std::vector<ExpertChoice>& choices,
                   const ExpertFfn& ffn, float* out) override;

  // The last successful Run (this rank's view).
  const EpExchangeStats& last_stats() const { return stats_; }

 private:
  EpMoe(Communicator* comm, int64_t hidden, int n_experts, EpPlacement placement,
        EpMoeOptions options);
  absl::Status Exchange(int layer, const float* h, int64_t n,
                        const std::vector<ExpertChoice>& choices, const ExpertFfn& ffn, float* out);

  Communicator* comm_;
  const int64_t d_;
  const int n_experts_;
  const EpPlacement placement_;
  const EpMoeOptions options_;
  uint64_t exchanges_ = 0;  // exchanges started (every rank of the group counts the same)
  EpExchangeStats stats_;
};

}  // namespace r1

#endif  // R1_WORKER_COMM_EP_MOE_H_
