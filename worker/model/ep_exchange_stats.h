// EpExchangeStats: one rank's view of one expert-parallel MoE exchange (one MoE layer of one
// step), the same for both executors (worker/comm/ep_moe.h over host rows, CudaEpMoe over device
// rows). EpExchangeObserver receives it after every successful exchange; the worker's metrics
// (worker/service/worker_metrics.h) implement it, benches and tests read the executors'
// last_stats().
#ifndef R1_WORKER_MODEL_EP_EXCHANGE_STATS_H_
#define R1_WORKER_MODEL_EP_EXCHANGE_STATS_H_

#include <cstdint>
#include <vector>

namespace r1 {

struct EpExchangeStats {
  int layer = -1;
  // Token rows (a token's row goes once to each rank holding any of its experts), this rank
  // excluded from sent/received.
  int64_t rows_sent = 0;
  int64_t rows_received = 0;
  int64_t local_rows = 0;               // rows that stayed on this rank
  std::vector<int64_t> rows_to_rank;    // [group size] rows sent to each rank (self included)
  std::vector<int64_t> rows_from_rank;  // [group size] rows received from each rank
  // A fixed-capacity exchange (CudaEpMoeOptions::fixed_capacity_max_tokens): the records sent to
  // and received from each peer, used or empty. The row counts then stay on the device: the row
  // fields above are 0 and the per-rank vectors empty.
  int64_t capacity_rows = 0;
  // Routed (token, expert) assignments on this rank's experts in this exchange: the largest on
  // one expert and the mean over the experts this rank holds. Only when has_expert_load (the
  // CUDA executor does not bring the per-expert counts to the host).
  bool has_expert_load = false;
  int64_t expert_tokens_max = 0;
  double expert_tokens_mean = 0;
  // With has_expert_load: [routed experts] assignments per expert id (0 for experts held
  // elsewhere), for per-expert totals (r1ctl status --experts).
  std::vector<int32_t> expert_tokens;
  // Host wall time of the phases, seconds. The counts exchange is tiny: its time is mostly
  // waiting for the slowest peer to reach this layer.
  double counts_seconds = 0;
  double dispatch_seconds = 0;
  double experts_seconds = 0;
  double combine_seconds = 0;
};

// Called on the thread that runs the model, after each exchange that succeeded; must be cheap
// and must not call back into the executor.
class EpExchangeObserver {
 public:
  virtual ~EpExchangeObserver() = default;
  virtual void OnExchange(const EpExchangeStats& stats) = 0;
};

}  // namespace r1

#endif  // R1_WORKER_MODEL_EP_EXCHANGE_STATS_H_
