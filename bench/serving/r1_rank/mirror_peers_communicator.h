// MirrorPeersCommunicator: rank 0 of a group of W in which every simulated peer sends this rank
// exactly what this rank sends it. It lets one GPU do the expert work of one rank of a W-rank
// expert-parallel group (bench/serving/r1_rank): CudaEpMoe plans, packs and sends its tokens'
// rows to all W ranks; what "comes back" from peer p is the block this rank sent to p, whose
// expert ids are local to p — with contiguous placement every rank holds the same number of
// experts, so they name experts this rank holds. The rows this rank's experts run are then
// those of a W-rank group whose peers' tokens route like this rank's (R1's gating on the same
// batch), and the combine scatters as many rows back as it would. Nothing crosses a wire: the
// exchange costs one device copy per collective, and the transport's time is added apart
// (measured NCCL numbers, see bench/comm).
//
// MirrorMode::kHotRank instead makes this rank the group's hottest: every peer sends it this
// rank's block for rank 0 (hot_rank_copies.h), so the local experts run W times the rows the
// batch routes to them — with the router biased towards them (r1_rank_bench --hot_bias), the
// rank that holds a group's hot experts. In that mode the combine's values are not the model's.
//
// Collectives take host or device buffers (cudaMemcpyDefault). AllReduce: sum multiplies by W
// (every peer contributes the same), max/min leave the data. Stream-ordered like NCCL
// (AllToAllVOnStream: one cudaMemcpyAsync on the caller's stream), so CudaEpMoe takes the same
// path as in a real NCCL group. Thread-compatible.
#ifndef R1_BENCH_SERVING_R1_RANK_MIRROR_PEERS_COMMUNICATOR_H_
#define R1_BENCH_SERVING_R1_RANK_MIRROR_PEERS_COMMUNICATOR_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/comm/communicator.h"

namespace r1 {

enum class MirrorMode {
  kBalanced,  // peer p sends back this rank's block for p: the load of the group's average rank
  kHotRank,   // every peer sends this rank's block for rank 0: the load of the rank it favours
};

class MirrorPeersCommunicator final : public Communicator {
 public:
  explicit MirrorPeersCommunicator(int size, MirrorMode mode = MirrorMode::kBalanced)
      : size_(size), mode_(mode) {}
  int rank() const override { return 0; }
  int size() const override { return size_; }
  absl::Status health() const override;
  void Abort() override { aborted_.store(true); }
  bool stream_ordered() const override { return true; }
  // Bytes copied by the last AllToAllV (the data a real group would move over its links).
  int64_t last_alltoall_bytes() const { return last_alltoall_bytes_; }

 protected:
  absl::Status DoAllToAllV(const char* send, const std::vector<int64_t>& send_bytes, char* recv,
                           const std::vector<int64_t>& recv_bytes, absl::Duration timeout) override;
  absl::Status DoAllToAllVOnStream(const char* send, const std::vector<int64_t>& send_bytes,
                                   char* recv, const std::vector<int64_t>& recv_bytes, void* stream,
                                   absl::Duration timeout) override;
  absl::Status DoAllGather(const char* send, int64_t bytes, char* recv,
                           absl::Duration timeout) override;
  absl::Status DoAllReduce(void* data, int64_t n, DataType type, ReduceOp op,
                           absl::Duration timeout) override;
  absl::Status DoBarrier(absl::Duration) override { return health(); }

 private:
  // Balanced: checks that every peer sends back what it receives (health first); records and
  // returns the total.
  absl::StatusOr<int64_t> MirroredBytes(const std::vector<int64_t>& send_bytes,
                                        const std::vector<int64_t>& recv_bytes);

  int size_;
  MirrorMode mode_;
  std::atomic<bool> aborted_{false};
  int64_t last_alltoall_bytes_ = 0;
};

}  // namespace r1

#endif  // R1_BENCH_SERVING_R1_RANK_MIRROR_PEERS_COMMUNICATOR_H_
